//! The completion model: io_uring — the lecture's Overlapped I/O / IOCP server, finished.
//!
//! | lecture (Overlapped I/O, IOCP)                      | here (Linux io_uring)                                  |
//! |-----------------------------------------------------|--------------------------------------------------------|
//! | `WSARecv` + `WSAOVERLAPPED`                         | `IORING_OP_RECV` (multishot, provided buffers) SQE with `user_data` |
//! | `WSASend` with a `WSABUF` array                     | `IORING_OP_SENDMSG` with an iovec array (`MSG_NOSIGNAL`) |
//! | `WSASend` that completes at once, with `FILE_SKIP_COMPLETION_PORT_ON_SUCCESS` | a direct reply while no send is in flight: `send(2)` with `MSG_DONTWAIT`, no SQE; the rest (a full socket) is queued as a `SEND` SQE |
//! | `AcceptEx`                                          | multishot `IORING_OP_ACCEPT` (peer from `getpeername`) |
//! | `WSA_IO_PENDING`                                    | the SQE is queued; its CQE comes later                 |
//! | `WSAWaitForMultipleEvents` / `GetQueuedCompletionStatus` | `io_uring_enter(GETEVENTS)` / reaping the CQ      |
//! | `WSAGetOverlappedResult`                            | the CQE's `res` (bytes, or `-errno`)                   |
//! | the completion key / `OVERLAPPED*` telling ops apart | `user_data`: op kind, driver slot, generation          |
//! | "do not touch the buffer or OVERLAPPED while pending" | the ownership rule below                             |
//! | `PostQueuedCompletionStatus` (wake a waiting thread) | a write to the loop's eventfd, whose read is always in flight |
//! | IOCP worker threads                                 | one ring per loop thread, created and used by it only  |
//!
//! One loop iteration ([`LoopCore::run`](crate::loop_core::LoopCore)) is one `io_uring_enter`
//! ([`Driver::poll`]): it submits every SQE queued since the last one (re-armed recvs, one
//! send per session with output, cancels) and waits for completions; the reaped CQEs become
//! the session layer's [`Event`]s. The session layer then reads the completed input
//! ([`Driver::read`]) and queues the next sends ([`Driver::send`]) — which the next enter
//! submits.
//!
//! # The ownership rule
//!
//! Every buffer, iovec, msghdr and fd that an SQE names is owned by the driver from the
//! moment the SQE is queued until its last CQE has been reaped — even if the session was
//! closed meanwhile. Concretely:
//! - a sendmsg's buffers (taken out of the session's queue), iovecs and msghdr live in a boxed
//!   [`ops::SendOp`] held by the connection's [`ops::SendState::InFlight`];
//! - receive buffers belong to the loop's [`buf_ring::BufRing`]; a buffer named by a CQE
//!   waits in its connection's input until the session layer reads it, and is recycled only
//!   after that (the session layer copies what it keeps);
//! - a socket's fd lives in its [`ops::Conn`] record. [`Driver::close`] marks the record
//!   [`ops::Life::Draining`] and cancels its ops (the session layer tells the handler at
//!   once); the record — fd included — is freed only when no SQE naming it is left, so no fd
//!   number is closed (and reused) under a pending op;
//! - the eventfd's 8-byte read buffer is boxed in the driver ([`EventFdBuf`]),
//!   and the ring is dropped before everything it could still reach. If the driver is dropped
//!   with ops in flight (an error ended the loop), that memory is leaked instead of freed.
//!
//! Every `// SAFETY:` comment on an SQE push refers back to this rule.

mod buf_ring;
mod ops;
mod setup;
mod socket_io;
#[cfg(test)]
mod tests;

use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use io_uring::types::{Fd, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring};

use self::buf_ring::BufRing;
use self::ops::{user_data, Arm, ConnTable, OpKind, SendOp};
pub(crate) use self::setup::probe;
use self::setup::EventFd;
use super::{Driver, DriverCounters, Event, Input, Outgoing, SendProgress, SocketOptions};

/// What only this driver can count (reported as named pairs, [`Driver::counters`]).
#[derive(Debug, Default, Clone, Copy)]
struct UringCounters {
    /// Receives that found no free provided buffer (`ENOBUFS`; re-armed).
    recv_buffers_exhausted: u64,
    /// Times the submission queue was full and was submitted early.
    submit_queue_full: u64,
    /// Times completions overflowed the completion queue and were flushed from the kernel.
    completion_overflows: u64,
}
use crate::accept_backoff::AcceptBackoff;
use crate::mailbox::Wake;
use crate::{ServiceConfig, SessionId};

/// Submission queue entries per ring. When full, queued SQEs are submitted to make room.
const SQ_ENTRIES: u32 = 1024;
/// Completion queue entries: multishot recvs post many CQEs per SQE. Overflow beyond it is
/// kept by the kernel (`FEAT_NODROP`) and flushed into the CQ as it is reaped.
const CQ_ENTRIES: u32 = 16 * 1024;
/// Provided receive buffers per loop (a power of two). Buffers are lent per completion, not
/// per session, so this bounds how many recvs can complete in one batch (beyond it a recv
/// ends with `ENOBUFS` and is re-armed) — and so how much input a session can bring in after
/// its reading was paused (`Driver::read_ahead`).
const RECV_BUFFERS: u16 = 128;
/// Each receive buffer is `ServiceConfig::read_chunk` clamped to this range (16 KiB by
/// default): 128 × 16 KiB = 2 MiB per loop. The kernel takes buffers in ring order, so under
/// steady traffic every one of them is touched and all of it stays resident.
const RECV_BUFFER_SIZE: std::ops::RangeInclusive<usize> = 1024..=16 * 1024;
/// The buffer group id of the loop's receive buffers.
const BUF_GROUP: u16 = 0;
/// How long a stopping loop waits for its cancelled ops' last CQEs (cancels complete at
/// once; this only bounds a kernel that misbehaves).
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);
/// CQ reaping rounds per iteration (one, plus rounds for overflowed CQEs).
const REAP_ROUNDS: usize = 4;
/// Spare send records kept for reuse.
const SEND_POOL: usize = 1024;

/// A ring's queue sizes and its receive buffers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingSizes {
    /// Submission queue entries.
    pub(crate) sq: u32,
    /// Completion queue entries (at least `sq`).
    pub(crate) cq: u32,
    /// Provided receive buffers (a power of two).
    pub(crate) buffers: u16,
    /// Bytes per receive buffer.
    pub(crate) buffer_size: u32,
}

impl RingSizes {
    /// The documented defaults, with buffers of `read_chunk` bytes (clamped).
    pub(crate) fn for_config(config: &ServiceConfig) -> RingSizes {
        let size = config
            .read_chunk
            .clamp(*RECV_BUFFER_SIZE.start(), *RECV_BUFFER_SIZE.end());
        RingSizes {
            sq: SQ_ENTRIES,
            cq: CQ_ENTRIES,
            buffers: RECV_BUFFERS,
            buffer_size: size as u32,
        }
    }
}

/// Where the eventfd read SQE puts the counter; boxed so it stays put when the driver moves.
#[derive(Debug, Default)]
struct EventFdBuf {
    counter: u64,
}

/// Lifecycle of the listener's accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accept {
    /// No accept in flight: no listener, or stopped.
    Idle,
    /// A multishot accept is in flight.
    Armed,
    /// Accept failed for the listener's sake (e.g. `EMFILE`); re-armed by
    /// [`Driver::resume_accepting`] (no SQE in flight meanwhile).
    Backoff,
    /// Shutdown cancelled the accept; its last CQE is awaited.
    Cancelling,
}

/// The completion driver of one loop.
pub(crate) struct UringDriver {
    /// Declared first so it is dropped first: the kernel lets go of everything below before
    /// it is freed (the ownership rule).
    ring: IoUring,
    buf_ring: BufRing,
    /// Kept open at least as long as the ring (the mailbox holds another handle).
    waker: EventFd,
    waker_buf: Box<EventFdBuf>,
    listener: Option<std::net::TcpListener>,
    waker_read: Arm,
    accept: Accept,
    conns: ConnTable,
    /// Spare send records. Boxed on purpose: a record's address is what its SQE names, and a
    /// reused box keeps it (a `Vec<SendOp>` would move records and re-box on every send).
    #[allow(clippy::vec_box)]
    send_pool: Vec<Box<SendOp>>,
    /// CQEs taken off the CQ and not yet handled.
    backlog: Vec<cqueue::Entry>,
    /// The provided buffer lent to the session layer by the last `read`.
    lent: Option<u16>,
    /// The listener failed (not for one connection's sake): back off when its accept ends.
    accept_failed: bool,
    /// Stop was requested: the accept is cancelled (or ended) and new sockets are refused.
    accept_stopped: bool,
    /// The final shutdown: loop-level ops are no longer re-armed.
    stopping: bool,
    /// An error that ends the loop, found where it could not be returned.
    fatal: Option<io::Error>,
    counters: UringCounters,
    /// Set on every session's socket in `register`.
    options: SocketOptions,
}

impl std::fmt::Debug for UringDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringDriver")
            .field("conns", &self.conns.len())
            .finish_non_exhaustive()
    }
}

impl UringDriver {
    /// Creates the loop's ring (on the calling thread, which alone may submit to it), its
    /// buffer ring and its eventfd; arms the waker and the accept.
    ///
    /// # Errors
    /// `ErrorKind::Unsupported` when the kernel lacks what the driver needs; other errors of
    /// `io_uring_setup`, `mmap`, `eventfd`.
    pub(crate) fn new(
        listener: Option<std::net::TcpListener>,
        config: &ServiceConfig,
    ) -> io::Result<(UringDriver, Box<dyn Wake>)> {
        UringDriver::with_sizes(listener, config, RingSizes::for_config(config))
    }

    /// As [`UringDriver::new`], with the given queue and buffer ring sizes.
    pub(crate) fn with_sizes(
        listener: Option<std::net::TcpListener>,
        config: &ServiceConfig,
        sizes: RingSizes,
    ) -> io::Result<(UringDriver, Box<dyn Wake>)> {
        let (ring, _) = setup::build_ring(sizes.sq, sizes.cq)?;
        setup::check_support(&ring)?;
        let buf_ring = BufRing::register(&ring, sizes.buffers, sizes.buffer_size, BUF_GROUP)?;
        let waker = EventFd::new()?;
        if let Some(listener) = &listener {
            // The ring does the waiting; a blocking socket lets it park the accept on the
            // socket's wait queue instead of ever answering `EAGAIN`.
            listener.set_nonblocking(false)?;
        }
        let mut driver = UringDriver {
            ring,
            buf_ring,
            waker: waker.clone(),
            waker_buf: Box::default(),
            listener,
            waker_read: Arm::Idle,
            accept: Accept::Idle,
            conns: ConnTable::default(),
            send_pool: Vec::new(),
            backlog: Vec::new(),
            lent: None,
            accept_failed: false,
            accept_stopped: false,
            stopping: false,
            fatal: None,
            counters: UringCounters::default(),
            options: SocketOptions::from_config(config),
        };
        driver.arm_waker();
        driver.arm_accept();
        Ok((driver, Box::new(waker)))
    }

    /// Submits everything queued and waits for at least one CQE (or the timeout; not at all
    /// if CQEs are waiting in the backlog).
    fn enter(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = if self.backlog.is_empty() {
            timeout
        } else {
            Some(Duration::ZERO)
        };
        let submitter = self.ring.submitter();
        let result = match timeout {
            None => submitter.submit_and_wait(1),
            Some(timeout) => {
                let ts = Timespec::from(timeout);
                submitter.submit_with_args(1, &SubmitArgs::new().timespec(&ts))
            }
        };
        match result {
            Ok(_) => Ok(()),
            // Timed out, interrupted, or the kernel wants its CQEs reaped first: all normal.
            Err(err)
                if matches!(
                    err.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    /// Handles every CQE, including those the kernel kept aside when the CQ overflowed.
    fn reap(&mut self, out: &mut Vec<Event>) -> io::Result<()> {
        for _ in 0..REAP_ROUNDS {
            self.stash_completions();
            if self.backlog.is_empty() {
                if !self.ring.submission().cq_overflow() {
                    return Ok(());
                }
                // CQEs that did not fit wait in the kernel: an enter with GETEVENTS moves them
                // into the (now empty) CQ.
                self.counters.completion_overflows += 1;
                if let Err(err) = self.ring.submitter().submit_and_wait(0) {
                    if !matches!(
                        err.raw_os_error(),
                        Some(libc::EINTR | libc::EBUSY | libc::EAGAIN)
                    ) {
                        return Err(err);
                    }
                }
                continue;
            }
            let mut batch = std::mem::take(&mut self.backlog);
            for cqe in &batch {
                self.complete(cqe.user_data(), cqe.result(), cqe.flags(), out);
            }
            batch.clear();
            if self.backlog.is_empty() {
                self.backlog = batch;
            }
        }
        Ok(()) // anything left is reaped next iteration: the enter returns at once for it
    }

    /// Moves the CQ's entries into the backlog, freeing CQ space without handling them.
    fn stash_completions(&mut self) {
        self.backlog.extend(self.ring.completion());
    }

    fn complete(&mut self, user_data: u64, res: i32, flags: u32, out: &mut Vec<Event>) {
        let (kind, slot) = ops::decode(user_data);
        match kind {
            OpKind::Waker => self.on_waker(res),
            OpKind::Accept => self.on_accept(res, flags, out),
            OpKind::Recv => self.on_recv(slot, res, flags, out),
            OpKind::Send => self.on_send(slot, res, out),
            OpKind::CancelConn => self.on_conn_cancelled(slot, out),
            OpKind::CancelLoop => {}
        }
    }

    fn on_waker(&mut self, res: i32) {
        self.waker_read = Arm::Idle;
        if res == -libc::EAGAIN {
            // This kernel answers a ring read of a non-blocking eventfd at once.
            tracing::debug!("eventfd read returned EAGAIN: switching the eventfd to blocking");
            if let Err(err) = self.waker.set_blocking() {
                self.fatal.get_or_insert(err);
                return;
            }
        } else if res < 0 && res != -libc::ECANCELED {
            tracing::warn!("eventfd read: {}", io::Error::from_raw_os_error(-res));
        }
        if !self.stopping {
            self.arm_waker();
        }
    }

    fn on_accept(&mut self, res: i32, flags: u32, out: &mut Vec<Event>) {
        if !cqueue::more(flags) {
            self.accept = match self.accept {
                Accept::Armed | Accept::Cancelling => Accept::Idle,
                Accept::Idle | Accept::Backoff => {
                    unreachable!("accept CQE with no accept in flight")
                }
            };
        }
        if res >= 0 {
            // SAFETY: a successful accept's result is a new fd that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(res) };
            if !self.accept_stopped {
                accepted(fd, out);
            } // else closed here: the service is stopping
        } else if res != -libc::ECANCELED {
            let err = io::Error::from_raw_os_error(-res);
            if AcceptBackoff::is_transient(&err) {
                tracing::debug!("accept: {err}"); // one connection's trouble: accept on
            } else {
                // Out of descriptors (or worse): the session layer pauses and says when to
                // re-arm (a socket closed, or the doubling pause ran out).
                self.accept_failed = true;
                out.push(Event::AcceptFailed(err));
            }
        }
        if self.accept == Accept::Idle {
            if self.accept_stopped {
                self.listener = None; // its last CQE is in: now the fd may close
            } else if self.accept_failed {
                self.accept = Accept::Backoff;
            } else {
                self.arm_accept();
            }
        }
    }

    fn arm_waker(&mut self) {
        self.waker_read = Arm::Armed;
        let buf = std::ptr::addr_of_mut!(self.waker_buf.counter).cast::<u8>();
        let entry = opcode::Read::new(Fd(self.waker.raw()), buf, 8)
            .build()
            .user_data(user_data(OpKind::Waker, None));
        // SAFETY: the 8-byte buffer is boxed in `waker_buf` and the eventfd held by `waker`, both
        // dropped after the ring (ownership rule).
        unsafe { self.push(&entry) };
    }

    fn arm_accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        self.accept = Accept::Armed;
        let entry = opcode::AcceptMulti::new(Fd(listener.as_raw_fd()))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(user_data(OpKind::Accept, None));
        // SAFETY: the listener's fd is owned by the driver and dropped after the ring
        // (ownership rule); multishot accept writes no address.
        unsafe { self.push(&entry) };
    }

    /// Queues one SQE. When the SQ is full, submits what is queued to make room (if the
    /// kernel pushes back, CQEs are moved aside to the backlog first); never drops an SQE.
    ///
    /// # Safety
    /// Everything `entry` names (fd, buffers, iovecs, msghdr, timespec) must stay valid and
    /// untouched until its last CQE has been reaped: the ownership rule.
    unsafe fn push(&mut self, entry: &squeue::Entry) {
        for _ in 0..1000 {
            // SAFETY: the caller keeps what `entry` names alive until its CQE (see above).
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return;
            }
            self.counters.submit_queue_full += 1;
            if let Err(err) = self.ring.submit() {
                match err.raw_os_error() {
                    Some(libc::EINTR) => {}
                    Some(libc::EBUSY | libc::EAGAIN) => self.stash_completions(),
                    _ => {
                        self.fatal.get_or_insert(err);
                        return;
                    }
                }
            }
        }
        self.fatal
            .get_or_insert(io::Error::other("io_uring submission queue stays full"));
    }

    /// Stop was requested: cancels the accept (if one is in flight); the listener closes
    /// when the last accept CQE is in, and sockets accepted meanwhile are closed unopened.
    fn stop_accepting_ops(&mut self) {
        if std::mem::replace(&mut self.accept_stopped, true) {
            return;
        }
        let op = match self.accept {
            Accept::Armed => OpKind::Accept,
            Accept::Idle | Accept::Backoff => {
                self.accept = Accept::Idle; // a paused accept has no SQE in flight
                self.listener = None;
                return;
            }
            Accept::Cancelling => unreachable!("the accept is cancelled only here"),
        };
        self.accept = Accept::Cancelling;
        self.cancel_loop_op(op);
    }

    /// The loop is over (every session closed): cancels the waker's read and the accept,
    /// and reaps until the last CQE is in (the ownership rule).
    fn finish_ops(&mut self) -> io::Result<()> {
        self.stopping = true;
        self.stop_accepting_ops();
        if self.waker_read == Arm::Armed {
            self.waker_read = Arm::Cancelling;
            self.cancel_loop_op(OpKind::Waker);
        }
        self.recycle_lent();
        let deadline = Instant::now() + CANCEL_TIMEOUT;
        let mut ignored = Vec::new();
        while self.in_flight() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::error!(
                    records = self.conns.len(),
                    "io_uring ops still in flight {CANCEL_TIMEOUT:?} after their cancel"
                );
                break;
            }
            self.enter(Some(left))?;
            self.reap(&mut ignored)?;
            ignored.clear(); // only closed sessions' completions are left
            if let Some(err) = self.fatal.take() {
                return Err(err);
            }
        }
        tracing::debug!(counters = ?self.counters, "io_uring loop stopped");
        Ok(())
    }

    fn cancel_loop_op(&mut self, kind: OpKind) {
        let entry = opcode::AsyncCancel::new(user_data(kind, None))
            .build()
            .user_data(user_data(OpKind::CancelLoop, None));
        // SAFETY: a cancel names only a user_data.
        unsafe { self.push(&entry) };
    }

    /// True while any SQE may still produce a CQE.
    fn in_flight(&self) -> bool {
        let accept = matches!(self.accept, Accept::Armed | Accept::Cancelling);
        self.waker_read != Arm::Idle || accept || self.conns.len() > 0
    }
}

impl Driver for UringDriver {
    type Socket = std::net::TcpStream;

    fn adopt(
        &mut self,
        stream: std::net::TcpStream,
    ) -> io::Result<(std::net::TcpStream, std::net::SocketAddr)> {
        super::adopt_stream(stream)
    }

    fn refuse(&mut self, socket: std::net::TcpStream, farewell: Option<&[u8]>) {
        if let Some(farewell) = farewell {
            super::send_farewell(&socket, farewell);
        }
    }

    fn poll(&mut self, timeout: Option<Duration>, out: &mut Vec<Event>) -> io::Result<()> {
        self.recycle_lent();
        self.enter(timeout)?;
        self.reap(out)?;
        match self.fatal.take() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    fn register(&mut self, id: SessionId, stream: TcpStream) -> io::Result<()> {
        self.options.apply(&stream);
        self.add_conn(id, stream)
    }

    fn read(&mut self, id: SessionId) -> Input<'_> {
        self.next_input(id)
    }

    fn set_reading(&mut self, id: SessionId, on: bool) {
        self.set_conn_reading(id, on);
    }

    fn send(&mut self, id: SessionId, out: Outgoing<'_>) -> io::Result<SendProgress> {
        self.send_conn(id, out)
    }

    /// A plain `shutdown(2)` on the fd (it completes at once; no op is in flight for it).
    fn shutdown_write(&mut self, id: SessionId) -> io::Result<()> {
        self.shutdown_conn(id)
    }

    fn close(&mut self, id: SessionId) -> bool {
        self.close_conn(id)
    }

    fn resume_accepting(&mut self) {
        self.accept_failed = false;
        if self.accept == Accept::Backoff && !self.accept_stopped {
            self.arm_accept();
        }
    }

    fn stop_accepting(&mut self) {
        self.stop_accepting_ops();
    }

    fn finish(&mut self) -> io::Result<()> {
        self.finish_ops()
    }

    /// A multishot recv keeps completing until its cancel lands (the next enter): at most
    /// the whole buffer ring.
    fn read_ahead(&self) -> usize {
        self.buf_ring.bytes()
    }

    fn shrink(&mut self) {
        self.conns.shrink();
    }

    fn counters(&self) -> DriverCounters {
        let c = self.counters;
        vec![
            ("recv_buffers_exhausted", c.recv_buffers_exhausted),
            ("submit_queue_full", c.submit_queue_full),
            ("completion_overflows", c.completion_overflows),
        ]
    }
}

/// A socket from the multishot accept, with its peer (`getpeername`; the accept writes no
/// address), for the session layer.
fn accepted(fd: OwnedFd, out: &mut Vec<Event>) {
    let stream = TcpStream::from(fd);
    match stream.peer_addr() {
        Ok(peer) => out.push(Event::Accepted { stream, peer }),
        Err(err) => tracing::debug!("getpeername: {err}"), // reset while in the backlog
    }
}

impl Drop for UringDriver {
    fn drop(&mut self) {
        if self.in_flight() {
            // The kernel may still write into receive buffers or the waker's buffer, or read a
            // send's buffers, until the ring is torn down: keep all of it rather than free
            // memory the kernel owns (the ownership rule).
            tracing::error!(
                records = self.conns.len(),
                "io_uring driver dropped with ops in flight: leaking their memory"
            );
            self.buf_ring.leak();
            std::mem::forget(std::mem::take(&mut self.conns));
            std::mem::forget(std::mem::take(&mut self.waker_buf));
            std::mem::forget(self.listener.take());
        } else if let Err(err) = self
            .ring
            .submitter()
            .unregister_buf_ring(self.buf_ring.group())
        {
            tracing::debug!("unregistering the buffer ring: {err}");
        }
    }
}
