//! [`Gate`]: the game behind a login. With connect tokens on, a session's first packet must
//! be a HELLO with a good token; until then nothing reaches the game, and a session that has
//! none within the deadline, sends something else first, or brings a bad one is told why
//! (UNAUTHENTICATED) and closed with `CloseReason::Unauthenticated`. A signed-in player's
//! ENTER_ROOM and ARENA_JOIN are held to the rooms its token names (ROOM_FORBIDDEN).
//! Without tokens the gate passes everything through.
//!
//! A signed-in player may ask for a seat (SEAT_ASK): `seats.rs` holds it past a drop and
//! takes a RESUME back on any loop (`relay.rs`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use game_protocol::arena::Join;
use game_protocol::login::{hello_ok, parse_hello};
use game_protocol::text::cut;
use game_protocol::token::{Claims, TokenError};
use servercore::packet::{Packet, PacketContext, PacketHandler, RateLimit};
use servercore::{CloseReason, Context, HeldRequest, SessionId};

use super::seats::Seats;
use super::Presence;

use crate::login::Login;
use crate::protocol;

/// What the gate knows of a session (kept on it with `Context::set_data`).
#[derive(Debug)]
pub enum SignIn {
    /// Signed in as the token's player.
    Player(Claims),
    /// Resumed the seat of `home` (a session id the rooms know, held on its own loop):
    /// everything it sends goes there.
    Relay {
        /// The seat's session.
        home: SessionId,
    },
    /// Refused and being closed: later packets are dropped unseen.
    Refused,
}

/// A game `G` behind the login of [`Login`] (or none: everything passes).
#[derive(Debug)]
pub struct Gate<G> {
    pub(super) inner: G,
    pub(super) login: Option<Arc<Login>>,
    /// Sessions that connected, with the moment they must have signed in by (in order).
    waiting: VecDeque<(SessionId, Instant)>,
    /// The seats whose home is this loop.
    pub(super) seats: Seats,
}

impl<G: PacketHandler + Presence> Gate<G> {
    /// `inner` behind `login` (`None`: no tokens, the game sees every session at once).
    pub fn new(inner: G, login: Option<Arc<Login>>) -> Gate<G> {
        Gate {
            inner,
            login,
            waiting: VecDeque::new(),
            seats: Seats::default(),
        }
    }

    /// Sessions whose login deadline is kept (for a test of its bound).
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

/// Checks the HELLO of session `id` and signs its player in (HELLO_OK; a session it replaces
/// is told and closed); true if it is in. A refusal is told and closes the session.
fn sign_in(ctx: &mut Context<'_>, login: &Login, id: SessionId, body: &[u8]) -> bool {
    let verified = parse_hello(body)
        .ok_or_else(|| TokenError::Malformed("not UTF-8".into()))
        .and_then(|token| login.verifier.verify(token));
    let claims = match verified {
        Ok(claims) => claims,
        Err(err) => {
            refuse(ctx, login, id, err.name(), &err.to_string());
            return false;
        }
    };
    let replaced = match login.players.login(&claims.sub, id, ctx.now()) {
        Ok(replaced) => replaced,
        Err(refusal) => {
            refuse(ctx, login, id, refusal.name(), refusal.reason());
            return false;
        }
    };
    login.stats.count("ok");
    if let Some(old) = replaced {
        login.stats.count("replaced");
        tracing::info!(session = %old, by = %id, player = %claims.sub, "session replaced by a newer login");
        let _ = ctx.send_packet(old, protocol::SESSION_REPLACED, &[]);
        ctx.close(old);
    }
    let body = hello_ok(&claims.sub).expect("a verified sub is a player id");
    let _ = ctx.send_packet(id, protocol::HELLO_OK, &body);
    let _ = ctx.set_data(id, SignIn::Player(claims));
    true
}

/// Once `waiting` holds twice as many entries as the loop has sessions, drops those that
/// signed in or ended before their deadline: the queue stays within the live sessions
/// (amortized O(1) a connect), however long the deadline and however fast the connects.
fn forget_settled(waiting: &mut VecDeque<(SessionId, Instant)>, ctx: &Context<'_>) {
    if waiting.len() <= 2 * ctx.session_count().max(64) {
        return;
    }
    waiting.retain(|&(id, _)| ctx.is_open(id) && ctx.data::<SignIn>(id).is_none());
}

/// Closes the sessions of `waiting` whose deadline passed without a login.
fn expire(waiting: &mut VecDeque<(SessionId, Instant)>, ctx: &mut Context<'_>, login: &Login) {
    let now = ctx.now();
    while let Some(&(id, deadline)) = waiting.front() {
        if deadline > now {
            break;
        }
        waiting.pop_front();
        if ctx.is_open(id) && ctx.data::<SignIn>(id).is_none() {
            let why = format!("no HELLO within {:?}", login.deadline);
            refuse(ctx, login, id, "no_hello", &why);
        }
    }
}

/// Tells session `id` why it is refused (UNAUTHENTICATED `text`), counts `result`, and closes
/// it once that has left.
pub(super) fn refuse(
    ctx: &mut Context<'_>,
    login: &Login,
    id: SessionId,
    result: &'static str,
    text: &str,
) {
    login.stats.count(result);
    // Cut and escaped ({:?}): a malformed token's error quotes what the client sent.
    let reason = cut(text, MAX_REASON);
    tracing::info!(session = %id, peer = ?ctx.peer_addr(id), result, "login refused: {reason:?}");
    let _ = ctx.send_packet(id, protocol::UNAUTHENTICATED, reason.as_bytes());
    let _ = ctx.set_data(id, SignIn::Refused);
    ctx.close_with(id, CloseReason::Unauthenticated(result));
}

/// Most bytes of an UNAUTHENTICATED reason (and of its log line's).
pub const MAX_REASON: usize = 200;

/// The room an ENTER_ROOM or ARENA_JOIN asks for (`None` for other packets and bad bodies,
/// which the game refuses itself).
fn room_asked(packet: &Packet<'_>) -> Option<u32> {
    match packet.id {
        protocol::ENTER_ROOM => protocol::parse_room(packet.body),
        protocol::ARENA_JOIN => Join::parse(packet.body).map(|join| join.room),
        _ => None,
    }
}

/// What the gate does with a packet of a session.
pub(super) enum Verdict {
    Pass,
    Hello,
    Resume,
    /// For the seat of this session.
    Seat,
    /// For the seat of another session (a resumed connection's).
    Relay(SessionId),
    Forbidden(u32),
    Drop,
    NotHelloFirst,
    HelloTwice,
}

fn verdict(state: Option<&SignIn>, packet: &Packet<'_>) -> Verdict {
    match state {
        None if packet.id == protocol::HELLO => Verdict::Hello,
        None if packet.id == protocol::RESUME => Verdict::Resume,
        None => Verdict::NotHelloFirst,
        Some(SignIn::Refused) => Verdict::Drop,
        Some(SignIn::Relay { home }) => Verdict::Relay(*home),
        Some(SignIn::Player(claims)) => player_verdict(claims, packet),
    }
}

/// A signed-in player's packet: its token's rooms; the seat's packets; no second sign-in.
pub(super) fn player_verdict(claims: &Claims, packet: &Packet<'_>) -> Verdict {
    match packet.id {
        protocol::HELLO | protocol::RESUME => Verdict::HelloTwice,
        protocol::SEAT_ASK | protocol::ACK => Verdict::Seat,
        _ => match room_asked(packet) {
            Some(room) if !claims.allows(room) => Verdict::Forbidden(room),
            _ => Verdict::Pass,
        },
    }
}

impl<G: PacketHandler + Presence> PacketHandler for Gate<G> {
    fn connected(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        match &self.login {
            None => self.inner.connected(ctx, id),
            Some(login) => {
                self.waiting.push_back((id, ctx.now() + login.deadline));
                forget_settled(&mut self.waiting, ctx);
            }
        }
    }

    fn packet(&mut self, ctx: &mut Context<'_>, id: SessionId, packet: Packet<'_>) {
        let Some(login) = self.login.as_deref() else {
            return self.inner.packet(ctx, id, packet);
        };
        match verdict(ctx.data::<SignIn>(id), &packet) {
            Verdict::Pass | Verdict::Forbidden(_) if self.seats.holds(id) => {
                self.seat_input(ctx, id, None, packet); // counted, then the same verdict
            }
            Verdict::Pass => self.inner.packet(ctx, id, packet),
            Verdict::Seat => self.seat_input(ctx, id, None, packet),
            Verdict::Relay(home) => self.relay_input(ctx, home, id, packet),
            Verdict::Hello => {
                if sign_in(ctx, login, id, packet.body) {
                    self.inner.connected(ctx, id);
                }
            }
            Verdict::Resume => self.resume_asked(ctx, id, packet.body),
            Verdict::Forbidden(room) => {
                let _ = ctx.send_packet(id, protocol::ROOM_FORBIDDEN, &protocol::room(room));
            }
            Verdict::Drop => {}
            Verdict::NotHelloFirst => refuse(
                ctx,
                login,
                id,
                "not_hello_first",
                "HELLO with a connect token must be the first packet",
            ),
            Verdict::HelloTwice => {
                tracing::info!(session = %id, "HELLO twice");
                ctx.abort(id, CloseReason::Invalid("HELLO twice"));
            }
        }
    }

    fn rate_limited(&mut self, ctx: &mut Context<'_>, id: SessionId, limit: RateLimit) {
        match ctx.data::<SignIn>(id) {
            Some(&SignIn::Relay { home }) => self.relay_rate_limited(ctx, home, id, limit),
            _ => self.inner.rate_limited(ctx, id, limit),
        }
    }

    fn disconnected(&mut self, ctx: &mut Context<'_>, id: SessionId, reason: CloseReason) {
        let Some(login) = self.login.clone() else {
            return self.inner.disconnected(ctx, id, reason);
        };
        // The game saw only signed-in sessions, and sees a seated one leave when its seat ends.
        match ctx.data::<SignIn>(id) {
            Some(&SignIn::Relay { home }) => self.relay_gone(ctx, home, id, reason),
            Some(SignIn::Player(claims)) => {
                let player = claims.sub.clone();
                if !self.first_connection_gone(ctx, id, reason) {
                    login.players.logout(&player, id, ctx.now());
                    self.inner.disconnected(ctx, id, reason);
                }
            }
            Some(SignIn::Refused) | None => {}
        }
    }

    fn tick(&mut self, ctx: &mut Context<'_>) {
        if let Some(login) = self.login.clone() {
            expire(&mut self.waiting, ctx, &login);
            self.seats_tick(ctx, &login);
        }
        self.inner.tick(ctx);
    }

    fn notified(&mut self, ctx: &mut Context<'_>) {
        self.take_jobs(ctx);
        self.inner.notified(ctx);
    }

    fn held(&mut self, ctx: &mut Context<'_>, id: SessionId, request: HeldRequest) {
        self.seat_request(ctx, id, request);
    }
}
