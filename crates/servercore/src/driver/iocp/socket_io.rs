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
use crate::driver::{head_written, Event, Input, SendProgress};
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
            if self.release_if_quiet(id) {
                out.push(Event::Released);
            }
            return;
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
            if self.release_if_quiet(id) {
                out.push(Event::Released);
            }
            return;
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

    pub(super) fn start_send(
        &mut self,
        id: SessionId,
        queue: &mut SendQueue,
    ) -> io::Result<SendProgress> {
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
        let done = conn.send.take_done();
        if !conn.is_quiet() {
            cancel(conn.socket.as_raw_socket() as HANDLE, std::ptr::null());
        }
        if let Some(op) = done {
            self.recycle_send(op);
        }
        self.release_if_quiet(id)
    }

    /// Frees `id`'s draining record once no operation of it is left: only now is its socket
    /// closed. True if it was freed (the caller reports [`Event::Released`], or says so from
    /// `close`).
    fn release_if_quiet(&mut self, id: SessionId) -> bool {
        if !self.conns.is_draining(id) || self.conns.get_mut(id).is_some_and(|c| !c.is_quiet()) {
            return false;
        }
        let Some(conn) = self.conns.remove_draining(id) else {
            return false;
        };
        if self.recv_pool.len() < POOL {
            self.recv_pool.push(conn.recv_op); // reused by a later session
        }
        drop(conn.socket); // `closesocket`: its last completion is in
        true
    }

    pub(super) fn recycle_send(&mut self, mut op: Box<SendOp>) {
        op.clear();
        if self.send_pool.len() < POOL {
            self.send_pool.push(op);
        }
    }
}

/// A direct reply's plain `send` on the non-blocking socket: the kernel copies `head` in the
/// call. No room (`WSAEWOULDBLOCK`) is `Wrote(0)`: the caller queues it.
pub(super) fn send_now(mut socket: &TcpStream, head: &[u8]) -> io::Result<SendProgress> {
    head_written(socket.write(head))
}
