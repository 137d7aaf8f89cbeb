//! The completion model on Windows: an I/O completion port — the lecture's Overlapped server
//! and its next step, the completion port, finished.
//!
//! | lecture (Overlapped I/O, completion port)             | here (Windows IOCP)                                    | io_uring driver (Linux)        |
//! |-------------------------------------------------------|--------------------------------------------------------|--------------------------------|
//! | `CreateIoCompletionPort(INVALID_HANDLE_VALUE, …)`     | one port per loop, made by its thread — `port.rs` [`CompletionPort::new`] | one ring per loop      |
//! | `CreateIoCompletionPort(socket, port, key, 0)`        | at `register`, key = the session's `SessionId` (slot + generation) — [`CompletionPort::associate`] | `user_data`: op, slot, generation |
//! | `SetFileCompletionNotificationModes(SKIP_…_ON_SUCCESS)` | at association: a call that completes at once queues nothing and is handled there ([`Started::Now`]) | a direct reply's `send(2)` with `MSG_DONTWAIT` |
//! | `AcceptEx` on sockets made beforehand                 | [`accept::ACCEPTS`] outstanding on the listener — `accept.rs`  | multishot `ACCEPT`             |
//! | `WSARecv` + `WSAOVERLAPPED` into `recvBuffer`         | one in flight per session, into its own buffer — `ops.rs` `RecvOp::start` | multishot `RECV`, provided buffers |
//! | `WSASend` with a `WSABUF` array                       | one in flight per session, up to 64 buffers and 64 KiB taken out of its queue — `ops.rs` `SendOp::start` | `SEND` / `SENDMSG` |
//! | `WSA_IO_PENDING`                                      | [`ops::Started::Pending`]: the completion comes through the port | every SQE                  |
//! | `GetQueuedCompletionStatus`                           | `GetQueuedCompletionStatusEx`, up to 256 a call — [`CompletionPort::wait`] | `io_uring_enter(GETEVENTS)` |
//! | `WSAGetOverlappedResult`                              | the op's `result` — `ops.rs`                          | the CQE's `res`                |
//! | "do not touch the buffer or OVERLAPPED while pending" | the ownership rule below                               | the same rule                  |
//! | `CancelIoEx` / `closesocket` with I/O pending         | `close`: `CancelIoEx`, socket closed after the last completion | `ASYNC_CANCEL`, fd closed after the last CQE |
//! | `PostQueuedCompletionStatus`                          | the loop's waker — `port.rs` `PortWaker`               | a write to an eventfd          |
//! | worker threads on one port                            | one port per loop thread: a session lives on one loop; the loop whose port took the shared listener deals connections out to the others' ports — `share.rs` | one ring (and listener) per loop thread |
//!
//! One loop iteration ([`LoopCore::run`](crate::loop_core::LoopCore)) is one
//! `GetQueuedCompletionStatusEx` ([`Driver::poll`]): before it the driver starts the
//! receives it owes (new sessions, resumed ones, the buffer lent by the last `read`) and the
//! accepts; the completions it takes off the port become the session layer's [`Event`]s. A
//! session's `read` starts its next `WSARecv` itself, and with the skip mode a receive that
//! finds bytes waiting completes in the call: a session is read until its socket is empty
//! with no trip through the port, and only then does a receive wait in the kernel.
//!
//! # The ownership rule
//!
//! Every buffer, `WSABUF` array and `OVERLAPPED` an operation names is the kernel's from the
//! call that returns `WSA_IO_PENDING` until its completion has been taken off the port —
//! even if the session was closed meanwhile. As in the io_uring driver (`uring.rs`):
//! - an operation's memory lives in a boxed record ([`ops::RecvOp`], [`ops::SendOp`],
//!   [`ops::AcceptOp`]), and starting one is `unsafe` with this rule as its contract;
//! - a receive's buffer is the connection's ([`conns::Recv`]): the kernel's while `Pending`,
//!   the session layer's while `Lent` (until the next call on the driver), and the next
//!   `WSARecv` is started only after that;
//! - a send's buffers are *taken* out of the session's queue into its `SendOp`, held by
//!   [`conns::SendState::InFlight`] until the completion, then given back (what was not sent);
//! - a socket lives in its [`conns::Conn`] record. [`Driver::close`] moves the record to the
//!   draining side of the table and cancels its operations (`CancelIoEx`); the record — the
//!   socket and every buffer — is freed only when no operation of it is left, so neither
//!   memory nor a socket handle is reused under a pending operation;
//! - a completion is matched to its record by its key, the session's generational id, and to
//!   the operation by comparing its `OVERLAPPED` pointer with the record's own: the pointer is
//!   never followed. A completion that finds no record (a stale id) is counted and dropped.
//!
//! If the driver is dropped with operations in flight (an error ended the loop), their
//! records are leaked instead of freed.

mod accept;
mod conns;
mod ops;
mod port;
mod share;
mod socket_io;
#[cfg(test)]
mod tests;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use self::accept::Acceptor;
use self::conns::{ConnTable, SendState};
use self::ops::{RecvOp, SendOp};
pub(crate) use self::port::probe;
use self::port::{take_handoff, Completion, CompletionPort, HANDOFF_KEY, LISTENER_KEY, WAKER_KEY};
use self::share::Membership;
use super::{Driver, DriverCounters, Event, Input, Outgoing, SendProgress, SocketOptions};
use crate::mailbox::Wake;
use crate::{ServiceConfig, SessionId};

/// Each session's receive buffer is `ServiceConfig::read_chunk` clamped to this range (4 KiB
/// by default): the most one receive brings, and what a pending receive holds. A buffer per
/// session, not per loop as io_uring's provided buffers: a `WSARecv` names its buffer when it
/// starts. Kept to a page because on Windows a pending receive locks its pages.
const RECV_BUFFER_SIZE: std::ops::RangeInclusive<usize> = 1024..=4096;
/// The most one `WSASend` is given when `ServiceConfig::socket_send_buffer` does not say:
/// a pending send holds (and on Windows locks) all of it until the last byte is taken.
const SEND_SIZE: usize = 64 * 1024;
/// How long a stopping loop waits for its cancelled operations' completions (a cancel
/// completes at once; this only bounds a kernel that misbehaves).
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);
/// Spare send and receive records kept for reuse.
const POOL: usize = 256;

/// What only this driver can count ([`Driver::counters`]).
#[derive(Debug, Default, Clone, Copy)]
struct IocpCounters {
    /// Receives, sends and accepts that completed in their call (the skip mode saved a
    /// trip through the port).
    completed_in_call: u64,
    /// Completions taken off the port.
    completions: u64,
    /// `GetQueuedCompletionStatusEx` calls that returned completions.
    batches: u64,
    /// Completions that named no live record or operation (dropped).
    stale_completions: u64,
    /// Connections another loop accepted and handed to this one (`share.rs`).
    handed_in: u64,
}

/// The completion driver of one loop.
#[derive(Debug)]
pub(crate) struct IocpDriver {
    port: CompletionPort,
    /// The listener and its `AcceptEx`s; `None` without a listener, once stopped, or when
    /// another loop's port holds the shared listening socket.
    accept: Option<Acceptor>,
    /// This loop's place among the loops sharing the listening socket: the accepting one
    /// deals connections out to the others (`share.rs`). `None` without a listener, or once
    /// the loop stopped accepting.
    share: Option<Membership>,
    conns: ConnTable,
    /// Sessions whose receive is to be started at the next poll (registered, resumed, or
    /// their buffer was lent).
    to_start: Vec<SessionId>,
    /// The session whose received bytes the last `read` lent.
    lent: Option<SessionId>,
    /// Completions taken off the port, reused.
    batch: Vec<Completion>,
    #[allow(clippy::vec_box)] // boxed on purpose: the kernel holds their addresses
    send_pool: Vec<Box<SendOp>>,
    #[allow(clippy::vec_box)]
    recv_pool: Vec<Box<RecvOp>>,
    recv_size: usize,
    /// The most one `WSASend` is given: `socket_send_buffer`, else [`SEND_SIZE`].
    send_size: usize,
    /// Set on every session's socket in `register`.
    options: SocketOptions,
    counters: IocpCounters,
}

impl IocpDriver {
    /// Creates the loop's completion port and takes `listener` into it (with [`accept::ACCEPTS`]
    /// accepts started at the first poll).
    ///
    /// # Errors
    /// `CreateIoCompletionPort` failed, or the listener could not be associated.
    pub(crate) fn new(
        listener: Option<TcpListener>,
        config: &ServiceConfig,
    ) -> io::Result<(IocpDriver, Box<dyn Wake>)> {
        let port = CompletionPort::new()?;
        let share = listener
            .as_ref()
            .and_then(|listener| Membership::join(listener, port.inbox()));
        let accept = match listener {
            Some(listener) => Acceptor::new(listener, &port)?,
            None => None,
        };
        let waker = port.waker();
        let driver = IocpDriver {
            port,
            accept,
            share,
            conns: ConnTable::default(),
            to_start: Vec::new(),
            lent: None,
            batch: Vec::with_capacity(port::BATCH),
            send_pool: Vec::new(),
            recv_pool: Vec::new(),
            recv_size: config
                .read_chunk
                .clamp(*RECV_BUFFER_SIZE.start(), *RECV_BUFFER_SIZE.end()),
            send_size: config.socket_send_buffer.unwrap_or(SEND_SIZE).max(1),
            options: SocketOptions::from_config(config),
            counters: IocpCounters::default(),
        };
        Ok((driver, Box::new(waker)))
    }

    /// Starts what is owed before a wait: the receives of `to_start` (one that completes in
    /// its call is reported `Readable` now) and the idle accepts.
    fn start_owed(&mut self, out: &mut Vec<Event>) {
        if let Some(id) = self.lent {
            self.return_lent();
            self.to_start.push(id);
        }
        let mut owed = std::mem::take(&mut self.to_start);
        for id in owed.drain(..) {
            if self.start_recv(id) {
                out.push(Event::Readable(id));
            }
        }
        self.to_start = owed;
        if let Some(acceptor) = &mut self.accept {
            acceptor.arm(self.share.as_ref(), out);
        }
    }

    /// Waits for completions (not at all if work is owed or was just found) and turns them
    /// into events.
    fn wait(&mut self, timeout: Option<Duration>, out: &mut Vec<Event>) -> io::Result<()> {
        let mut batch = std::mem::take(&mut self.batch);
        self.port.wait(timeout, &mut batch)?;
        if !batch.is_empty() {
            self.counters.batches += 1;
            self.counters.completions += batch.len() as u64;
        }
        for completion in batch.drain(..) {
            self.complete(completion, out);
        }
        self.batch = batch;
        Ok(())
    }

    /// One completion: found by its key, then by its `OVERLAPPED`.
    fn complete(&mut self, completion: Completion, out: &mut Vec<Event>) {
        match completion.key {
            WAKER_KEY => {} // it only ended the wait
            LISTENER_KEY => self.on_accept(completion.overlapped, out),
            HANDOFF_KEY => {
                // SAFETY: a completion keyed HANDOFF_KEY was posted by `PortInbox::hand`, and
                // each completion is handled once.
                let (stream, peer) = unsafe { take_handoff(completion.overlapped) };
                self.counters.handed_in += 1;
                out.push(Event::Accepted { stream, peer });
            }
            key => self.on_session(SessionId::from_u64(key as u64), completion.overlapped, out),
        }
    }

    fn on_accept(&mut self, overlapped: usize, out: &mut Vec<Event>) {
        let Some(acceptor) = &mut self.accept else {
            self.stale(overlapped, "an accept of a closed listener");
            return;
        };
        acceptor.complete(overlapped, self.share.as_ref(), out);
        self.close_stopped_listener();
    }

    /// A completion that names nothing of the driver's: counted, logged, dropped.
    fn stale(&mut self, overlapped: usize, what: &str) {
        self.counters.stale_completions += 1;
        tracing::error!(overlapped, "completion for {what}: dropped");
    }

    /// Closes the listener once stopping and its last accept completed.
    fn close_stopped_listener(&mut self) {
        if self
            .accept
            .as_ref()
            .is_some_and(|a| a.is_stopped() && !a.in_flight())
        {
            self.accept = None; // `closesocket`: no accept of it is left in the kernel
        }
    }

    /// True while any operation may still complete.
    fn in_flight(&self) -> bool {
        self.accept.as_ref().is_some_and(Acceptor::in_flight) || !self.conns.all_quiet()
    }

    /// The loop is over (every session closed): stops accepting and waits until the last
    /// completion is in (the ownership rule), at most [`CANCEL_TIMEOUT`].
    /// Connections handed to this loop before it left its group are taken off the port and
    /// closed.
    fn finish_ops(&mut self) -> io::Result<()> {
        self.stop_accepting_ops();
        self.return_lent();
        self.to_start.clear();
        let deadline = Instant::now() + CANCEL_TIMEOUT;
        let mut ignored = Vec::new();
        let mut handed_in_left = true;
        while handed_in_left {
            self.wait(Some(Duration::ZERO), &mut ignored)?;
            handed_in_left = !ignored.is_empty();
            ignored.clear(); // the service is stopping: the connections are closed
        }
        while self.in_flight() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::error!(
                    draining = self.conns.draining(),
                    "IOCP operations still in flight {CANCEL_TIMEOUT:?} after their cancel"
                );
                break;
            }
            self.wait(Some(left), &mut ignored)?;
            ignored.clear(); // only closed sessions' completions are left
        }
        tracing::debug!(counters = ?self.counters, "IOCP loop stopped");
        Ok(())
    }

    fn stop_accepting_ops(&mut self) {
        self.share = None; // no connection is handed to this loop from now on
        if let Some(acceptor) = &mut self.accept {
            acceptor.stop();
        }
        self.close_stopped_listener();
    }
}

impl IocpDriver {
    /// For `Drop` (the loop ended without `finish`): takes the connections handed to this
    /// loop off the port and closes them, so their boxes are not leaked in the port. Other
    /// completions taken here are ignored: `Drop` leaks what is in flight anyway.
    fn close_handed_in(&mut self) {
        let mut batch = Vec::new();
        while self.port.wait(Some(Duration::ZERO), &mut batch).is_ok() && !batch.is_empty() {
            for completion in batch.drain(..) {
                if completion.key == HANDOFF_KEY {
                    // SAFETY: as in `complete`: posted by `PortInbox::hand`, taken once.
                    drop(unsafe { take_handoff(completion.overlapped) });
                }
            }
        }
    }
}

impl Driver for IocpDriver {
    type Socket = TcpStream;

    fn poll(&mut self, timeout: Option<Duration>, out: &mut Vec<Event>) -> io::Result<()> {
        let before = out.len();
        self.start_owed(out);
        let owed = self.accept.as_ref().is_some_and(Acceptor::owes_arming);
        let timeout = if out.len() > before || owed {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        self.wait(timeout, out)
    }

    fn register(&mut self, id: SessionId, socket: TcpStream) -> io::Result<()> {
        self.options.apply(&socket);
        self.add_conn(id, socket)
    }

    fn adopt(&mut self, stream: TcpStream) -> io::Result<(TcpStream, SocketAddr)> {
        super::adopt_stream(stream)
    }

    /// A socket from `AcceptEx` is a blocking one: made non-blocking for the farewell.
    fn refuse(&mut self, socket: TcpStream, farewell: Option<&[u8]>) {
        if let Some(farewell) = farewell {
            if socket.set_nonblocking(true).is_ok() {
                super::send_farewell(&socket, farewell);
            }
        }
    }

    fn read(&mut self, id: SessionId) -> Input<'_> {
        self.next_input(id)
    }

    /// Allowed: the receive is started at the next poll (or `read`). Stopped: no new
    /// receive; one in flight still completes (at most `read_ahead` bytes).
    fn set_reading(&mut self, id: SessionId, on: bool) {
        let Some(conn) = self.conns.open_mut(id) else {
            return;
        };
        conn.reading = on;
        if conn.wants_recv() {
            self.to_start.push(id);
        }
    }

    /// Finishes a completed send (the untaken rest goes back to the queue's front), writes a
    /// head at once, or starts a `WSASend` of the queue's front.
    ///
    /// A head (a direct reply) goes out with a plain non-blocking `send` while no send is in
    /// flight: the kernel copies it during the call, so nothing is lent; what the socket did
    /// not take (`Wrote(n)`, `n` maybe 0) the caller queues. Queued bytes go out with an
    /// overlapped `WSASend` of at most `send_size` bytes, which the skip mode lets complete
    /// in the call (`Wrote`) or leaves pending (`Wait`; `Event::Writable` follows its
    /// completion). A pending `WSASend` holds all it was given until the peer's window
    /// takes the last of it, where `send(2)` would take what fits and return: the bound
    /// keeps what the kernel holds for a peer that does not read near the socket's own send
    /// buffer, as on the other models.
    fn send(&mut self, id: SessionId, out: Outgoing<'_>) -> io::Result<SendProgress> {
        let Some(conn) = self.conns.open_mut(id) else {
            return Ok(SendProgress::Idle);
        };
        match std::mem::take(&mut conn.send) {
            SendState::InFlight(op) => {
                conn.send = SendState::InFlight(op);
                Ok(SendProgress::Wait)
            }
            SendState::Done(mut op, result) => {
                let outcome = result.map(|n| {
                    op.complete(n as usize, out.queue);
                    SendProgress::Wrote(n as usize)
                });
                self.recycle_send(op);
                outcome
            }
            SendState::Idle if !out.head.is_empty() => socket_io::send_now(&conn.socket, out.head),
            SendState::Idle if out.queue.is_empty() => Ok(SendProgress::Idle),
            SendState::Idle => self.start_send(id, out.queue),
        }
    }

    /// `shutdown(SD_SEND)`: Winsock sends the FIN after the data it was already given.
    fn shutdown_write(&mut self, id: SessionId) -> io::Result<()> {
        self.conns.open_mut(id).map_or(Ok(()), |conn| {
            conn.socket.shutdown(std::net::Shutdown::Write)
        })
    }

    fn close(&mut self, id: SessionId) -> bool {
        self.close_conn(id)
    }

    fn resume_accepting(&mut self) {
        if let Some(acceptor) = &mut self.accept {
            acceptor.resume();
        }
    }

    fn stop_accepting(&mut self) {
        self.stop_accepting_ops();
    }

    fn finish(&mut self) -> io::Result<()> {
        self.finish_ops()
    }

    /// A receive in flight when reading is paused still completes: one buffer.
    fn read_ahead(&self) -> usize {
        self.recv_size
    }

    fn shrink(&mut self) {
        self.conns.shrink();
    }

    fn counters(&self) -> DriverCounters {
        let c = self.counters;
        vec![
            ("completed_in_call", c.completed_in_call),
            ("completions", c.completions),
            ("completion_batches", c.batches),
            ("stale_completions", c.stale_completions),
            ("connections_handed_in", c.handed_in),
        ]
    }
}

impl Drop for IocpDriver {
    fn drop(&mut self) {
        self.share = None;
        self.close_handed_in();
        if self.in_flight() {
            // The kernel may still write into receive buffers and OVERLAPPEDs, or read a
            // send's buffers: keep all of it rather than free memory it owns (the ownership
            // rule). Their sockets stay open too.
            tracing::error!(
                draining = self.conns.draining(),
                "IOCP driver dropped with operations in flight: leaking their memory"
            );
            std::mem::forget(self.conns.take_all());
            std::mem::forget(self.accept.take());
        }
    }
}
