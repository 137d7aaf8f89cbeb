//! # servercore
//!
//! A game-server TCP session layer: the system of the lecture's WSAEventSelect and Overlapped
//! echo servers, finished and made fast, on Linux. It builds and runs on macOS and Windows too,
//! with the readiness model only (mio over kqueue, or over an I/O completion port with AFD
//! polling); io_uring is Linux-only ([`Model::Uring`] is refused elsewhere).
//!
//! ```text
//!   your Handler    connected / received / sent / disconnected / tick / notified  (application)
//!     or PacketHandler, framed by packet::Packets
//!        |  Context: send, send_copy, close, abort, per-session data;
//!        |           PacketContext: packet, send_packet
//!   LoopCore        the loop, written once for both models                     (loop_core/)
//!                   poll -> dispatch -> commands -> flush -> tick/sweep;
//!                   sessions: SessionTable, RecvBuffer, SendQueue               (session/)
//!        |  Driver trait: poll / register / read / set_reading / send / close
//!        |  Events back: Accepted / AcceptFailed / Readable / Writable / Released
//!   Driver          epoll (mio): readiness    |  io_uring: completion          (driver/)
//!        |
//!   Kernel          epoll_wait, read, writev  |  io_uring_enter: multishot RECV,
//!                                             |  SENDMSG, multishot ACCEPT; CQEs
//! ```
//!
//! A [`Service`] runs `threads` event loops. Each loop owns its sessions and a [`Handler`]
//! instance; a session lives on one loop for its whole life, so handlers need no locks. The
//! loop and every decision about a session (read, pause for backpressure, hold input, flush,
//! close) are written once, above the driver, so both I/O models behave the same; a driver
//! only carries them out with its system calls. Sends are queued as shared [`bytes::Bytes`] (a
//! broadcast is serialized once) and flushed once per loop iteration: one `writev` per session
//! with epoll, one `SENDMSG` in flight per session with io_uring. Every limit is bounded and
//! documented in `docs/limits.md`; each loop's counters are read with [`Service::stats`]
//! ([`LoopStats`]).
//!
//! Around the loop:
//! - [`Service::wait`] serves until a [`StopHandle`] ([`Service::stop_handle`], e.g. from a
//!   signal handler thread) stops it or a loop fails, then drains and returns the handlers.
//! - A [`Notifier`] ([`Service::notifier`]) lets any thread wake a loop to run
//!   [`Handler::notified`], which drains the application's own queue on the loop's thread.
//! - [`packet::PacketContext`] (implemented by [`Context`]) serializes a packet once
//!   ([`packet`](packet::PacketContext::packet)) or sends one in a single call
//!   ([`send_packet`](packet::PacketContext::send_packet)).
//! - Per-session data: [`Context::set_data`], [`Context::data`], [`Context::data_mut`],
//!   [`Context::take_data`] attach a value (one per type) to a session; it is still readable in
//!   [`Handler::disconnected`] and dropped with the session.
//!
//! The lecture's echo server, in full:
//!
//! ```no_run
//! use servercore::{Context, Handler, Service, ServiceConfig, SessionId};
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
//!         let _ = ctx.send_copy(id, data); // an error means the session is closing
//!         data.len() // every byte consumed
//!     }
//! }
//!
//! fn main() -> std::io::Result<()> {
//!     let addr = "0.0.0.0:7777".parse().unwrap();
//!     let service = Service::bind(addr, ServiceConfig::default(), |_loop| Echo)?;
//!     println!("echo on {}", service.local_addr().unwrap());
//!     service.wait(); // serve until stopped (`Service::stop_handle`) or a loop fails
//!     Ok(())
//! }
//! ```
//!
//! More: `examples/echo_server.rs` and `examples/chat_server.rs` (rooms on [`packet`]),
//! `docs/lecture-map.md` (every Winsock call of the lecture and the Linux call that replaces
//! it, file by file), `docs/protocol.md`, `docs/limits.md`.

mod accept_backoff;
mod address_list;
mod admission;
mod clock;
mod config;
mod context;
mod driver;
mod handler;
mod listener;
mod lookalike;
mod loop_core;
mod mailbox;
mod notifier;
pub mod packet;
pub mod proxy;
mod service;
mod session;
mod slots;
mod stats;
mod stop_handle;
pub mod tls;
pub mod websocket;

pub use address_list::{AddressList, AddressListError};
pub use config::{Model, ServiceConfig};
pub use context::{Context, SendError};
pub use handler::{Handler, HeldRequest};
pub use lookalike::{first_bytes, Lookalike};
pub use notifier::Notifier;
pub use proxy::ProxyProtocol;
pub use service::Service;
pub use session::{CloseReason, Record, SessionId, Unrecorded, Violation};
pub use stats::LoopStats;
pub use stop_handle::StopHandle;
