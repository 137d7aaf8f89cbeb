//! [`Players`]: who is signed in where, shared by every loop of the instance. Taken at a login
//! and a logout only (never per packet): one live session per player, the operator's rule for
//! a second login ([`SecondLogin`]), and at most so many logins per player per minute.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use game_protocol::resume::Ticket;
use servercore::SessionId;

/// What a second login of a signed-in player does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SecondLogin {
    /// The new session takes over; the old one is told (SESSION_REPLACED) and closed.
    #[default]
    Replace,
    /// The new session is refused (UNAUTHENTICATED); the old one plays on.
    Refuse,
}

/// Why a login is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The player is signed in on another session ([`SecondLogin::Refuse`]).
    SignedIn,
    /// The player logged in more often than the per-minute limit.
    TooManyLogins,
}

impl Refusal {
    /// The counters' name ([`RESULTS`](crate::login::RESULTS)).
    pub fn name(self) -> &'static str {
        match self {
            Refusal::SignedIn => "signed_in",
            Refusal::TooManyLogins => "too_many_logins",
        }
    }

    /// What the client is told.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::SignedIn => "player already signed in",
            Refusal::TooManyLogins => "too many logins for this player; wait a minute",
        }
    }
}

/// The window of the per-player login limit.
const WINDOW: Duration = Duration::from_secs(60);

/// One player's state: its session, if signed in, and its logins of the current window.
#[derive(Debug)]
struct Player {
    session: Option<SessionId>,
    window_start: Instant,
    logins: u32,
    /// The tickets of its seat (held on `session`'s loop), if it has one.
    ticket: Option<Tickets>,
    /// Why its last seat was lost (what a late RESUME is told).
    lost: Option<&'static str>,
}

/// A seat's good tickets: the one the client is known to have (SEAT's, or the one of the
/// connection it last used), and those given since in RESUMEDs it may not have received (a
/// connection that drops before RESUMED reaches the client leaves the client with an older
/// ticket; a RESUME from a connection the client already gave up may still arrive and be
/// answered on it). All stay good until the client uses a connection: then only that one's.
#[derive(Debug, Clone)]
struct Tickets {
    good: Vec<Ticket>,
}

/// Most tickets good at once (the oldest given is dropped past it).
const MAX_GOOD_TICKETS: usize = 16;

/// Why a RESUME is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeRefusal {
    /// The player has no seat (never asked, or lost it: why, if known).
    NoSeat(Option<&'static str>),
    /// The ticket is none of the seat's good ones (an old, a stolen or a forged one).
    BadTicket,
}

impl ResumeRefusal {
    /// The counters' name ([`RESUME_RESULTS`](crate::login::RESUME_RESULTS)).
    pub fn name(self) -> &'static str {
        match self {
            ResumeRefusal::NoSeat(_) => "no_seat",
            ResumeRefusal::BadTicket => "bad_ticket",
        }
    }

    /// What the client is told.
    pub fn reason(self) -> String {
        match self {
            ResumeRefusal::NoSeat(Some(why)) => format!("no seat to resume: {why}"),
            ResumeRefusal::NoSeat(None) => "no seat to resume".into(),
            ResumeRefusal::BadTicket => {
                "not one of the seat's tickets (an older one is void once a newer one is used)"
                    .into()
            }
        }
    }
}

/// The signed-in players of this instance.
#[derive(Debug)]
pub struct Players {
    second: SecondLogin,
    logins_per_minute: u32,
    table: Mutex<Table>,
    /// Players signed in, kept beside the table so a metrics scrape takes no lock.
    online: AtomicUsize,
}

#[derive(Debug)]
struct Table {
    players: HashMap<String, Player>,
    /// When the players signed out and out of their window are forgotten next.
    next_sweep: Instant,
}

impl Players {
    /// An empty table with these rules.
    pub fn new(second: SecondLogin, logins_per_minute: u32, now: Instant) -> Players {
        Players {
            second,
            logins_per_minute,
            table: Mutex::new(Table {
                players: HashMap::new(),
                next_sweep: now + WINDOW,
            }),
            online: AtomicUsize::new(0),
        }
    }

    /// Signs `player` in on `session` at `now`. `Ok(Some(old))`: the session it replaces
    /// (to be told and closed by the caller).
    ///
    /// # Errors
    /// Why the login is refused.
    pub fn login(
        &self,
        player: &str,
        session: SessionId,
        now: Instant,
    ) -> Result<Option<SessionId>, Refusal> {
        let mut table = self.lock();
        table.sweep(now);
        let entry = table
            .players
            .entry(player.to_owned())
            .or_insert_with(|| Player {
                session: None,
                window_start: now,
                logins: 0,
                ticket: None,
                lost: None,
            });
        if now.saturating_duration_since(entry.window_start) >= WINDOW {
            entry.window_start = now;
            entry.logins = 0;
        }
        if entry.logins >= self.logins_per_minute {
            return Err(Refusal::TooManyLogins);
        }
        if entry.session.is_some() && self.second == SecondLogin::Refuse {
            return Err(Refusal::SignedIn);
        }
        entry.logins += 1;
        if entry.ticket.take().is_some() {
            entry.lost = Some("replaced by a new login"); // the old seat's ticket is void now
        }
        let replaced = entry.session.replace(session);
        if replaced.is_none() {
            self.online.fetch_add(1, Ordering::Relaxed);
        }
        Ok(replaced)
    }

    /// `session` of `player` is gone; the player is signed out unless a newer session
    /// replaced it.
    pub fn logout(&self, player: &str, session: SessionId, now: Instant) {
        let mut table = self.lock();
        if let Some(entry) = table.players.get_mut(player) {
            if entry.session == Some(session) {
                entry.session = None;
                entry.ticket = None;
                self.online.fetch_sub(1, Ordering::Relaxed);
            }
        }
        table.sweep(now);
    }

    /// Gives the seat of `player`, held on its session `home`, its first `ticket`; false if
    /// `home` is no longer the player's session.
    pub fn seat(&self, player: &str, home: SessionId, ticket: Ticket) -> bool {
        let mut table = self.lock();
        match table.players.get_mut(player) {
            Some(entry) if entry.session == Some(home) => {
                entry.ticket = Some(Tickets { good: vec![ticket] });
                entry.lost = None;
                true
            }
            _ => false,
        }
    }

    /// A RESUME of `player` with `ticket`: if it is one of the seat's good tickets (see
    /// `Tickets`), `next` is given and good too, until the client uses a connection
    /// ([`Players::confirm`]); returns the seat's home session.
    ///
    /// # Errors
    /// No seat, or not its ticket.
    pub fn resume(
        &self,
        player: &str,
        ticket: &Ticket,
        next: Ticket,
    ) -> Result<SessionId, ResumeRefusal> {
        let mut table = self.lock();
        let entry = table
            .players
            .get_mut(player)
            .ok_or(ResumeRefusal::NoSeat(None))?;
        let (Some(home), Some(tickets)) = (entry.session, entry.ticket.as_mut()) else {
            return Err(ResumeRefusal::NoSeat(entry.lost));
        };
        if !tickets.good.iter().any(|good| good.matches(ticket)) {
            return Err(ResumeRefusal::BadTicket);
        }
        if tickets.good.len() == MAX_GOOD_TICKETS {
            tickets.good.remove(0);
        }
        tickets.good.push(next);
        Ok(home)
    }

    /// The client of `player`'s seat on `home` used the connection `ticket` was given on:
    /// it has that ticket, and the one spent for it is good no more.
    pub fn confirm(&self, player: &str, home: SessionId, ticket: &Ticket) {
        let mut table = self.lock();
        if let Some(entry) = table.players.get_mut(player) {
            if entry.session != Some(home) {
                return;
            }
            if let Some(tickets) = entry.ticket.as_mut() {
                if tickets.good.iter().any(|good| good.matches(ticket)) {
                    tickets.good = vec![*ticket];
                }
            }
        }
    }

    /// The seat of `player` on `home` is lost for `why` (its ticket is void).
    pub fn unseat(&self, player: &str, home: SessionId, why: &'static str) {
        let mut table = self.lock();
        if let Some(entry) = table.players.get_mut(player) {
            if entry.session == Some(home) {
                entry.ticket = None;
                entry.lost = Some(why);
            }
        }
    }

    /// Players signed in now.
    pub fn online(&self) -> usize {
        self.online.load(Ordering::Relaxed)
    }

    /// The session `player` is signed in on.
    pub fn session_of(&self, player: &str) -> Option<SessionId> {
        self.lock().players.get(player)?.session
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic elsewhere while holding it leaves a table that is still consistent.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Table {
    /// Once a window: forgets the players signed out whose window has passed (their limit
    /// starts afresh anyway), so the table holds the signed-in and the recent only.
    fn sweep(&mut self, now: Instant) {
        if now < self.next_sweep {
            return;
        }
        self.players.retain(|_, p| {
            p.session.is_some() || now.saturating_duration_since(p.window_start) < WINDOW
        });
        self.next_sweep = now + WINDOW;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> SessionId {
        SessionId::from_parts(0, n, 1)
    }

    #[test]
    fn a_second_login_replaces_or_is_refused() {
        let now = Instant::now();
        let replace = Players::new(SecondLogin::Replace, 10, now);
        assert_eq!(replace.login("a", id(1), now), Ok(None));
        assert_eq!(replace.login("a", id(2), now), Ok(Some(id(1))));
        assert_eq!(replace.online(), 1);
        // The replaced session's logout does not sign out its successor.
        replace.logout("a", id(1), now);
        assert_eq!(replace.session_of("a"), Some(id(2)));
        replace.logout("a", id(2), now);
        assert_eq!((replace.session_of("a"), replace.online()), (None, 0));

        let refuse = Players::new(SecondLogin::Refuse, 10, now);
        assert_eq!(refuse.login("a", id(1), now), Ok(None));
        assert_eq!(refuse.login("a", id(2), now), Err(Refusal::SignedIn));
        assert_eq!(refuse.login("b", id(3), now), Ok(None));
        assert_eq!(refuse.session_of("a"), Some(id(1)));
        refuse.logout("a", id(1), now);
        assert_eq!(refuse.login("a", id(2), now), Ok(None));
    }

    #[test]
    fn a_ticket_resumes_once_and_only_its_players_seat() {
        let now = Instant::now();
        let players = Players::new(SecondLogin::Replace, 10, now);
        let (t1, t2, t3) = (Ticket([1; 16]), Ticket([2; 16]), Ticket([3; 16]));
        players.login("a", id(1), now).unwrap();
        assert_eq!(
            players.resume("a", &t1, t2),
            Err(ResumeRefusal::NoSeat(None))
        );
        assert!(players.seat("a", id(1), t1));
        assert!(!players.seat("a", id(9), t1), "not a's session");
        assert_eq!(
            players.resume("b", &t1, t2),
            Err(ResumeRefusal::NoSeat(None))
        );
        assert_eq!(players.resume("a", &t2, t3), Err(ResumeRefusal::BadTicket));
        assert_eq!(players.resume("a", &t1, t2), Ok(id(1)));
        // RESUMED may not have reached the client: t1 stays good until a new one is used,
        // and so does t2 (its RESUMED may have arrived, on a connection that then dropped).
        assert_eq!(players.resume("a", &t1, t3), Ok(id(1)));
        let t4 = Ticket([4; 16]);
        assert_eq!(players.resume("a", &t2, t4), Ok(id(1)));
        players.confirm("a", id(1), &t3);
        for old in [&t1, &t2, &t4] {
            assert_eq!(players.resume("a", old, t2), Err(ResumeRefusal::BadTicket));
        }
        assert_eq!(players.resume("a", &t3, t2), Ok(id(1)));
        players.confirm("a", id(1), &t2);
        players.unseat("a", id(1), "expired");
        assert_eq!(
            players.resume("a", &t3, t1),
            Err(ResumeRefusal::NoSeat(Some("expired")))
        );
        // A new login voids the seat of the session it replaces.
        assert!(players.seat("a", id(1), t1));
        players.login("a", id(2), now).unwrap();
        assert_eq!(
            players.resume("a", &t1, t2),
            Err(ResumeRefusal::NoSeat(Some("replaced by a new login")))
        );
    }

    #[test]
    fn logins_per_minute_are_limited_per_player() {
        let now = Instant::now();
        let players = Players::new(SecondLogin::Replace, 3, now);
        for n in 0..3 {
            assert!(players.login("a", id(n), now).is_ok());
        }
        assert_eq!(players.login("a", id(9), now), Err(Refusal::TooManyLogins));
        assert_eq!(players.login("b", id(10), now), Ok(None));
        let later = now + WINDOW;
        assert_eq!(players.login("a", id(11), later), Ok(Some(id(2))));
    }

    #[test]
    fn signed_out_players_are_forgotten_after_their_window() {
        let now = Instant::now();
        let players = Players::new(SecondLogin::Replace, 3, now);
        for n in 0..100 {
            let name = format!("p{n}");
            players.login(&name, id(n), now).unwrap();
            players.logout(&name, id(n), now);
        }
        players.login("kept", id(500), now).unwrap();
        assert_eq!(players.lock().players.len(), 101);
        players.logout("nobody", id(999), now + WINDOW);
        assert_eq!(players.lock().players.len(), 1);
        assert_eq!(players.session_of("kept"), Some(id(500)));
    }
}
