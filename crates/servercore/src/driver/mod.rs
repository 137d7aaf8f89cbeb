//! Drivers: the I/O models. Everything that knows about epoll or io_uring lives below here.
//!
//! A driver owns one loop's sockets and its kernel queue and runs the loop:
//!
//! ```text
//!   loop {
//!       wait for the kernel          (epoll_wait | io_uring_enter / reap CQEs)
//!       report what it said          -> LoopCore::{open, received, peer_closed, wrote, close}
//!       run mailbox commands         (adopted sockets, sends from other loops)
//!       carry out the pending list   (flush queued sends with one vectored write, closes)
//!       LoopCore::end_iteration      (tick, post to other loops)
//!   }
//! ```
//!
//! The contract between the session layer and a driver, written so both models fit:
//! - The session layer never touches a socket; the driver never interprets bytes.
//! - Bytes received are handed over as a slice ([`LoopCore::received`](crate::loop_core::LoopCore));
//!   the session layer copies only what the handler leaves unconsumed. So the driver may
//!   receive into memory it owns (a scratch buffer, a provided-buffer ring).
//! - Bytes to send wait in the session's [`SendQueue`](crate::session::SendQueue) as shared
//!   [`Bytes`](bytes::Bytes). A readiness driver writes straight from the queue; a completion
//!   driver *takes* the buffers out of the queue into the in-flight operation and owns them
//!   until the completion arrives, so closing a session can never free memory the kernel is
//!   still reading.
//! - A session closes through [`LoopCore::close`](crate::loop_core::LoopCore) exactly once;
//!   the driver decides when its socket is really released (at once for epoll, after the last
//!   completion for io_uring).
//!
//! The model is chosen at run time, here and nowhere else.

pub(crate) mod epoll;
pub(crate) mod uring;

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::OnceLock;

use crate::loop_core::LoopCore;
use crate::mailbox::Wake;
use crate::{Handler, Model, ServiceConfig};

/// One loop's I/O model, chosen at run time.
pub(crate) enum Driver {
    Epoll(epoll::EpollDriver),
    Uring(Box<uring::UringDriver>),
}

impl Driver {
    /// Builds the driver for `model` on the calling thread (io_uring rings must be created by
    /// the thread that submits to them). Returns it with the waker other threads use.
    pub(crate) fn new(
        model: Model,
        listener: Option<TcpListener>,
        config: &ServiceConfig,
    ) -> io::Result<(Driver, Box<dyn Wake>)> {
        match model {
            Model::Epoll | Model::Auto => {
                let (driver, waker) = epoll::EpollDriver::new(listener, config)?;
                Ok((Driver::Epoll(driver), waker))
            }
            Model::Uring => {
                let (driver, waker) = uring::UringDriver::new(listener, config)?;
                Ok((Driver::Uring(Box::new(driver)), waker))
            }
        }
    }

    /// Runs the loop until its mailbox asks it to stop; every session is closed on return.
    pub(crate) fn run<H: Handler>(&mut self, core: &mut LoopCore<H>) -> io::Result<()> {
        match self {
            Driver::Epoll(d) => d.run(core),
            Driver::Uring(d) => d.run(core),
        }
    }
}

/// Writes a refused connection its farewell (e.g. a "server full" packet) without blocking:
/// a fresh socket's send buffer is empty, so a short message goes out whole or not at all.
/// The caller closes the socket afterwards.
pub(crate) fn send_farewell(fd: BorrowedFd<'_>, farewell: Option<&[u8]>) {
    let Some(bytes) = farewell else { return };
    // SAFETY: `fd` is a live socket for the duration of the borrow, and `bytes` is a valid
    // slice for `bytes.len()` bytes; `send` only reads it.
    let sent = unsafe {
        libc::send(
            fd.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if sent < 0 {
        tracing::debug!("farewell not sent: {}", io::Error::last_os_error());
    }
}

/// Resolves [`Model::Auto`] to the model this kernel supports: io_uring if a probe ring
/// offers everything the completion driver uses, else epoll (logged once, with the reason).
pub(crate) fn resolve(model: Model) -> Model {
    static AUTO: OnceLock<Model> = OnceLock::new();
    match model {
        Model::Auto => *AUTO.get_or_init(|| match uring::probe() {
            Ok(()) => Model::Uring,
            Err(why) => {
                tracing::info!("io_uring cannot run the completion driver ({why}); using epoll");
                Model::Epoll
            }
        }),
        other => other,
    }
}
