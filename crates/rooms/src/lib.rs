//! # rooms
//!
//! Rooms that own game state, on servercore's event loops: the lecture course's job queue per
//! room, Nakama's match loop, Colyseus' fixed simulation interval with per-client state
//! filtering. A studio writes a [`Room`]; this crate runs it.
//!
//! ## The design
//!
//! **A room is owned by one event loop** — loop `id % loops` ([`RoomId::owner`]) — and every
//! call into it runs on that loop's thread, one at a time: the room's code never locks. A
//! member may live on any loop (servercore puts a session on the loop that accepted it). What a
//! member does is routed to the room's loop:
//!
//! ```text
//!   member's loop A                                      room's loop B
//!   handler: host.input(ctx, member, x)
//!     same loop? ── yes ─> the room, now ───────────────────────────────┐
//!        └─ no ─> post Job::Input to B's queue ─ Notifier::notify(B) ─> B: Handler::notified
//!                 (FIFO per poster: one member's inputs                 host.notified(ctx)
//!                  keep their order)                                     └> the room
//!   room: ctx.send / ctx.broadcast (one pooled buffer for all) ─> members on any loop
//! ```
//!
//! - **Tick**: with `tick_hz`, each room runs a fixed tick ([`Room::tick`]): the inputs
//!   queued since the last tick are applied first ([`Room::input`], in arrival order, at most
//!   `max_inputs_per_tick` per member), then the room advances its state and sends each member
//!   what it should see. Without a tick (a chat room) each input is applied as it arrives.
//! - **Timers**: [`RoomContext::set_timer`] calls [`Room::timer`] on the room's loop later.
//! - **Seats**: a join answered by another loop holds the member's next operations until the
//!   answer comes ([`RoomHost::join`]): so "join, then speak at once" speaks in the new room, and
//!   one member's operations reach rooms in the order it made them, across loops.
//! - **Interest management** ([`interest`]): a spatial grid sized to the view radius, each
//!   member's view, and deltas against what it was last sent, written by the game's encoder
//!   into one pooled buffer per member per tick.
//! - **Bounds** ([`RoomsConfig`]): members per room, inputs queued per room and posted per
//!   loop, inputs per member per tick, operations held per session, timers per room: what a
//!   member sends can never grow a room without bound; what is dropped is counted by reason
//!   ([`RoomsSnapshot`]).
//!
//! ## Why a crate of its own
//!
//! servercore is the session layer: sockets, loops, buffers, framing — the part every game
//! shares and no game's rules touch. Rooms are the first layer of *game* structure, and a
//! studio may want other shapes (a lobby service without rooms, a different interest scheme);
//! keeping them apart keeps servercore's API small and lets this crate grow on servercore's
//! public API only ([`servercore::Handler`]'s `notified` and `tick`, [`servercore::Notifier`],
//! [`servercore::Context`]). gameserver's chat rooms and its arena are its first two users.
//!
//! ## Wiring
//!
//! ```no_run
//! use rooms::{Room, RoomContext, RoomHost, RoomId, RoomsConfig, RoomsHub, Refused};
//! use servercore::{Context, Handler, Service, ServiceConfig, SessionId};
//!
//! /// A room that echoes every input to every member.
//! struct Echoes;
//! impl Room for Echoes {
//!     type Join = ();
//!     type Input = bytes::Bytes;
//!     type Timer = ();
//!     fn join(&mut self, _: &mut RoomContext<'_, '_, ()>, _: SessionId, _: ()) -> Result<(), Refused> {
//!         Ok(())
//!     }
//!     fn leave(&mut self, _: &mut RoomContext<'_, '_, ()>, _: SessionId) {}
//!     fn input(&mut self, ctx: &mut RoomContext<'_, '_, ()>, _: SessionId, input: bytes::Bytes) {
//!         ctx.broadcast(&input);
//!     }
//! }
//!
//! /// Each session joins room 1 and everything it sends goes to the room.
//! struct Game {
//!     rooms: RoomHost<Echoes>,
//! }
//! impl Handler for Game {
//!     fn connected(&mut self, ctx: &mut Context<'_>, id: SessionId) {
//!         let _ = self.rooms.join(ctx, id, RoomId(1), ());
//!     }
//!     fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
//!         let copy = bytes::Bytes::copy_from_slice(data);
//!         let _ = self.rooms.input(ctx, id, copy);
//!         data.len()
//!     }
//!     fn disconnected(&mut self, ctx: &mut Context<'_>, id: SessionId, _: servercore::CloseReason) {
//!         self.rooms.disconnected(ctx, id);
//!     }
//!     fn notified(&mut self, ctx: &mut Context<'_>) {
//!         self.rooms.notified(ctx);
//!     }
//!     fn tick(&mut self, ctx: &mut Context<'_>) {
//!         self.rooms.tick(ctx);
//!     }
//! }
//!
//! # fn main() -> std::io::Result<()> {
//! let config = RoomsConfig::default();
//! let service_config = ServiceConfig { tick: Some(config.loop_tick()), ..Default::default() };
//! let hub = RoomsHub::new(service_config.threads, config, |_room| Echoes);
//! let service = Service::bind("0.0.0.0:7777".parse().unwrap(), service_config, |i| Game {
//!     rooms: hub.host(i),
//! })?;
//! hub.bind(service.notifier());
//! service.wait();
//! # Ok(())
//! # }
//! ```
//!
//! `examples/buzzer.rs` is a whole game on it (a tick, a timer, inputs, a result), with a demo.
//!
//! | file              | concept |
//! |-------------------|---------|
//! | `room.rs`         | [`Room`]: the game's hooks; [`RoomId`] and its owning loop |
//! | `context.rs`      | [`RoomContext`]: members, sends, timers, the loop's context |
//! | `hub.rs`          | [`RoomsHub`]: the rooms of a service, each loop's host, visits, stats |
//! | `host.rs`         | [`RoomHost`]: one loop's rooms and seats; routing; the loop's hooks |
//! | `jobs.rs`         | the job queue of each loop |
//! | `outbound.rs`     | a room's sends to other loops' members, batched per loop |
//! | `seat.rs`         | a session's place, and what waits for a join's answer |
//! | `slot.rs`         | an owned room: members, queued inputs, schedule, timers |
//! | `members.rs`, `timers.rs`, `schedule.rs` | the slot's parts |
//! | `config.rs`, `stats.rs` | bounds; counters and the tick-time histogram |
//! | `interest/`       | [`interest::Grid`], [`interest::View`], [`interest::Interest`] |

mod config;
mod context;
mod host;
mod hub;
pub mod interest;
mod jobs;
mod members;
mod outbound;
mod room;
mod schedule;
mod seat;
mod slot;
mod stats;
mod timers;

pub use config::RoomsConfig;
pub use context::{RoomContext, TickInfo};
pub use host::{InputError, RoomHost};
pub use hub::RoomsHub;
pub use members::Members;
pub use room::{Refused, Room, RoomId};
pub use schedule::{Due, Schedule, MAX_BEHIND};
pub use stats::{Dropped, LoopRoomStats, RoomsSnapshot};
pub use timers::{TimerId, Timers, TooManyTimers};
