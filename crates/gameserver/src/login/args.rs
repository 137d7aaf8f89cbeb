//! [`LoginArgs`]: the connect-token flags (`--auth-secret` and its companions).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::login::{Login, ResumeRules, SecondLogin, DEFAULT_LOGINS_PER_MINUTE};
use game_protocol::secret::read_secret;

/// The environment variable that may hold the connect tokens' secret.
pub use game_protocol::token::SECRET_ENV as AUTH_SECRET_ENV;

/// Connect tokens (packet mode): who a player is, as the studio's backend signed it.
#[derive(Debug, Clone, clap::Args)]
pub struct LoginArgs {
    /// Packet mode: require a connect token (a JWT signed HS256 with the secret in FILE, at
    /// least 32 bytes; or the secret in GAMESERVER_AUTH_SECRET) in a HELLO as each session's
    /// first packet, within --partial-timeout (docs/protocol.md "Connect tokens"; mint one
    /// with `mint-token`).
    #[arg(long, value_name = "FILE")]
    pub auth_secret: Option<PathBuf>,
    /// With connect tokens: a second login of a signed-in player replaces the first session
    /// (told SESSION_REPLACED), or is refused.
    #[arg(long, value_enum, value_name = "RULE", default_value_t = SecondLogin::Replace)]
    pub second_login: SecondLogin,
    /// With connect tokens: most logins of one player per minute (at least 1); beyond it a
    /// HELLO is refused (UNAUTHENTICATED), whatever the source.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LOGINS_PER_MINUTE,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub player_logins_per_minute: u32,
    /// With connect tokens: seconds a player's seat is held after its connection drops, for
    /// a RESUME (docs/protocol.md "Resume"); 0 turns resume off.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_RESUME_WINDOW_SECS,
          value_parser = clap::value_parser!(u16))]
    pub resume_window: u16,
    /// With connect tokens: most bytes sent to a seated player and not acknowledged that are
    /// kept for its RESUME; past it the seat is lost (SEAT_LOST).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_RESUME_BUFFER,
          value_parser = clap::value_parser!(u32).range(4096..=1 << 30))]
    pub resume_buffer: u32,
}

/// Default `--resume-window`, seconds.
pub const DEFAULT_RESUME_WINDOW_SECS: u16 = 30;
/// Default `--resume-buffer`, bytes.
pub const DEFAULT_RESUME_BUFFER: u32 = 256 * 1024;

impl LoginArgs {
    /// The login of these flags, tokens due within `deadline`; `None` without a secret.
    ///
    /// # Errors
    /// A message for the operator: an unreadable file or a secret too short.
    pub fn login(&self, deadline: Duration) -> Result<Option<Arc<Login>>, String> {
        let file = self.auth_secret.as_deref();
        let Some(secret) = read_secret("--auth-secret", file, AUTH_SECRET_ENV)? else {
            return Ok(None);
        };
        let resume = (self.resume_window > 0).then_some(ResumeRules {
            window_s: self.resume_window,
            buffer: self.resume_buffer,
        });
        let login = Login::new(
            &secret,
            deadline,
            self.second_login,
            self.player_logins_per_minute,
        )
        .map_err(|err| format!("--auth-secret: {err}"))?
        .with_resume(resume);
        Ok(Some(Arc::new(login)))
    }
}
