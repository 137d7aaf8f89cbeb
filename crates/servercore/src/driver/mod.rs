//! Drivers: the I/O models. Everything that knows about epoll or io_uring lives below here.
//!
//! The loop itself is written once, in [`LoopCore::run`](crate::loop_core::LoopCore): like
//! muduo's `EventLoop::loop()` over its `Poller`, it owns the iteration and a driver only
//! carries out what it is told and reports what the kernel said:
//!
//! ```text
//!   LoopCore::run                          Driver (epoll | io_uring)
//!   loop {
//!       wait for the kernel          ----> poll(timeout, &mut events)
//!       for each Event                     Accepted / AcceptFailed / Readable / Writable / Released
//!           Readable: take input     ----> read(id) until Input::Wait
//!           Writable: flush          ----> send(id, head + queue) until Wait / Idle
//!       mailbox commands (adopt)     ----> register(id, socket)
//!       pending list: flush, close   ----> send / set_reading / close
//!       tick, notified, post to other loops
//!   }
//!   drain, close the rest            ----> close, finish
//! ```
//!
//! The contract, written so both models fit:
//! - The session layer never touches a socket; the driver never interprets bytes and never
//!   sees a session, only its [`SessionId`] and, for a send, its [`SendQueue`].
//! - Input is lent, not copied: [`Driver::read`] returns a slice of memory the driver owns (a
//!   scratch buffer, a provided-buffer ring) that the session layer copies only what the
//!   handler leaves unconsumed out of.
//! - Output waits in the session's [`SendQueue`] as shared [`Bytes`](bytes::Bytes). A
//!   readiness driver writes straight from the queue; a completion driver *takes* the
//!   buffers out of it into the in-flight operation and owns them until the completion
//!   arrives, so closing a session can never free memory the kernel is still reading.
//! - One send, "try now, else wait" ([`Driver::send`], compio's `pre_submit`): the driver
//!   writes what the kernel takes now and waits (a writable edge, a completion) for the
//!   rest. Ahead of the queue it may be lent a `head` ([`Outgoing`]: a direct reply, bytes
//!   the loop owns) for the call only: written with a call that copies them before it
//!   returns (`send(2)`), never lent to the kernel; what of it the driver did not take, the
//!   session layer puts at the front of the queue.
//! - Whether a session reads is the session layer's decision ([`Driver::set_reading`]); input
//!   the kernel already completed while reading was being paused is still handed over by
//!   `read`, and the session layer holds it in the session's `RecvBuffer` (within its limit).
//! - A session's socket is let go through [`Driver::close`] exactly once; the driver decides
//!   when its descriptor is really closed (at once for epoll, after the last completion for
//!   io_uring) and says so with [`Event::Released`].
//!
//! The model is chosen at run time, here and nowhere else ([`start`]), and so is the platform
//! split: io_uring is Linux's, so the `uring` module, its [`AnyDriver`] variant and its arms
//! exist only there (`cfg(target_os = "linux")`). Elsewhere the readiness driver is the only
//! one, on what `mio` sits on there: kqueue on macOS and the BSDs, AFD polling over an I/O
//! completion port on Windows; [`Model::Auto`] picks it and [`Model::Uring`] is refused with
//! [`io::ErrorKind::Unsupported`].

/// The one funnel for raw libc calls (mio's `syscall!`): evaluates the call (an `unsafe`
/// block at the call site, with its `// SAFETY:` note) and turns the C failure value `-1`
/// into `io::Error::last_os_error()`. Only the io_uring driver makes raw calls.
#[cfg(target_os = "linux")]
macro_rules! syscall {
    ($call:expr) => {{
        let res = $call;
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

pub(crate) mod acceptor;
#[cfg(test)]
mod contract_tests;
pub(crate) mod epoll;
mod socket_call;
#[cfg(target_os = "linux")]
pub(crate) mod uring;

/// Whether the completion driver can run here: what a probe ring offers.
#[cfg(target_os = "linux")]
use uring::probe as probe_uring;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use crate::mailbox::Wake;
use crate::session::SendQueue;
use crate::{Model, ServiceConfig, SessionId};

/// What the kernel said, as the session layer hears it. `S` is the driver's
/// [`Driver::Socket`].
#[derive(Debug)]
pub(crate) enum Event<S = TcpStream> {
    /// The listener produced a connection (not yet a session: admission decides).
    Accepted { stream: S, peer: SocketAddr },
    /// Accepting failed for the listener's sake (descriptor exhaustion or worse); the driver
    /// has stopped accepting until [`Driver::resume_accepting`]. Errors about one connection
    /// only are skipped by the driver ([`AcceptBackoff::is_transient`](crate::accept_backoff::AcceptBackoff::is_transient)).
    AcceptFailed(io::Error),
    /// Input (bytes, EOF or an error) may be waiting for session `id`: [`Driver::read`] it.
    Readable(SessionId),
    /// A send of session `id` can make progress (the socket drained, or a send completed):
    /// call [`Driver::send`].
    Writable(SessionId),
    /// A closed session's descriptor is really closed now (a descriptor is free again).
    #[cfg_attr(
        not(target_os = "linux"),
        allow(
            dead_code,
            reason = "the readiness driver closes at once: only io_uring defers"
        )
    )]
    Released,
}

/// The next input of a session, from [`Driver::read`].
#[derive(Debug)]
pub(crate) enum Input<'a> {
    /// Bytes, lent until the next call on the driver.
    Data(&'a [u8]),
    /// The peer finished sending (FIN).
    Eof,
    /// The socket failed (reset, timeout); the session is to be closed.
    Failed(io::Error),
    /// Nothing more now (`EAGAIN`, no completion, reading paused, or no such session).
    Wait,
}

/// What a session has to send, for one [`Driver::send`].
#[derive(Debug)]
pub(crate) struct Outgoing<'a> {
    /// Bytes to write before the queue, lent for this call only (a direct reply); may be
    /// empty. The driver never keeps them: what it did not write, the caller queues.
    pub(crate) head: &'a [u8],
    /// The session's queue, after `head`.
    pub(crate) queue: &'a mut SendQueue,
}

/// What [`Driver::send`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendProgress {
    /// The kernel took `n` more bytes: first of the head, then of the queue (advanced past
    /// them). Nothing is in flight after it, so an empty queue means
    /// [`SendProgress::Idle`] without asking again. `n` may be less than the head (0 too,
    /// from a completion driver that cannot lend the head to the kernel): the caller queues
    /// the rest and calls again.
    Wrote(usize),
    /// Nothing more can go now; [`Event::Writable`] will say when (a full socket buffer, or
    /// a send in flight).
    Wait,
    /// Nothing is queued and nothing is in flight.
    Idle,
}

/// Counters only a driver can know, as named pairs (each model has its own names), copied
/// into [`LoopStats::driver`](crate::LoopStats::driver).
pub(crate) type DriverCounters = Vec<(&'static str, u64)>;

/// One I/O model: the few things that really differ between readiness and completion.
///
/// Every method but [`Driver::poll`] returns at once; none calls back into the session layer.
pub(crate) trait Driver {
    /// A connection before it is a session's: what [`Event::Accepted`] carries and
    /// [`Driver::register`] takes (a `TcpStream` for the kernel's drivers). The session layer
    /// only passes it on.
    type Socket;

    /// Submits what is queued, waits for the kernel (at most `timeout`; not at all if the
    /// driver already has work to report) and appends what it said to `events`.
    ///
    /// # Errors
    /// The kernel wait failed for good (not `EINTR`): the loop ends.
    fn poll(
        &mut self,
        timeout: Option<Duration>,
        events: &mut Vec<Event<Self::Socket>>,
    ) -> io::Result<()>;

    /// Takes `socket` as session `id`'s, sets the session socket options the driver was
    /// started with ([`SocketOptions`]) and starts reading it.
    ///
    /// # Errors
    /// The socket could not be registered; it is closed, and the session is to be.
    fn register(&mut self, id: SessionId, socket: Self::Socket) -> io::Result<()>;

    /// A connected socket from another thread (`Service::adopt`, an accept thread) as this
    /// driver's, with its peer.
    ///
    /// # Errors
    /// The peer is gone already (`getpeername` failed).
    fn adopt(&mut self, stream: TcpStream) -> io::Result<(Self::Socket, SocketAddr)>;

    /// A connection that does not become a session: writes `farewell` (e.g. a "server full"
    /// packet) without blocking, if any, and closes it.
    fn refuse(&mut self, socket: Self::Socket, farewell: Option<&[u8]>);

    /// The next input of `id`: call until [`Input::Wait`] after an [`Event::Readable`].
    fn read(&mut self, id: SessionId) -> Input<'_>;

    /// Allows (`true`) or stops (`false`) reading `id` (backpressure, closing).
    fn set_reading(&mut self, id: SessionId, on: bool);

    /// Sends `out` for `id`: tries now, else waits. Writes what the kernel takes now
    /// (readiness: `send`/`writev`; completion: `send(2)` of the head while nothing is in
    /// flight) and waits for the rest ([`Event::Writable`] comes: a writable edge, or a
    /// completion of the queue's front submitted now). Also finishes a completed send
    /// (giving what the kernel did not take back to the queue's front).
    ///
    /// # Errors
    /// The socket failed; the session is to be closed.
    fn send(&mut self, id: SessionId, out: Outgoing<'_>) -> io::Result<SendProgress>;

    /// Shuts down `id`'s sending side (`shutdown(SHUT_WR)`: a FIN behind what was sent) for
    /// a lingering close; reading goes on.
    ///
    /// # Errors
    /// The socket failed; the session is to be closed.
    fn shutdown_write(&mut self, id: SessionId) -> io::Result<()>;

    /// Lets go of `id`'s socket (dropping its unsent output). Returns true if its descriptor
    /// was closed now; otherwise [`Event::Released`] follows when it is.
    fn close(&mut self, id: SessionId) -> bool;

    /// Accepting may resume after [`Event::AcceptFailed`].
    fn resume_accepting(&mut self);

    /// Closes the listener for good (shutdown: no new sessions while draining).
    fn stop_accepting(&mut self);

    /// The loop is over and every session closed: waits until the kernel holds nothing of the
    /// driver's (the ownership rule), at most a few seconds.
    ///
    /// # Errors
    /// The kernel wait failed.
    fn finish(&mut self) -> io::Result<()>;

    /// Bytes the kernel may still complete for one session after `set_reading(false)`: 0 for
    /// a readiness driver (it simply stops reading); for a completion driver, what one batch
    /// of receives already in flight can bring. Input held while paused may pass
    /// `recv_buffer_limit` by this much, and no more.
    fn read_ahead(&self) -> usize {
        0
    }

    /// Gives back memory held for sessions that closed (after a burst): per-session tables
    /// are cut after the last live entry. Called at most once a sweep, after closes.
    fn shrink(&mut self) {}

    /// The driver's own counters so far, by name (none for a driver that has none).
    fn counters(&self) -> DriverCounters {
        Vec::new()
    }
}

/// A started driver of either model.
pub(crate) enum AnyDriver {
    Epoll(epoll::EpollDriver),
    #[cfg(target_os = "linux")]
    Uring(Box<uring::UringDriver>),
}

/// The options every session's socket gets when it is registered (from [`ServiceConfig`]):
/// the session layer never touches a socket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SocketOptions {
    /// `TCP_NODELAY` (`ServiceConfig::nodelay`).
    nodelay: bool,
    /// `SO_SNDBUF` (`ServiceConfig::socket_send_buffer`).
    send_buffer: Option<usize>,
}

impl SocketOptions {
    pub(crate) fn from_config(config: &ServiceConfig) -> SocketOptions {
        SocketOptions {
            nodelay: config.nodelay,
            send_buffer: config.socket_send_buffer,
        }
    }

    /// Applies the options to a session's socket; a failure is logged, not fatal (the
    /// session works without them).
    pub(crate) fn apply(self, stream: &TcpStream) {
        if self.nodelay {
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!("TCP_NODELAY: {err}");
            }
        }
        if let Some(size) = self.send_buffer {
            if let Err(err) = socket2::SockRef::from(stream).set_send_buffer_size(size) {
                tracing::debug!("SO_SNDBUF: {err}");
            }
        }
    }
}

/// Builds the driver for `model` on the calling thread (io_uring rings must be created by the
/// thread that submits to them). Returns it with the waker other threads use.
///
/// # Errors
/// The kernel refused the driver's set-up (`epoll_create`, `io_uring_setup`, …), or
/// [`io::ErrorKind::Unsupported`]: io_uring was asked for on another OS than Linux.
pub(crate) fn start(
    model: Model,
    listener: Option<TcpListener>,
    config: &ServiceConfig,
) -> io::Result<(AnyDriver, Box<dyn Wake>)> {
    match model {
        Model::Epoll | Model::Auto => {
            let (driver, waker) = epoll::EpollDriver::new(listener, config)?;
            Ok((AnyDriver::Epoll(driver), waker))
        }
        #[cfg(target_os = "linux")]
        Model::Uring => {
            let (driver, waker) = uring::UringDriver::new(listener, config)?;
            Ok((AnyDriver::Uring(Box::new(driver)), waker))
        }
        #[cfg(not(target_os = "linux"))]
        Model::Uring => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            URING_IS_LINUX_ONLY,
        )),
    }
}

/// Why [`Model::Uring`] is refused on this OS (the error of [`start`], the reason [`resolve`]
/// logs).
#[cfg(not(target_os = "linux"))]
const URING_IS_LINUX_ONLY: &str =
    "io_uring is Linux-only: use --model epoll (or auto), the readiness model, on this OS";

/// Resolves [`Model::Auto`] to the model this kernel supports: io_uring if a probe ring
/// offers everything the completion driver uses, else epoll (logged once, with the reason).
/// On another OS than Linux that is always epoll (mio's readiness).
pub(crate) fn resolve(model: Model) -> Model {
    static AUTO: OnceLock<Model> = OnceLock::new();
    match model {
        Model::Auto => *AUTO.get_or_init(|| match probe_uring() {
            Ok(()) => Model::Uring,
            Err(why) => {
                tracing::info!("io_uring cannot run the completion driver ({why}); using epoll");
                Model::Epoll
            }
        }),
        other => other,
    }
}

/// Whether the completion driver can run here: never, off Linux.
#[cfg(not(target_os = "linux"))]
fn probe_uring() -> Result<(), String> {
    Err(URING_IS_LINUX_ONLY.to_owned())
}

/// Cuts a table indexed by session slot after its last occupied entry, and gives back its
/// memory when much larger than that (a driver's [`Driver::shrink`]).
pub(crate) fn shrink_slots<T>(slots: &mut Vec<Option<T>>) {
    let len = slots
        .iter()
        .rposition(Option::is_some)
        .map_or(0, |last| last + 1);
    slots.truncate(len);
    if slots.capacity() > 2 * len + 64 {
        slots.shrink_to(len + len / 4);
    }
}

/// The peer of a socket handed over from another thread ([`Driver::adopt`] of the kernel's
/// drivers, whose sockets are `TcpStream`s).
pub(super) fn adopt_stream(stream: TcpStream) -> io::Result<(TcpStream, SocketAddr)> {
    let peer = stream.peer_addr()?;
    Ok((stream, peer))
}

/// Writes a refused connection its farewell (e.g. a "server full" packet) without blocking:
/// a fresh socket's send buffer is empty, so a short message goes out whole or not at all.
/// The caller closes the socket afterwards.
pub(super) fn send_farewell(stream: &TcpStream, farewell: &[u8]) {
    let socket = socket2::SockRef::from(stream);
    if let Err(err) = socket.send_with_flags(farewell, FAREWELL_FLAGS) {
        tracing::debug!("farewell not sent: {err}");
    }
}

/// `send` flags of [`send_farewell`]: never block (an io_uring driver's accepted socket is a
/// blocking one) and never raise `SIGPIPE` if the peer is already gone.
#[cfg(unix)]
const FAREWELL_FLAGS: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;

/// `send` flags of [`send_farewell`] on Windows: none. Winsock has no `SIGPIPE`, and no
/// per-call non-blocking flag; it needs none, since only the readiness driver runs there and
/// `mio` makes every socket it accepts non-blocking.
#[cfg(windows)]
const FAREWELL_FLAGS: i32 = 0;

/// The platform split off Linux (these run on macOS and Windows; on Linux the io_uring
/// driver's own tests cover `start` and `resolve`, `driver/uring/tests.rs`).
#[cfg(all(test, not(target_os = "linux")))]
mod tests {
    use super::*;

    #[test]
    fn uring_is_refused_with_a_reason_and_auto_is_the_readiness_model() {
        let config = ServiceConfig::default();
        let err = start(Model::Uring, None, &config)
            .err()
            .expect("io_uring refused");
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        assert!(err.to_string().contains("Linux-only"), "{err}");
        assert_eq!(resolve(Model::Auto), Model::Epoll);
        assert!(matches!(
            start(resolve(Model::Auto), None, &config),
            Ok((AnyDriver::Epoll(_), _))
        ));
    }
}
