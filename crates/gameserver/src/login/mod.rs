//! Connect tokens (`gameserver --auth-secret`): who a player is, as the studio's backend
//! signed it ([`game_protocol::token`], docs/protocol.md "Connect tokens").
//!
//! | file         | what |
//! |--------------|------|
//! | `args.rs`    | [`LoginArgs`]: `--auth-secret`, `--second-login`, `--player-logins-per-minute` |
//! | `gate.rs`    | [`Gate`]: the game behind the HELLO; the deadline; the token's rooms |
//! | `players.rs` | [`Players`]: one session per player, the second-login rule, logins per minute |
//! | `seats.rs`   | held seats on their home loop: SEAT, ACKs, RESUME, the replay, the window |
//! | `relay.rs`   | `Relays`: a resumed connection's packets to its seat's home loop |
//! | `stats.rs`   | [`LoginStats`]: logins, resumes, seats lost and held              |
//!
//! The tokens are checked on the loop of the session that brings one (HMAC-SHA256 of a few
//! hundred bytes: microseconds); the table of players is a lock taken at a login and a
//! logout only. Without `--auth-secret` no gate is in the way and nothing changes.

mod args;
mod gate;
mod players;
mod relay;
mod seats;
mod stats;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use game_protocol::token::{ShortSecret, Verifier};
use servercore::{Context, Notifier, SessionId};

pub use args::{LoginArgs, AUTH_SECRET_ENV, DEFAULT_RESUME_BUFFER, DEFAULT_RESUME_WINDOW_SECS};
pub use gate::{Gate, SignIn};
pub use players::{Players, Refusal, ResumeRefusal, SecondLogin};
use relay::Relays;
pub use stats::{LoginStats, Tally, RESULTS, RESUME_RESULTS, SEAT_LOSSES};

/// What a game tells others when a seated player's connection drops (its seat held) and
/// when the player resumes. Both do nothing unless the game says otherwise.
pub trait Presence {
    /// The connection of `id`, signed in as `player`, is gone; its seat is held.
    fn away(&mut self, ctx: &mut Context<'_>, id: SessionId, player: &str) {
        let _ = (ctx, id, player);
    }

    /// `player` resumed the seat of `id`.
    fn back(&mut self, ctx: &mut Context<'_>, id: SessionId, player: &str) {
        let _ = (ctx, id, player);
    }
}

/// How seats are held (`--resume-window`, `--resume-buffer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumeRules {
    /// Seconds a seat is held after its connection drops.
    pub window_s: u16,
    /// Most unacknowledged bytes kept per seat.
    pub buffer: u32,
}

/// Default most logins of one player per minute (`--player-logins-per-minute`).
pub const DEFAULT_LOGINS_PER_MINUTE: u32 = 30;

/// The instance's login rules and state, shared by its loops.
#[derive(Debug)]
pub struct Login {
    verifier: Verifier,
    players: Arc<Players>,
    stats: Arc<LoginStats>,
    /// How long a session may take to sign in.
    deadline: Duration,
    /// Seats for players who ask (`None`: resume is off).
    resume: Option<ResumeRules>,
    /// The loops' queues for resumed connections (set by [`Login::bind`]).
    relays: OnceLock<Relays>,
}

impl Login {
    /// Tokens signed with `secret`, a HELLO due within `deadline` of the connect, a second
    /// login handled by `second`, at most `logins_per_minute` per player.
    ///
    /// # Errors
    /// A secret too short for HS256.
    pub fn new(
        secret: &[u8],
        deadline: Duration,
        second: SecondLogin,
        logins_per_minute: u32,
    ) -> Result<Login, ShortSecret> {
        Ok(Login {
            verifier: Verifier::new(secret)?,
            players: Arc::new(Players::new(second, logins_per_minute, Instant::now())),
            stats: Arc::new(LoginStats::default()),
            deadline,
            resume: None,
            relays: OnceLock::new(),
        })
    }

    /// Seats held by `resume` (`None`: resume off).
    pub fn with_resume(self, resume: Option<ResumeRules>) -> Login {
        Login { resume, ..self }
    }

    /// Seats held by these rules, if resume is on.
    pub fn resume(&self) -> Option<ResumeRules> {
        self.resume
    }

    /// Lets resumed connections reach their seats' loops through `notifier` (once the
    /// service runs; until then a RESUME is refused).
    pub fn bind(&self, notifier: Notifier) {
        let relays = Relays::new(notifier.loops());
        relays.bind(notifier);
        let _ = self.relays.set(relays);
    }

    /// The results so far.
    pub fn stats(&self) -> Arc<LoginStats> {
        self.stats.clone()
    }

    /// The players signed in.
    pub fn players(&self) -> Arc<Players> {
        self.players.clone()
    }
}
