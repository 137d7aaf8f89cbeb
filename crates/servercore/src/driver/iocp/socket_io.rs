//! A session's socket under the completion driver: its receive (one `WSARecv` in flight,
//! started again as the session layer reads), its one-at-a-time send, and its close, which
//! outlives the session until the last completion (state diagrams: `conns.rs`).

use std::io::{self, Write};
use std::net::TcpStream;
use std::os::windows::io::AsRawSocket;

use windows_sys::Win32::Foundation::HANDLE;

use super::accept::cancel;
use super::conns::{Conn, Received, Recv, SendState};
use super::ops::{RecvOp, SendOp, Started};
use super::{IocpDriver, POOL};
use crate::driver::{Event, Input, Outgoing, SendProgress};
use crate::session::SendQueue;
use crate::SessionId;

impl IocpDriver {
    /// Takes `socket` as session `id`'s: non-blocking (for the direct replies' plain `send`;
    /// overlapped calls are not affected), associated with the port under the session's id,
    /// its receive started at the next poll.
    pub(super) fn add_conn(&mut self, id: SessionId, socket: TcpStream) -> io::Result<()> {
        socket.set_nonblocking(true)?;
        self.port
            .associate(socket.as_raw_socket(), id.to_u64() as usize)?;
        let recv_op = self
            .recv_pool
            .pop()
            .unwrap_or_else(|| RecvOp::new(self.recv_size));
        self.conns.insert(Conn::new(socket, id, recv_op));
        self.to_start.push(id);
        Ok(())
    }

    /// Starts `id`'s `WSARecv` if it wants one. True if it completed in the call (its
    /// result waits for `read`): the caller reports it, as no completion will.
    pub(super) fn start_recv(&mut self, id: SessionId) -> bool {
        let Some(conn) = self.conns.open_mut(id) else {
            return false;
        };
        if !conn.wants_recv() {
            return false;
        }
        let socket = conn.socket.as_raw_socket();
        // SAFETY: the socket is associated with the port (`add_conn`); a pending receive's
        // record stays in `self.conns` (draining if the session closes) until its
        // completion, and `Drop` leaks it if that never came (ownership rule).
        let result = match unsafe { conn.recv_op.start(socket) } {
            Ok(Started::Pending) => {
                conn.recv = Recv::Pending;
                return false;
            }
            Ok(Started::Now(n)) => {
                self.counters.completed_in_call += 1;
                Ok(n)
            }
            Err(err) => Err(err),
        };
        conn.recv = Recv::Ready(Received::from_result(result));
        true
    }

    /// A completion of `id`'s socket: its receive or its send.
    pub(super) fn on_session(&mut self, id: SessionId, overlapped: usize, out: &mut Vec<Event>) {
        let Some(conn) = self.conns.get_mut(id) else {
            return self.stale(overlapped, "a freed session record");
        };
        if conn.recv_op.is(overlapped) {
            self.on_recv(id, out);
        } else if matches!(&conn.send, SendState::InFlight(op) if op.is(overlapped)) {
            self.on_send(id, out);
        } else {
            self.stale(overlapped, "no operation of the session's");
        }
    }

    /// `id`'s receive completed: its result waits for `read` (or is dropped, if the session
    /// is gone).
    fn on_recv(&mut self, id: SessionId, out: &mut Vec<Event>) {
        let open = !self.conns.is_draining(id);
        let Some(conn) = self.conns.get_mut(id) else {
            unreachable!("the caller found the record")
        };
        debug_assert!(
            matches!(conn.recv, Recv::Pending),
            "a completion for a pending receive"
        );
        let result = conn.recv_op.result(conn.socket.as_raw_socket());
        if !open {
            conn.recv = Recv::Idle; // a closed session's bytes: nobody will read them
            return self.release_if_quiet(id, out);
        }
        conn.recv = Recv::Ready(Received::from_result(result));
        out.push(Event::Readable(id));
    }

    /// `id`'s send completed: kept for the session layer's next `send`, which learns how
    /// much the kernel took.
    fn on_send(&mut self, id: SessionId, out: &mut Vec<Event>) {
        let open = !self.conns.is_draining(id);
        let Some(conn) = self.conns.get_mut(id) else {
            unreachable!("the caller found the record")
        };
        let SendState::InFlight(op) = std::mem::take(&mut conn.send) else {
            unreachable!("the caller found the send in flight")
        };
        let result = op.result(conn.socket.as_raw_socket());
        if !open {
            self.recycle_send(op); // the session is gone: its bytes are dropped here
            return self.release_if_quiet(id, out);
        }
        conn.send = SendState::Done(op, result);
        out.push(Event::Writable(id));
    }

    /// The next input of `id`: what its last receive brought, after starting one if none is
    /// in flight and reading is allowed (with the skip mode it completes in the call when
    /// bytes are waiting).
    pub(super) fn next_input(&mut self, id: SessionId) -> Input<'_> {
        self.return_lent();
        self.start_recv(id);
        let Some(conn) = self.conns.open_mut(id) else {
            return Input::Wait;
        };
        match std::mem::replace(&mut conn.recv, Recv::Idle) {
            Recv::Ready(Received::Data(n)) => {
                conn.recv = Recv::Lent;
                self.lent = Some(id);
                Input::Data(conn.recv_op.filled(n))
            }
            Recv::Ready(Received::Eof) => {
                conn.recv = Recv::Ended;
                Input::Eof
            }
            Recv::Ready(Received::Failed(err)) => {
                conn.recv = Recv::Ended;
                Input::Failed(err)
            }
            other => {
                conn.recv = other;
                Input::Wait
            }
        }
    }

    /// The buffer lent by the last `read` is the driver's again (its next receive is started
    /// by the next `read`, or by the next poll).
    pub(super) fn return_lent(&mut self) {
        let Some(id) = self.lent.take() else {
            return;
        };
        if let Some(conn) = self.conns.open_mut(id) {
            if matches!(conn.recv, Recv::Lent) {
                conn.recv = Recv::Idle;
            }
        }
    }

    /// Reading allowed: the receive is started at the next poll (or `read`). Stopped: no
    /// new receive; one in flight still completes (at most `read_ahead` bytes).
    pub(super) fn set_conn_reading(&mut self, id: SessionId, on: bool) {
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
    pub(super) fn send_conn(
        &mut self,
        id: SessionId,
        out: Outgoing<'_>,
    ) -> io::Result<SendProgress> {
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
            SendState::Idle if !out.head.is_empty() => send_now(&conn.socket, out.head),
            SendState::Idle if out.queue.is_empty() => Ok(SendProgress::Idle),
            SendState::Idle => self.start_send(id, out.queue),
        }
    }

    fn start_send(&mut self, id: SessionId, queue: &mut SendQueue) -> io::Result<SendProgress> {
        let mut op = self.send_pool.pop().unwrap_or_else(SendOp::new);
        let Some(conn) = self.conns.open_mut(id) else {
            unreachable!("the caller found the record")
        };
        // SAFETY: the socket is associated with the port; a pending send's record is held
        // by `conn.send` (draining if the session closes) until its completion, and `Drop`
        // leaks it if that never came (ownership rule).
        let started = unsafe { op.start(conn.socket.as_raw_socket(), queue, self.send_size) };
        let outcome = match started {
            Ok(Started::Pending) => {
                conn.send = SendState::InFlight(op);
                return Ok(SendProgress::Wait);
            }
            Ok(Started::Now(n)) => {
                self.counters.completed_in_call += 1;
                op.complete(n as usize, queue);
                Ok(SendProgress::Wrote(n as usize))
            }
            Err(err) => {
                op.complete(0, queue); // every buffer goes back: the queue stays whole
                Err(err)
            }
        };
        self.recycle_send(op);
        outcome
    }

    /// Shuts down the sending side of `id`'s socket (lingering close).
    pub(super) fn shutdown_conn(&mut self, id: SessionId) -> io::Result<()> {
        match self.conns.open_mut(id) {
            Some(conn) => conn.socket.shutdown(std::net::Shutdown::Write),
            None => Ok(()),
        }
    }

    /// Lets go of `id`'s socket: drops its unread input and finished send, cancels its
    /// operations (`CancelIoEx`), and frees the record (closing the socket) once the last of
    /// their completions is in. Returns true if that happened at once.
    pub(super) fn close_conn(&mut self, id: SessionId) -> bool {
        if self.lent == Some(id) {
            self.lent = None;
        }
        let Some(conn) = self.conns.start_draining(id) else {
            return false;
        };
        if !matches!(conn.recv, Recv::Pending) {
            conn.recv = Recv::Idle;
        }
        let done = match std::mem::take(&mut conn.send) {
            SendState::Done(op, _) => Some(op),
            SendState::InFlight(op) => {
                conn.send = SendState::InFlight(op);
                None
            }
            SendState::Idle => None,
        };
        if !conn.is_quiet() {
            cancel(conn.socket.as_raw_socket() as HANDLE, std::ptr::null());
        }
        if let Some(op) = done {
            self.recycle_send(op);
        }
        let mut released = Vec::new();
        self.release_if_quiet(id, &mut released);
        !released.is_empty()
    }

    /// Frees `id`'s draining record once no operation of it is left: only now is its socket
    /// closed.
    fn release_if_quiet(&mut self, id: SessionId, out: &mut Vec<Event>) {
        if !self.conns.is_draining(id) || self.conns.get_mut(id).is_some_and(|c| !c.is_quiet()) {
            return;
        }
        let Some(conn) = self.conns.remove_draining(id) else {
            return;
        };
        if self.recv_pool.len() < POOL {
            self.recv_pool.push(conn.recv_op); // reused by a later session
        }
        drop(conn.socket); // `closesocket`: its last completion is in
        out.push(Event::Released);
    }

    fn recycle_send(&mut self, mut op: Box<SendOp>) {
        op.clear();
        if self.send_pool.len() < POOL {
            self.send_pool.push(op);
        }
    }
}

/// A direct reply's plain `send` on the non-blocking socket: the kernel copies `head` in the
/// call. No room (`WSAEWOULDBLOCK`) is `Wrote(0)`: the caller queues it.
fn send_now(mut socket: &TcpStream, head: &[u8]) -> io::Result<SendProgress> {
    match socket.write(head) {
        Ok(n) => Ok(SendProgress::Wrote(n)),
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            Ok(SendProgress::Wrote(0))
        }
        Err(err) => Err(err),
    }
}
