//! `--game arena`: a 2D arena of players who move, see each other within a view radius, and
//! play tag — on the `rooms` facility (authoritative rooms with a tick, interest management,
//! delta snapshots). docs/protocol.md "The arena" has the messages and the rules.
//!
//! | file           | concept |
//! |----------------|---------|
//! | `config.rs`    | the `--arena-*` flags, the rules and bounds they make |
//! | `world.rs`     | the players of one arena, by entity id |
//! | `tag.rs`       | the game: who is "it", tagging |
//! | `snapshot.rs`  | one player's snapshot: view, diff, encoding into a pooled buffer |
//! | `room.rs`      | [`ArenaRoom`]: the tick and its phases |
//! | `handler.rs`   | [`Arena`]: one loop's packet handler |
//! | `stats.rs`     | counters and the split of tick time |
//! | `waiting.rs`   | clustered: joins waiting to learn their arena's owner |

mod config;
mod handler;
mod room;
mod snapshot;
mod stats;
mod tag;
mod waiting;
mod world;

pub use config::{ArenaArgs, ArenaConfig, MAX_CAPACITY, MAX_INPUTS_PER_TICK};
pub use handler::{arena_rooms, Arena};
pub use room::{ArenaRoom, OnClose};
pub use snapshot::{Frame, Writer};
pub use stats::{ArenaStats, Clamped, Phase};
pub use tag::{it_target, PLAYERS_PER_IT};
pub use waiting::{TooMany, Waiting, MAX_WAITING};
pub use world::{Player, World};
