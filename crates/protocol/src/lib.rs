//! # game-protocol
//!
//! The game protocol of `gameserver --protocol packet`, defined once. Packet ids and body
//! layouts used to be written in four places (the server, the load generator, a test server
//! and the chat page's script); now there is one table, [`schema::PACKETS`], and everything
//! else is made from it or checked against it:
//!
//! ```text
//!                         schema.rs  (ids, directions, layouts: the one definition)
//!          ┌───────────────┬──────────┴──────┬──────────────────────┐
//!   ids.rs: constants   codec.rs: a        js.rs: the pages'    markdown.rs: the docs'
//!   read from the       schema-driven      JavaScript codec      packet table
//!   table at compile    codec (Rust)       (web/*.html, between  (docs/protocol.md,
//!   time                  │                 markers)              between markers)
//!                         │ checks                 └───── tests/drift.rs: a copy that is not
//!   chat.rs, arena/: hand-written codecs for the       exactly the generated text fails
//!   hot paths (tests/codecs.rs round-trips every        (`--bin write-generated` rewrites)
//!   packet of the table through `codec`)
//! ```
//!
//! The Rust users — `gameserver`, `dummyclient`, the test servers — depend on this crate and
//! hold no copy. The arena's movement rule ([`arena::Rules`]) lives here too: the server
//! simulates with it and clients check (or predict) with it, bit for bit.
//!
//! # Examples
//! ```
//! use game_protocol::arena::{Input, Rules};
//! use game_protocol::{codec, ids, schema};
//!
//! let input = Input { seq: 1, direction: 64, speed: 100, actions: 0 };
//! let body = input.encode();
//! let fields = schema::packet_by_id(ids::ARENA_INPUT).unwrap().fields;
//! let record = codec::decode(fields, &body).unwrap();
//! assert_eq!(record[1], ("direction", codec::Value::Int(64)));
//! let rules = Rules { tick_hz: 20, size: 1000, view_radius: 100, max_speed: 120, tag_radius: 24, max_in_view: 256 };
//! assert_eq!(rules.velocity(input.direction, input.speed), (0, 40)); // +y, 100 * 8 / 20 quanta
//! ```

pub mod arena;
pub mod chat;
pub mod codec;
pub mod generated;
pub mod ids;
pub mod js;
pub mod login;
pub mod markdown;
pub mod resume;
pub mod schema;
pub mod secret;
pub mod text;
pub mod token;
