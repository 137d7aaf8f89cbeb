//! # servercore
//!
//! A game-server TCP session layer: the system of the lecture's WSAEventSelect and Overlapped
//! echo servers, finished and made fast, on Linux.
//!
//! ```text
//!   your Handler    connected / received / sent / disconnected / tick        (application)
//!     or PacketHandler, framed by packet::Packets
//!        |  Context::send, send_copy, packet, close, abort
//!   Session layer   SessionTable, RecvBuffer, SendQueue, SendBufferPool      (loop_core, session)
//!        |  received(slice) / wrote(n) / close(reason)
//!   Driver          epoll (mio): readiness    |  io_uring: completion         (driver/)
//!        |
//!   Kernel          epoll_wait, read, writev  |  io_uring_enter: multishot RECV,
//!                                             |  SENDMSG, multishot ACCEPT; CQEs
//! ```
//!
//! A [`Service`] runs `threads` event loops. Each loop owns its sessions and a [`Handler`]
//! instance; a session lives on one loop for its whole life, so handlers need no locks. Sends
//! are queued as shared [`bytes::Bytes`] (a broadcast is serialized once) and flushed once per
//! loop iteration: one `writev` per session with epoll, one `SENDMSG` in flight per session
//! with io_uring. Every limit is bounded and documented in `docs/limits.md`; each loop's
//! counters are read with [`Service::stats`] ([`LoopStats`]).
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
mod config;
mod context;
mod driver;
mod handler;
mod listener;
mod loop_core;
mod mailbox;
mod notifier;
pub mod packet;
mod proxy_header;
mod service;
pub mod session;
mod stats;
mod stop_handle;
pub mod websocket;

pub use address_list::{AddressList, AddressListError};
pub use config::{Model, ProxyProtocol, ServiceConfig};
pub use context::{Context, SendError};
pub use handler::Handler;
pub use notifier::Notifier;
pub use proxy_header::{
    read_proxy_header, ProxiedSource, ProxyHeaderError, ProxyHeaderRead, ProxyVersion,
    MAX_HEADER_LEN, V1_MAX_LEN, V2_MAX_LEN, V2_MAX_PAYLOAD, V2_SIGNATURE,
};
pub use service::Service;
pub use session::{CloseReason, RecvBuffer, SendQueue, SessionId};
pub use stats::LoopStats;
pub use stop_handle::StopHandle;
