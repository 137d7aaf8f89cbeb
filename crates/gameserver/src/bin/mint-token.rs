//! `mint-token`: signs a connect token for development and tests, as a studio's backend
//! would (docs/protocol.md "Connect tokens").
//!
//! ```text
//! head -c 32 /dev/urandom | base64 > auth.secret
//! cargo run -p gameserver --bin mint-token -- --auth-secret auth.secret --player alice --rooms 1,2
//! ```

use std::path::PathBuf;

use clap::Parser;
use game_protocol::secret::read_secret;
use game_protocol::token::{is_player_id, mint, Claims};
use gameserver::login::AUTH_SECRET_ENV;

/// Prints a connect token (JWT, HS256) for one player.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The secret the servers check with (the file of `gameserver --auth-secret`); else
    /// GAMESERVER_AUTH_SECRET.
    #[arg(long, value_name = "FILE")]
    auth_secret: Option<PathBuf>,
    /// The player id (the token's `sub`: 1 to 64 bytes, printable).
    #[arg(long, value_name = "ID")]
    player: String,
    /// Seconds the token is valid for (at least 1).
    #[arg(long, value_name = "SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    ttl: u64,
    /// The only rooms (chat rooms and arenas) the player may enter (ROOM,ROOM,...); any if
    /// not given.
    #[arg(long, value_name = "ROOMS", value_delimiter = ',')]
    rooms: Option<Vec<u32>>,
}

fn main() {
    let args = Args::parse();
    let usage = |message: String| -> ! {
        eprintln!("mint-token: {message}");
        std::process::exit(2)
    };
    let secret = match read_secret(
        "--auth-secret",
        args.auth_secret.as_deref(),
        AUTH_SECRET_ENV,
    ) {
        Ok(Some(secret)) => secret,
        Ok(None) => usage(format!(
            "no secret: --auth-secret FILE or {AUTH_SECRET_ENV}=..."
        )),
        Err(err) => usage(err),
    };
    if !is_player_id(&args.player) {
        usage(format!(
            "--player {:?}: 1 to 64 printable bytes",
            args.player
        ));
    }
    let mut claims = Claims::valid_for(args.player, args.ttl);
    claims.rooms = args.rooms;
    match mint(&secret, &claims) {
        Ok(token) => println!("{token}"),
        Err(err) => usage(err.to_string()),
    }
}
