//! `--scenario arena`: bots in an arena of `gameserver --game arena`, moving and turning at
//! random, checking everything a client can check of the snapshots they get
//! (`game_protocol::arena::ClientWorld`), and measuring snapshot latency and bytes.
//!
//! | file          | concept |
//! |---------------|---------|
//! | `bot.rs`      | one bot: its join, its turns, its checks |
//! | `handler.rs`  | one event loop's bots; the run's phases |
//! | `run.rs`      | the run: connect, wait for the joins, move, drain, report |
//! | `stats.rs`    | counts per loop; the report |

mod bot;
mod handler;
mod run;
mod stats;

pub use bot::{Bot, Heard};
pub use handler::{BotHandler, BotShared, RunPhase};
pub use run::{run, ArenaLoad};
pub use stats::{ArenaReport, ArenaRunInfo, BotStats};
