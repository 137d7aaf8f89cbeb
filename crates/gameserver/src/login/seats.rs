//! Held seats (docs/protocol.md "Resume"), on their *home* loop: the loop of the session that
//! asked for the seat, whose id the rooms keep as the player's. A seat outlives its
//! connection for `--resume-window`; a RESUME on any loop takes it back, and the home loop
//! replays what the player had not received, then relays.
//!
//! ```text
//!   SEAT_ASK ─> SEAT (ticket); servercore records what is sent (Context::record)
//!   the connection drops ─> the record taken, the id held (Context::hold): the game sees
//!                           nothing; what the rooms send it is recorded (Handler::held)
//!   RESUME on loop B ─> ticket spent (Players) ─> Job::Resume to home ─> RESUMED, the tail
//!                       after `received`, then every later send: to the new connection
//!   the new connection's packets ─> Job::Input ─> the game, as the home id's
//!   the window passes / the buffer overflows / the game closes it ─> the seat ends:
//!                       SEAT_LOST to whoever holds it, the game sees the player leave
//! ```
//!
//! Numbering: what the server sends after SEAT counts (the record's positions, `u64`, the
//! protocol's `u32` modulo 2^32); what the client sends after SEAT_ASK counts (`got`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use game_protocol::resume::{self, Position, Resume, Seat as SeatOffer, Ticket};
use game_protocol::token::Claims;
use servercore::packet::{Packet, PacketContext, PacketHandler, RateLimit, HEADER_LEN};
use servercore::{CloseReason, Context, HeldRequest, Record, SendError, SessionId};

use super::gate::{player_verdict, Gate, SignIn, Verdict};
use super::relay::Job;
use super::{Login, Presence};
use crate::protocol;

/// The server acknowledges the client's bytes at least this often (and once a second).
const ACK_EVERY: usize = 8 * 1024;

/// How often held seats are checked for their window, and `got` acknowledged.
const SCAN_EVERY: Duration = Duration::from_secs(1);

/// Why a resumed connection replaced the one before.
const RESUMED_ELSEWHERE: CloseReason = CloseReason::Invalid("the seat was resumed elsewhere");

/// A relay cut because its seat's loop is behind: the client resumes and sends again.
const SEAT_BUSY: CloseReason = CloseReason::Invalid("the seat's loop is behind; resume");

/// The seats of one loop.
#[derive(Debug, Default)]
pub(crate) struct Seats {
    by_home: HashMap<SessionId, Seat>,
    next_scan: Option<Instant>,
}

/// One player's seat.
#[derive(Debug)]
struct Seat {
    claims: Claims,
    /// What the player has not acknowledged, once the first connection is gone (until then
    /// servercore records it on that session).
    record: Option<Record>,
    /// The connection carrying the seat now, when it is not the first one.
    relay: Option<SessionId>,
    /// The client's numbered bytes handled.
    got: Position,
    /// The last `got` acknowledged to the client.
    acked: Position,
    /// Since when no connection carries the seat.
    held_since: Option<Instant>,
    /// A RESUME waiting for the first connection's end.
    waiting: Option<Waiting>,
    /// How the last connection ended (what the game is told when the seat ends).
    reason: CloseReason,
    /// The ticket RESUMED gave the relay, until the relay's first packet shows the client
    /// has it (until then the one spent for it stays good: `Players::confirm`).
    unconfirmed: Option<Ticket>,
}

/// A RESUME taken: the connection, what it had received, its next ticket.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    conn: SessionId,
    received: Position,
    ticket: Ticket,
}

impl Seats {
    /// True if `home` has a seat here.
    pub(crate) fn holds(&self, home: SessionId) -> bool {
        !self.by_home.is_empty() && self.by_home.contains_key(&home)
    }
}

/// True for the ends a seat survives: the connection, not the server, gave up.
fn resumable(reason: CloseReason) -> bool {
    matches!(
        reason,
        CloseReason::PeerClosed
            | CloseReason::Reset
            | CloseReason::Io(_)
            | CloseReason::IdleTimeout
    ) || reason == SEAT_BUSY
        || reason == RESUMED_ELSEWHERE
}

/// The record position of the protocol's `position`, given the record's `end`.
fn position64(end: u64, position: Position) -> u64 {
    let back = (end as u32).wrapping_sub(position.0);
    end.wrapping_sub(u64::from(back)) // before 0: far ahead, refused by the record
}

/// Counts the seat of `home` lost for `why` and voids its ticket.
fn lost(ctx: &Context<'_>, login: &Login, seat: &Seat, home: SessionId, why: &'static str) {
    let player = &seat.claims.sub;
    let why = match login.players.session_of(player) {
        Some(now) if now != home && why == "closed" => "replaced",
        _ => why,
    };
    login.stats.seats_lost.count(why);
    login.players.unseat(player, home, why);
    if seat.held_since.is_some() {
        login.stats.held(-1);
    }
    tracing::debug!(session = %home, player = %player, why, peer = ?ctx.peer_addr(home), "seat lost");
}

/// Sends `buf` to the seat's connection `conn`. A send its loop could not take (far behind)
/// cuts the connection, as a drop the seat survives: the client resumes and the record
/// replays exactly what it missed (never a hole in the middle of the stream).
fn to_relay(ctx: &mut Context<'_>, conn: SessionId, buf: bytes::Bytes) {
    match ctx.send(conn, buf) {
        Ok(()) | Err(SendError::NoSession | SendError::Closing) => {} // its end comes
        Err(SendError::QueueFull { .. }) => {} // cut as a slow consumer already
        Err(SendError::LoopBehind { .. }) => ctx.abort(conn, SEAT_BUSY),
    }
}

/// Tells connection `conn` its seat is gone (SEAT_LOST) and closes it after that.
fn seat_lost(ctx: &mut Context<'_>, conn: SessionId, why: &str) {
    let _ = ctx.send_packet(conn, protocol::SEAT_LOST, why.as_bytes());
    ctx.close(conn);
}

impl<G: PacketHandler + Presence> Gate<G> {
    /// The login (the gate has one wherever seats exist).
    fn login(&self) -> std::sync::Arc<Login> {
        self.login.clone().expect("seats exist only behind a login")
    }

    /// The first connection of seat `id` ended with `reason`: true if the seat holds on (the
    /// game is not told; a RESUME that waited for this end completes now); false if there
    /// was no seat or it ends now (the caller tells the game).
    pub(super) fn first_connection_gone(
        &mut self,
        ctx: &mut Context<'_>,
        id: SessionId,
        reason: CloseReason,
    ) -> bool {
        let login = self.login();
        let Some(seat) = self.seats.by_home.get_mut(&id) else {
            return false;
        };
        let record = ctx.take_record(id);
        let wanted = resumable(reason); // a RESUME waiting does not save a seat the server ended
        match record {
            Some(record) if wanted && !record.overflowed() => {
                seat.record = Some(record);
                seat.reason = reason;
                ctx.hold(id);
                match seat.waiting.take() {
                    Some(waiting) => self.complete_resume(ctx, id, waiting),
                    None => {
                        seat.held_since = Some(ctx.now());
                        login.stats.held(1);
                        let player = seat.claims.sub.clone();
                        self.inner.away(ctx, id, &player);
                    }
                }
                true
            }
            record => {
                let why = match record {
                    Some(r) if r.overflowed() => "overflow",
                    _ => "closed",
                };
                let seat = self.seats.by_home.remove(&id).expect("looked up above");
                lost(ctx, &login, &seat, id, why);
                if let Some(waiting) = seat.waiting {
                    seat_lost(ctx, waiting.conn, why);
                }
                false
            }
        }
    }

    /// SEAT_ASK of signed-in session `home`: SEAT with its first ticket, and recording on.
    fn seat_ask(&mut self, ctx: &mut Context<'_>, home: SessionId) {
        let login = self.login();
        let Some(rules) = login.resume else {
            return seat_lost(ctx, home, "resume is off on this server");
        };
        let Some(SignIn::Player(claims)) = ctx.data::<SignIn>(home) else {
            return;
        };
        let claims = claims.clone();
        let ticket = Ticket(rand::random());
        if !login.players.seat(&claims.sub, home, ticket) {
            return; // replaced meanwhile
        }
        let offer = SeatOffer {
            ticket,
            window_s: rules.window_s,
            buffer: rules.buffer,
        };
        let _ = ctx.send_packet(home, protocol::SEAT, &offer.encode());
        ctx.record(home, rules.buffer as usize); // numbered from here: SEAT is not
        let seat = Seat {
            claims,
            record: None,
            relay: None,
            got: Position::default(),
            acked: Position::default(),
            held_since: None,
            waiting: None,
            reason: CloseReason::Local,
            unconfirmed: None,
        };
        self.seats.by_home.insert(home, seat);
    }

    /// A packet for the seat of `home`, from its first connection (`conn` None) or from
    /// the relay `conn`.
    pub(super) fn seat_input(
        &mut self,
        ctx: &mut Context<'_>,
        home: SessionId,
        conn: Option<SessionId>,
        packet: Packet<'_>,
    ) {
        let Some(seat) = self.seats.by_home.get_mut(&home) else {
            return match (conn, packet.id) {
                (None, protocol::SEAT_ASK) => self.seat_ask(ctx, home),
                (None, protocol::ACK) | (Some(_), _) => {} // no seat (any more)
                (None, _) => self.inner.packet(ctx, home, packet),
            };
        };
        if conn.is_some() && seat.relay != conn {
            return; // a connection the seat has left: the client sends it again
        }
        if let (Some(ticket), Some(login)) = (seat.unconfirmed.take(), &self.login) {
            login.players.confirm(&seat.claims.sub, home, &ticket);
        }
        let from = conn.unwrap_or(home);
        match packet.id {
            protocol::SEAT_ASK => {}
            protocol::ACK => self.acknowledged(ctx, home, from, packet.body),
            _ => {
                seat.got = seat.got.after(HEADER_LEN + packet.body.len());
                let due = seat.got.since(seat.acked).unwrap_or(0) >= ACK_EVERY;
                match player_verdict(&seat.claims, &packet) {
                    Verdict::Pass => self.inner.packet(ctx, home, packet),
                    Verdict::Forbidden(room) => {
                        let _ =
                            ctx.send_packet(home, protocol::ROOM_FORBIDDEN, &protocol::room(room));
                    }
                    _ => ctx.abort(from, CloseReason::Invalid("HELLO or RESUME twice")),
                }
                if due {
                    self.ack_client(ctx, home);
                }
            }
        }
    }

    /// The client's ACK: what it received is forgotten. One past what was sent closes the
    /// connection; a record that overflowed ends the seat (the connection plays on).
    fn acknowledged(
        &mut self,
        ctx: &mut Context<'_>,
        home: SessionId,
        from: SessionId,
        body: &[u8],
    ) {
        let Some(position) = resume::parse_ack(body) else {
            return ctx.abort(from, CloseReason::Invalid("ACK body is not 4 bytes"));
        };
        let Some(seat) = self.seats.by_home.get_mut(&home) else {
            return;
        };
        let result = match seat.record.as_mut() {
            Some(record) => record.acknowledge(position64(record.end(), position)),
            None => match ctx.recorded(home) {
                Some(record) if record.overflowed() => return self.end_seat(ctx, home, "overflow"),
                Some(record) => {
                    let at = position64(record.end(), position);
                    ctx.acknowledge(home, at)
                }
                None => return,
            },
        };
        if let Err(err) = result {
            tracing::info!(session = %from, "ACK refused: {err}");
            ctx.abort(from, CloseReason::Invalid("ACK outside what was sent"));
        }
    }

    /// Sends the client an ACK of its bytes, through the numbered stream.
    fn ack_client(&mut self, ctx: &mut Context<'_>, home: SessionId) {
        let Some(seat) = self.seats.by_home.get_mut(&home) else {
            return;
        };
        if seat.got == seat.acked || seat.held_since.is_some() {
            return;
        }
        seat.acked = seat.got;
        let _ = ctx.send_packet(home, protocol::ACK, &resume::ack(seat.got));
    }

    /// RESUME as the first packet of `conn` (any loop): the ticket spent, the seat's home
    /// loop asked to hand the seat over.
    pub(super) fn resume_asked(&mut self, ctx: &mut Context<'_>, conn: SessionId, body: &[u8]) {
        let login = self.login();
        let refuse = |ctx: &mut Context<'_>, result: &'static str, why: &str| {
            login.stats.resumes.count(result);
            tracing::info!(session = %conn, peer = ?ctx.peer_addr(conn), result, "resume refused: {why}");
            let _ = ctx.set_data(conn, SignIn::Refused);
            seat_lost(ctx, conn, why);
        };
        if login.resume.is_none() || login.relays.get().is_none() {
            return refuse(ctx, "off", "resume is off on this server");
        }
        let Some(resume) = Resume::parse(body) else {
            return refuse(ctx, "malformed", "malformed RESUME");
        };
        let ticket = Ticket(rand::random());
        match login.players.resume(&resume.player, &resume.ticket, ticket) {
            Err(refusal) => refuse(ctx, refusal.name(), &refusal.reason()),
            Ok(home) => {
                let _ = ctx.set_data(conn, SignIn::Relay { home });
                let job = Job::Resume {
                    home,
                    conn,
                    received: resume.received,
                    ticket,
                };
                self.send_home(ctx, conn, job);
            }
        }
    }

    /// Runs `job` here if the seat lives on this loop, else posts it to the seat's loop
    /// (a refused post cuts `conn`: its client resumes and sends again).
    fn send_home(&mut self, ctx: &mut Context<'_>, conn: SessionId, job: Job) {
        if job.home().loop_index() == ctx.loop_index() {
            return self.run_job(ctx, job);
        }
        let login = self.login();
        let posted = login.relays.get().map(|relays| relays.post(job));
        if !matches!(posted, Some(Ok(()))) {
            ctx.abort(conn, SEAT_BUSY);
        }
    }

    /// A packet of relay `conn` for the seat of `home`.
    pub(super) fn relay_input(
        &mut self,
        ctx: &mut Context<'_>,
        home: SessionId,
        conn: SessionId,
        packet: Packet<'_>,
    ) {
        if home.loop_index() == ctx.loop_index() {
            return self.seat_input(ctx, home, Some(conn), packet); // no copy
        }
        let job = Job::Input {
            home,
            conn,
            id: packet.id,
            body: packet.body.to_vec(),
        };
        self.send_home(ctx, conn, job);
    }

    /// Relay `conn` passed the packet rate limit: the game tells the player.
    pub(super) fn relay_rate_limited(
        &mut self,
        ctx: &mut Context<'_>,
        home: SessionId,
        conn: SessionId,
        limit: RateLimit,
    ) {
        self.send_home(ctx, conn, Job::RateLimited { home, conn, limit });
    }

    /// Relay `conn` ended with `reason`.
    pub(super) fn relay_gone(
        &mut self,
        ctx: &mut Context<'_>,
        home: SessionId,
        conn: SessionId,
        reason: CloseReason,
    ) {
        self.send_home(ctx, conn, Job::Gone { home, conn, reason });
    }

    /// The seat jobs other loops posted to this one.
    pub(super) fn take_jobs(&mut self, ctx: &mut Context<'_>) {
        let Some(login) = self.login.clone() else {
            return;
        };
        let Some(relays) = login.relays.get() else {
            return;
        };
        for job in relays.take(ctx.loop_index()) {
            self.run_job(ctx, job);
        }
    }

    fn run_job(&mut self, ctx: &mut Context<'_>, job: Job) {
        match job {
            Job::Resume {
                home,
                conn,
                received,
                ticket,
            } => self.resume_seat(
                ctx,
                home,
                Waiting {
                    conn,
                    received,
                    ticket,
                },
            ),
            Job::Input {
                home,
                conn,
                id,
                body,
            } => self.seat_input(ctx, home, Some(conn), Packet { id, body: &body }),
            Job::RateLimited { home, conn, limit } => {
                if self
                    .seats
                    .by_home
                    .get(&home)
                    .is_some_and(|s| s.relay == Some(conn))
                {
                    self.inner.rate_limited(ctx, home, limit);
                }
            }
            Job::Gone { home, conn, reason } => self.relay_ended(ctx, home, conn, reason),
        }
    }

    /// The seat's relay `conn` ended: the seat is held again, or ends with it.
    fn relay_ended(
        &mut self,
        ctx: &mut Context<'_>,
        home: SessionId,
        conn: SessionId,
        reason: CloseReason,
    ) {
        let login = self.login();
        let Some(seat) = self.seats.by_home.get_mut(&home) else {
            return;
        };
        if seat.waiting.is_some_and(|w| w.conn == conn) {
            seat.waiting = None; // its RESUME waited for the first connection: held as usual
            return;
        }
        if seat.relay != Some(conn) {
            return; // a connection the seat had left already
        }
        seat.relay = None;
        seat.reason = reason;
        if resumable(reason) {
            seat.held_since = Some(ctx.now());
            login.stats.held(1);
            let player = seat.claims.sub.clone();
            self.inner.away(ctx, home, &player);
        } else {
            self.end_seat(ctx, home, "closed");
        }
    }

    /// A RESUME of the seat of `home` reached its loop.
    fn resume_seat(&mut self, ctx: &mut Context<'_>, home: SessionId, waiting: Waiting) {
        let login = self.login();
        let Some(seat) = self.seats.by_home.get_mut(&home) else {
            login.stats.resumes.count("no_seat");
            return seat_lost(ctx, waiting.conn, "no seat to resume: it was released");
        };
        if let Some(old) = seat.relay.take() {
            ctx.abort(old, RESUMED_ELSEWHERE); // its end is ignored: no longer the relay
        }
        if seat.record.is_none() {
            // The first connection is still there (the server had not seen it drop): it is
            // ended (unless it is ending already, maybe for a reason that ends the seat),
            // and the resume completes when its end is handled.
            if let Some(earlier) = seat.waiting.replace(waiting) {
                seat_lost(ctx, earlier.conn, "resumed again on another connection");
            }
            if ctx.is_open(home) {
                ctx.abort(home, RESUMED_ELSEWHERE);
            }
            return;
        }
        self.complete_resume(ctx, home, waiting);
    }

    /// Hands the held seat of `home` to `waiting.conn`: RESUMED, the tail the client did not
    /// receive, then everything later.
    fn complete_resume(&mut self, ctx: &mut Context<'_>, home: SessionId, waiting: Waiting) {
        let login = self.login();
        let Some(seat) = self.seats.by_home.get_mut(&home) else {
            return;
        };
        if login.players.session_of(&seat.claims.sub) != Some(home) {
            // A new login of the player came first: the seat is its no longer.
            login.stats.resumes.count("no_seat");
            seat_lost(
                ctx,
                waiting.conn,
                "no seat to resume: replaced by a new login",
            );
            return self.end_seat(ctx, home, "replaced");
        }
        let record = seat.record.as_mut().expect("a held seat has its record");
        let from = position64(record.end(), waiting.received);
        let tail = match record.since(from) {
            Ok(tail) => tail,
            Err(err) => {
                login.stats.resumes.count("bad_position");
                tracing::info!(session = %waiting.conn, "resume refused: {err}");
                seat_lost(
                    ctx,
                    waiting.conn,
                    "RESUME's received is outside what was kept",
                );
                return self.end_seat(ctx, home, "bad_position");
            }
        };
        let _ = record.acknowledge(from);
        let body = resume::resumed(&waiting.ticket, seat.got);
        if let Ok(packet) = ctx.packet(protocol::RESUMED, &body) {
            to_relay(ctx, waiting.conn, packet);
        }
        let replayed: usize = tail.iter().map(|b| b.len()).sum();
        for buf in tail {
            to_relay(ctx, waiting.conn, buf);
        }
        seat.relay = Some(waiting.conn);
        seat.unconfirmed = Some(waiting.ticket);
        seat.acked = seat.got;
        if seat.held_since.take().is_some() {
            login.stats.held(-1);
        }
        login.stats.resumes.count("ok");
        let player = seat.claims.sub.clone();
        tracing::info!(session = %home, by = %waiting.conn, %player, replayed, "seat resumed");
        self.inner.back(ctx, home, &player);
    }

    /// A send, close or abort the game made to held seat `id`.
    pub(super) fn seat_request(
        &mut self,
        ctx: &mut Context<'_>,
        id: SessionId,
        request: HeldRequest,
    ) {
        let Some(seat) = self.seats.by_home.get_mut(&id) else {
            return ctx.release(id);
        };
        match request {
            HeldRequest::Send(buf) => {
                let record = seat.record.as_mut().expect("a held seat has its record");
                if !record.push(buf.clone()) {
                    return self.end_seat(ctx, id, "overflow");
                }
                if let Some(relay) = seat.relay {
                    to_relay(ctx, relay, buf);
                }
            }
            HeldRequest::Close(reason) | HeldRequest::Abort(reason) => {
                if let Some(relay) = seat.relay.take() {
                    ctx.close_with(relay, reason); // after what the game sent it last
                }
                seat.reason = reason;
                self.end_seat(ctx, id, "closed");
            }
        }
    }

    /// Ends the seat of `home` for `why`: whoever carries it is told SEAT_LOST; if its first
    /// connection is gone, the game sees the player leave now.
    pub(super) fn end_seat(&mut self, ctx: &mut Context<'_>, home: SessionId, why: &'static str) {
        let login = self.login();
        let Some(seat) = self.seats.by_home.remove(&home) else {
            return;
        };
        lost(ctx, &login, &seat, home, why);
        for conn in [seat.relay, seat.waiting.map(|w| w.conn)]
            .into_iter()
            .flatten()
        {
            seat_lost(ctx, conn, why);
        }
        if seat.record.is_none() {
            let _ = ctx.take_record(home); // the first connection plays on, without a seat
            let _ = ctx.send_packet(home, protocol::SEAT_LOST, why.as_bytes());
            return;
        }
        ctx.release(home);
        login.players.logout(&seat.claims.sub, home, ctx.now());
        self.inner.disconnected(ctx, home, seat.reason);
    }

    /// Once a second: ends the seats held past the window, acknowledges the clients' bytes.
    pub(super) fn seats_tick(&mut self, ctx: &mut Context<'_>, login: &Login) {
        let (Some(rules), now) = (login.resume, ctx.now()) else {
            return;
        };
        if self.seats.next_scan.is_some_and(|due| now < due) {
            return;
        }
        self.seats.next_scan = Some(now + SCAN_EVERY);
        let window = Duration::from_secs(rules.window_s.into());
        let homes: Vec<SessionId> = self.seats.by_home.keys().copied().collect();
        for home in homes {
            let expired = self
                .seats
                .by_home
                .get(&home)
                .and_then(|s| s.held_since)
                .is_some_and(|since| now.saturating_duration_since(since) >= window);
            if expired {
                self.end_seat(ctx, home, "expired");
            } else {
                self.ack_client(ctx, home);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_positions_map_onto_the_record_across_the_wrap() {
        assert_eq!(position64(10, Position(4)), 4);
        assert_eq!(position64(10, Position(10)), 10);
        let end = (1u64 << 32) + 5; // the u32 wrapped once
        assert_eq!(position64(end, Position(3)), (1 << 32) + 3);
        assert_eq!(position64(end, Position(u32::MAX)), (1 << 32) - 1);
        assert!(position64(10, Position(11)) > 10, "ahead stays ahead");
    }

    #[test]
    fn the_connection_not_the_server_gives_a_seat_up() {
        assert!(resumable(CloseReason::Reset) && resumable(CloseReason::PeerClosed));
        assert!(resumable(SEAT_BUSY));
        assert!(
            resumable(RESUMED_ELSEWHERE),
            "ended by the server for the resume"
        );
        assert!(!resumable(CloseReason::Shutdown) && !resumable(CloseReason::Invalid("x")));
        assert!(!resumable(CloseReason::Local) && !resumable(CloseReason::RateLimited));
    }
}
