//! The arena's messages (ids 10-16) and its rules: what the server simulates and what a client
//! can check. docs/protocol.md "The arena" explains the game; [`crate::schema`] has the
//! layouts these codecs follow.
//!
//! | file              | concept |
//! |-------------------|---------|
//! | `rules.rs`        | [`Rules`]: fixed-point positions, headings, the step of one tick |
//! | `messages.rs`     | ARENA_JOIN, ARENA_WELCOME, ARENA_INPUT, REDIRECT |
//! | `snapshot.rs`     | ARENA_SNAPSHOT: the server's encoder, the clients' reader |
//! | `client_world.rs` | [`ClientWorld`]: a player's view rebuilt from snapshots, and its checks |

mod client_world;
mod messages;
mod rules;
pub mod snapshot;

pub use client_world::{ClientWorld, IdHasher, IdMap, Violation};
pub use messages::{Input, Join, Redirect, Welcome, ACTION_TAG, INPUT_LEN, MAX_NAME};
pub use rules::{BadRule, Rules, MAX_IN_VIEW, MAX_SIZE, QUANTA};
pub use snapshot::{EntityState, Own, Snapshot, SnapshotEncoder, SnapshotHeader};

/// Entity flag: this player is "it" (the tagger).
pub const FLAG_IT: u8 = 1;
/// Entity flag: just tagged, cannot tag back yet.
pub const FLAG_COOLDOWN: u8 = 2;
