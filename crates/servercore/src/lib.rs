//! # servercore
//!
//! A game-server TCP session layer: the system of the lecture's WSAEventSelect and Overlapped
//! echo servers, finished and made fast, on Linux.
//!
//! ```text
//!   your Handler         connected / received / sent / disconnected / tick     (application)
//!        |  Context::send, close
//!   Session layer        SessionTable, RecvBuffer, SendQueue, SendBufferPool   (loop_core, session)
//!        |  received(slice) / wrote(n) / close(reason)
//!   Driver               epoll (mio): readiness  |  io_uring: completion        (driver/)
//!        |
//!   Kernel               epoll_wait, readv/writev |  SQE / CQE
//! ```
//!
//! A [`Service`] runs `threads` event loops. Each loop owns its sessions and a [`Handler`]
//! instance; a session lives on one loop for its whole life, so handlers need no locks. Sends
//! are queued as shared [`bytes::Bytes`] and flushed once per loop iteration with one vectored
//! write per session.
//!
//! ```no_run
//! use servercore::{Context, Handler, Service, ServiceConfig, SessionId};
//!
//! /// The lecture's echo server.
//! struct Echo;
//!
//! impl Handler for Echo {
//!     fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
//!         let _ = ctx.send_copy(id, data);
//!         data.len()
//!     }
//! }
//!
//! fn main() -> std::io::Result<()> {
//!     let service = Service::bind("0.0.0.0:7777".parse().unwrap(), ServiceConfig::default(), |_| Echo)?;
//!     println!("echo on {:?}", service.local_addr());
//!     std::thread::park(); // serve until killed
//!     Ok(())
//! }
//! ```

mod accept_backoff;
mod admission;
mod config;
mod context;
pub mod driver;
mod handler;
mod listener;
mod loop_core;
mod mailbox;
pub mod packet;
mod service;
pub mod session;
mod stats;

pub use admission::Refusal;
pub use config::{Model, ServiceConfig};
pub use context::{Context, SendError};
pub use handler::Handler;
pub use listener::Listener;
pub use service::Service;
pub use session::{CloseReason, RecvBuffer, SendQueue, SessionId};
pub use stats::LoopStats;
