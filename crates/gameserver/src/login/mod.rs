//! Connect tokens (`gameserver --auth-secret`): who a player is, as the studio's backend
//! signed it ([`game_protocol::token`], docs/protocol.md "Connect tokens").
//!
//! | file         | what |
//! |--------------|------|
//! | `args.rs`    | [`LoginArgs`]: `--auth-secret`, `--second-login`, `--player-logins-per-minute` |
//! | `gate.rs`    | [`Gate`]: the game behind the HELLO; the deadline; the token's rooms |
//! | `players.rs` | [`Players`]: one session per player, the second-login rule, logins per minute |
//! | `stats.rs`   | [`LoginStats`]: results for `gameserver_logins_total{result}` |
//!
//! The tokens are checked on the loop of the session that brings one (HMAC-SHA256 of a few
//! hundred bytes: microseconds); the table of players is a lock taken at a login and a
//! logout only. Without `--auth-secret` no gate is in the way and nothing changes.

mod args;
mod gate;
mod players;
mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use game_protocol::token::{ShortSecret, Verifier};

pub use args::{LoginArgs, AUTH_SECRET_ENV};
pub use gate::{Gate, SignIn};
pub use players::{Players, Refusal, SecondLogin};
pub use stats::{LoginStats, RESULTS};

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
        })
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
