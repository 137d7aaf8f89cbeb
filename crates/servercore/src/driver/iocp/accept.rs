//! The listener's side of the completion driver: [`ACCEPTS`] `AcceptEx` operations kept
//! outstanding on the listening socket, each into a socket made beforehand.
//!
//! ```text
//!   op:  Idle --start (socket, AcceptEx)--> Pending --(completion)--> Idle: the socket is a connection
//!          \--done in the call (skip mode)--> Idle: the socket is a connection
//!   listener: Accepting --(stop: CancelIoEx each pending op)--> Stopping --(last completion)--> closed
//! ```
//!
//! A connection's socket gets `SO_UPDATE_ACCEPT_CONTEXT` (so `getpeername`, `shutdown` and
//! the rest work on it) and goes to the session layer as [`Event::Accepted`]; it joins the
//! port only if it becomes a session (`Driver::register`).
//!
//! A socket belongs to one completion port, so of the loops that share one listening socket
//! (Windows has no `SO_REUSEPORT`; see `listener.rs`) only the first to associate it accepts:
//! the others find it taken (`ERROR_INVALID_PARAMETER`), and the accepting loop deals its
//! connections out to them in turn (`share.rs`).

use std::io;
use std::net::TcpListener;
use std::os::windows::io::AsRawSocket;

use socket2::{Domain, Protocol, Type};
use windows_sys::Win32::Foundation::{ERROR_INVALID_PARAMETER, ERROR_NOT_FOUND, HANDLE};
use windows_sys::Win32::Networking::WinSock::{
    setsockopt, SOCKET, SOCKET_ERROR, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
};
use windows_sys::Win32::System::IO::CancelIoEx;

use super::ops::{AcceptOp, Started};
use super::port::{CompletionPort, LISTENER_KEY};
use super::share::Membership;
use crate::accept_backoff::AcceptBackoff;
use crate::driver::Event;

/// `AcceptEx` operations kept outstanding: connections arriving together are accepted
/// together, each completion re-arming its operation.
pub(super) const ACCEPTS: usize = 8;

/// One accept operation's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Not in flight: started at the next `arm`.
    Idle,
    /// In flight: the kernel owns the op's socket, address buffer and `OVERLAPPED`.
    Pending,
}

/// The listening socket and its accept operations.
#[derive(Debug)]
pub(super) struct Acceptor {
    listener: TcpListener,
    domain: Domain,
    ops: Vec<(Box<AcceptOp>, Slot)>,
    /// Accepting failed for the listener's sake: no op is started until `resume`.
    paused: bool,
    /// Stop was requested: pending ops are cancelled; the listener closes after the last
    /// completion, and connections accepted meanwhile are closed unopened.
    stopped: bool,
}

impl Acceptor {
    /// Takes `listener` into the port (key [`LISTENER_KEY`]). `None` if another loop's port
    /// already holds it (the loops' shared listening socket: that loop accepts).
    ///
    /// # Errors
    /// The association failed for another reason.
    pub(super) fn new(
        listener: TcpListener,
        port: &CompletionPort,
    ) -> io::Result<Option<Acceptor>> {
        // The port does the waiting: a blocking listener, as the io_uring driver's.
        listener.set_nonblocking(false)?;
        let domain = Domain::for_address(listener.local_addr()?);
        match port.associate(listener.as_raw_socket(), LISTENER_KEY) {
            Ok(()) => {}
            Err(err) if err.raw_os_error() == Some(ERROR_INVALID_PARAMETER as i32) => {
                tracing::debug!(
                    "the listening socket is another loop's completion port's: that loop accepts"
                );
                return Ok(None);
            }
            Err(err) => return Err(err),
        }
        Ok(Some(Acceptor {
            listener,
            domain,
            ops: (0..ACCEPTS)
                .map(|_| (AcceptOp::new(), Slot::Idle))
                .collect(),
            paused: false,
            stopped: false,
        }))
    }

    /// True while an accept is in flight.
    pub(super) fn in_flight(&self) -> bool {
        self.ops.iter().any(|(_, slot)| *slot == Slot::Pending)
    }

    /// True once stop was requested.
    pub(super) fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// True if an idle op should be started (the next `arm`).
    pub(super) fn owes_arming(&self) -> bool {
        !self.paused && !self.stopped && self.ops.iter().any(|(_, s)| *s == Slot::Idle)
    }

    /// Starts every idle op once. One that completes in the call reports its connection and
    /// stays idle until the next `arm` (so a connect flood cannot keep this call going).
    /// Connections go to the loops of `share` in turn (`share.rs`), this one's to `out`.
    pub(super) fn arm(&mut self, share: Option<&Membership>, out: &mut Vec<Event>) {
        for index in 0..self.ops.len() {
            if self.paused || self.stopped {
                return;
            }
            if self.ops[index].1 == Slot::Idle {
                self.start(index, share, out);
            }
        }
    }

    fn start(&mut self, index: usize, share: Option<&Membership>, out: &mut Vec<Event>) {
        let socket = match socket2::Socket::new(self.domain, Type::STREAM, Some(Protocol::TCP)) {
            Ok(socket) => socket,
            Err(err) => return self.failed(err, out), // out of sockets: the listener's trouble
        };
        let listener = self.listener.as_raw_socket();
        let op = &mut self.ops[index].0;
        // SAFETY: the listener is associated with the port; a pending op stays boxed in
        // `self.ops` until its completion (ownership rule), and `Drop` of the driver leaks
        // it if that never came.
        match unsafe { op.start(listener, socket) } {
            Ok(Started::Pending) => self.ops[index].1 = Slot::Pending,
            Ok(Started::Now(_)) => self.accepted(index, share, out),
            Err(err) => {
                op.socket = None;
                self.skip_or_fail(err, out);
            }
        }
    }

    /// A completion keyed [`LISTENER_KEY`]: the op it names finished (its connection dealt
    /// out as in [`Acceptor::arm`]).
    pub(super) fn complete(
        &mut self,
        overlapped: usize,
        share: Option<&Membership>,
        out: &mut Vec<Event>,
    ) {
        let Some(index) = self.ops.iter().position(|(op, _)| op.is(overlapped)) else {
            tracing::error!(
                overlapped,
                "accept completion for no accept of this listener"
            );
            return;
        };
        let slot = std::mem::replace(&mut self.ops[index].1, Slot::Idle);
        debug_assert_eq!(slot, Slot::Pending, "a completion for an op in flight");
        match self.ops[index].0.result(self.listener.as_raw_socket()) {
            Ok(_) => self.accepted(index, share, out),
            Err(err) => {
                self.ops[index].0.socket = None; // nothing was accepted into it
                if !self.stopped {
                    self.skip_or_fail(err, out);
                }
            }
        }
    }

    /// Op `index` accepted a connection into its socket: the socket goes to the session
    /// layer with its peer, this loop's or the one whose turn it is (or is closed, once
    /// stopping).
    fn accepted(&mut self, index: usize, share: Option<&Membership>, out: &mut Vec<Event>) {
        let Some(socket) = self.ops[index].0.socket.take() else {
            unreachable!("an accept op that completed holds its socket")
        };
        if self.stopped {
            return; // closed here: the service is stopping
        }
        let listener = self.listener.as_raw_socket() as SOCKET;
        // SAFETY: `socket` is open; the option value is the listener's SOCKET, read during
        // the call only.
        let ret = unsafe {
            setsockopt(
                socket.as_raw_socket() as SOCKET,
                SOL_SOCKET,
                SO_UPDATE_ACCEPT_CONTEXT,
                std::ptr::addr_of!(listener).cast(),
                std::mem::size_of::<SOCKET>() as i32,
            )
        };
        if ret == SOCKET_ERROR {
            return tracing::debug!("SO_UPDATE_ACCEPT_CONTEXT: {}", io::Error::last_os_error());
        }
        let stream = std::net::TcpStream::from(socket);
        let peer = match stream.peer_addr() {
            Ok(peer) => peer,
            Err(err) => return tracing::debug!("getpeername: {err}"), // reset in the backlog
        };
        let ours = match share {
            Some(share) => share.deal(stream, peer),
            None => Some((stream, peer)),
        };
        if let Some((stream, peer)) = ours {
            out.push(Event::Accepted { stream, peer });
        }
    }

    /// A failed accept: one connection's trouble is skipped (the op is started again at
    /// the next `arm`); the listener's pauses accepting and is reported.
    fn skip_or_fail(&mut self, err: io::Error, out: &mut Vec<Event>) {
        if AcceptBackoff::is_transient(&err) {
            tracing::debug!("AcceptEx: {err}");
        } else {
            self.failed(err, out);
        }
    }

    fn failed(&mut self, err: io::Error, out: &mut Vec<Event>) {
        if !std::mem::replace(&mut self.paused, true) {
            out.push(Event::AcceptFailed(err));
        }
    }

    /// Accepting may resume (after [`Event::AcceptFailed`]): the next `arm` starts the ops.
    pub(super) fn resume(&mut self) {
        self.paused = false;
    }

    /// Stops accepting: cancels the pending ops (`CancelIoEx`, each by its `OVERLAPPED`).
    /// Their completions still come; [`Acceptor::in_flight`] says when the last did.
    pub(super) fn stop(&mut self) {
        self.stopped = true;
        let listener = self.listener.as_raw_socket() as HANDLE;
        for (op, slot) in &self.ops {
            if *slot == Slot::Pending {
                cancel(listener, op.overlapped_ptr());
            }
        }
    }
}

/// `CancelIoEx(handle, overlapped)`: asks the kernel to end one pending operation (or, with
/// a null `overlapped`, all of the handle's). Its completion still comes, with
/// `WSA_OPERATION_ABORTED` if the cancel won. `ERROR_NOT_FOUND`: it had completed already.
pub(super) fn cancel(
    handle: HANDLE,
    overlapped: *const windows_sys::Win32::System::IO::OVERLAPPED,
) {
    // SAFETY: `handle` is an open socket of the driver's; the OVERLAPPED (if any) is only
    // used to find the operation, never written through by the call.
    if unsafe { CancelIoEx(handle, overlapped) } == 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(ERROR_NOT_FOUND as i32) {
            tracing::warn!("CancelIoEx: {err}");
        }
    }
}
