//! A session's socket under the completion driver: its multishot recv (paused and resumed as
//! the session layer says), its one-at-a-time send, and its close, which outlives the session
//! until the last CQE.
//!
//! ```text
//!   recv:  Idle --arm--> Armed --(CQE without F_MORE: EOF, error, ENOBUFS)--> Idle --re-arm-->
//!                          \--(set_reading(false) / close: ASYNC_CANCEL)--> Cancelling --(last CQE)--> Idle
//!   send:  Idle --(send: take_front into a SendOp)--> InFlight --(CQE)--> Done --(send: give back rest)--> Idle
//!          Idle --(send with a head: send(2), MSG_DONTWAIT)--> Idle   (a direct reply: no SQE, nothing lent)
//!   life:  Open --(close: cancel ops)--> Draining --(last CQE)--> freed (fd closed, Event::Released)
//! ```

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use io_uring::cqueue;
use io_uring::opcode;
use io_uring::types::{CancelBuilder, Fd};

use super::ops::{user_data, Arm, Conn, ConnSlot, Life, OpKind, Received, SendOp, SendState};
use super::{UringDriver, SEND_POOL};
use crate::driver::{socket_call, Event, Input, Outgoing, SendProgress};
use crate::session::SendQueue;
use crate::SessionId;

impl UringDriver {
    /// Takes `fd` as session `id`'s socket and arms its recv.
    pub(super) fn add_conn(
        &mut self,
        id: SessionId,
        stream: std::net::TcpStream,
    ) -> io::Result<()> {
        // The ring does the waiting; a blocking socket lets it park ops on the socket's wait
        // queue instead of ever answering `EAGAIN`.
        stream.set_nonblocking(false)?;
        let slot = self.conns.insert(Conn::new(stream.into(), id));
        self.arm_recv(slot);
        Ok(())
    }

    /// A recv CQE: its bytes (or EOF, or error) join the connection's input for the session
    /// layer; the recv is re-armed if it ended while reading is still allowed.
    pub(super) fn on_recv(&mut self, slot: ConnSlot, res: i32, flags: u32, out: &mut Vec<Event>) {
        let more = cqueue::more(flags);
        let bid = cqueue::buffer_select(flags);
        let Some(conn) = self.conns.get_mut(slot) else {
            tracing::error!(?slot, res, "recv CQE for a freed connection record");
            if let Some(bid) = bid {
                self.buf_ring.recycle(bid);
            }
            return;
        };
        if !more {
            conn.recv = match conn.recv {
                Arm::Armed | Arm::Cancelling => Arm::Idle,
                Arm::Idle => unreachable!("recv CQE with no recv in flight"),
            };
        }
        let open = conn.life == Life::Open;
        let received = match (res, bid) {
            (1.., Some(bid)) if open => Some(Received::Data {
                bid,
                len: res as u32,
            }),
            (1.., None) => unreachable!("a buffer-select recv that returned data names its buffer"),
            (0, _) if open => Some(Received::Eof),
            _ if res == -libc::ENOBUFS => {
                self.counters.recv_buffers_exhausted += 1; // ran dry in this batch: re-armed
                None
            }
            _ if res < 0 && res != -libc::ECANCELED && open => Some(Received::Failed(-res)),
            _ => None,
        };
        if let (None, Some(bid)) = (received, bid) {
            self.buf_ring.recycle(bid); // a closed session's bytes: nobody will read them
        }
        if let Some(received) = received {
            conn.recv_ended |= !matches!(received, Received::Data { .. });
            if conn.input.is_empty() {
                out.push(Event::Readable(conn.session));
            }
            conn.input.push_back(received);
        }
        if !more {
            if open && conn.reading && !conn.recv_ended {
                self.arm_recv(slot);
            }
            self.release_if_quiet(slot, out);
        }
    }

    /// A send CQE: kept for the session layer's next `send`, which learns how much the
    /// kernel took.
    pub(super) fn on_send(&mut self, slot: ConnSlot, res: i32, out: &mut Vec<Event>) {
        let Some(conn) = self.conns.get_mut(slot) else {
            tracing::error!(?slot, res, "send CQE for a freed connection record");
            return;
        };
        let SendState::InFlight(op) = std::mem::take(&mut conn.send) else {
            unreachable!("send CQE with no send in flight")
        };
        if conn.life == Life::Draining {
            self.recycle_send(op); // the session is gone: its bytes are dropped here
            self.release_if_quiet(slot, out);
            return;
        }
        conn.send = SendState::Done(op, res);
        out.push(Event::Writable(conn.session));
    }

    pub(super) fn on_conn_cancelled(&mut self, slot: ConnSlot, out: &mut Vec<Event>) {
        let Some(conn) = self.conns.get_mut(slot) else {
            tracing::error!(?slot, "cancel CQE for a freed connection record");
            return;
        };
        conn.cancels -= 1;
        self.release_if_quiet(slot, out);
    }

    /// The next completed input of `id`; a buffer lent now is recycled at the next call.
    pub(super) fn next_input(&mut self, id: SessionId) -> Input<'_> {
        self.recycle_lent();
        let Some(slot) = self.conns.slot_of(id) else {
            return Input::Wait;
        };
        let Some(conn) = self.conns.get_mut(slot) else {
            unreachable!("slot_of names a live record")
        };
        match conn.input.pop_front() {
            None => Input::Wait,
            Some(Received::Data { bid, len }) => {
                self.lent = Some(bid);
                Input::Data(self.buf_ring.filled(bid, len as usize))
            }
            Some(Received::Eof) => Input::Eof,
            Some(Received::Failed(errno)) => Input::Failed(io::Error::from_raw_os_error(errno)),
        }
    }

    /// Reading allowed: arms an idle recv. Stopped: cancels the multishot recv, so what is
    /// completed meanwhile is bounded by what was in flight.
    pub(super) fn set_conn_reading(&mut self, id: SessionId, on: bool) {
        let Some(slot) = self.conns.slot_of(id) else {
            return;
        };
        let Some(conn) = self.conns.get_mut(slot) else {
            unreachable!("slot_of names a live record")
        };
        conn.reading = on;
        match (on, conn.recv) {
            (true, Arm::Idle) if !conn.recv_ended => self.arm_recv(slot),
            (false, Arm::Armed) => {
                conn.recv = Arm::Cancelling;
                conn.cancels += 1;
                let entry = opcode::AsyncCancel::new(user_data(OpKind::Recv, Some(slot)))
                    .build()
                    .user_data(user_data(OpKind::CancelConn, Some(slot)));
                // SAFETY: a cancel names only a user_data; it is counted in `conn.cancels`, so
                // the record outlives its CQE (ownership rule).
                unsafe { self.push(&entry) };
            }
            _ => {} // a cancelling recv is re-armed, if still wanted, when its last CQE lands
        }
    }

    /// Finishes a completed send (the untaken rest goes back to the queue's front), writes a
    /// head at once, or starts a send with the front of the queue (`SEND` for one buffer,
    /// `SENDMSG` for several).
    ///
    /// A head (a direct reply) goes out with a non-blocking `send(2)` while no send is in
    /// flight: IOCP's `FILE_SKIP_COMPLETION_PORT_ON_SUCCESS` — a send that completes in the
    /// call needs no completion. The kernel copies it during the call, so nothing is lent;
    /// what the socket did not take (`Wrote(n)`, `n` maybe 0) the caller queues, and the next
    /// call submits it as an SQE, which waits for room. Queued bytes go as SQEs: one
    /// `io_uring_enter` submits every session's send of the iteration.
    pub(super) fn send_conn(
        &mut self,
        id: SessionId,
        out: Outgoing<'_>,
    ) -> io::Result<SendProgress> {
        let Some(slot) = self.conns.slot_of(id) else {
            return Ok(SendProgress::Idle);
        };
        let Some(conn) = self.conns.get_mut(slot) else {
            unreachable!("slot_of names a live record")
        };
        match std::mem::take(&mut conn.send) {
            SendState::InFlight(op) => {
                conn.send = SendState::InFlight(op);
                Ok(SendProgress::Wait)
            }
            SendState::Done(mut op, res) => {
                let outcome = if res < 0 {
                    Err(io::Error::from_raw_os_error(-res))
                } else {
                    op.complete(res as usize, out.queue);
                    Ok(SendProgress::Wrote(res as usize))
                };
                self.recycle_send(op);
                outcome
            }
            SendState::Idle if !out.head.is_empty() => {
                match socket_call::send_nonblocking(conn.fd.as_fd(), out.head) {
                    Ok(n) => Ok(SendProgress::Wrote(n)),
                    Err(err)
                        if matches!(
                            err.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) =>
                    {
                        Ok(SendProgress::Wrote(0)) // queued by the caller, then an SQE
                    }
                    Err(err) => Err(err),
                }
            }
            SendState::Idle if out.queue.is_empty() => Ok(SendProgress::Idle),
            SendState::Idle => {
                self.submit_send(slot, out.queue);
                Ok(SendProgress::Wait)
            }
        }
    }

    fn submit_send(&mut self, slot: ConnSlot, queue: &mut SendQueue) {
        let mut op = self.send_pool.pop().unwrap_or_else(SendOp::new);
        let Some(conn) = self.conns.get_mut(slot) else {
            unreachable!("the caller found the record")
        };
        let msg = op.prepare(queue);
        let fd = Fd(conn.fd.as_raw_fd());
        let entry = match op.single() {
            // One buffer (the common echo case): SEND, cheaper than SENDMSG in the kernel.
            Some((ptr, len)) => opcode::Send::new(fd, ptr, len)
                .flags(libc::MSG_NOSIGNAL)
                .build(),
            None => opcode::SendMsg::new(fd, msg)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build(),
        }
        .user_data(user_data(OpKind::Send, Some(slot)));
        conn.send = SendState::InFlight(op);
        // SAFETY: the msghdr, iovecs and buffers (for SEND: the one buffer) live in the boxed
        // `op`, now held by `conn.send` until this SQE's CQE; the fd by `conn` until its last
        // CQE (ownership rule).
        unsafe { self.push(&entry) };
    }

    /// Shuts down the sending side of `id`'s socket (lingering close).
    pub(super) fn shutdown_conn(&mut self, id: SessionId) -> io::Result<()> {
        let Some(slot) = self.conns.slot_of(id) else {
            return Ok(());
        };
        let Some(conn) = self.conns.get_mut(slot) else {
            unreachable!("slot_of names a live record")
        };
        socket2::SockRef::from(&conn.fd).shutdown(std::net::Shutdown::Write)
    }

    /// Lets go of `id`'s socket: drops its unread input and finished send, cancels its ops,
    /// and frees the record (closing the fd) once the last of their CQEs is in. Returns true
    /// if that happened at once.
    pub(super) fn close_conn(&mut self, id: SessionId) -> bool {
        let Some(slot) = self.conns.slot_of(id) else {
            return false;
        };
        self.conns.unmap(id);
        let Some(conn) = self.conns.get_mut(slot) else {
            unreachable!("slot_of names a live record")
        };
        conn.life = Life::Draining;
        let input = std::mem::take(&mut conn.input);
        let done = match std::mem::take(&mut conn.send) {
            SendState::Done(op, _) => Some(op),
            SendState::InFlight(op) => {
                conn.send = SendState::InFlight(op);
                None
            }
            SendState::Idle => None,
        };
        if conn.recv != Arm::Idle || matches!(conn.send, SendState::InFlight(_)) {
            if conn.recv == Arm::Armed {
                conn.recv = Arm::Cancelling;
            }
            conn.cancels += 1;
            let entry = opcode::AsyncCancel2::new(CancelBuilder::fd(Fd(conn.fd.as_raw_fd())).all())
                .build()
                .user_data(user_data(OpKind::CancelConn, Some(slot)));
            // SAFETY: the cancel names the fd, which `conn` keeps open until this cancel's CQE
            // too, as it is counted in `conn.cancels` (ownership rule).
            unsafe { self.push(&entry) };
        }
        for received in input {
            if let Received::Data { bid, .. } = received {
                self.buf_ring.recycle(bid);
            }
        }
        if let Some(op) = done {
            self.recycle_send(op);
        }
        let mut released = Vec::new();
        self.release_if_quiet(slot, &mut released);
        !released.is_empty()
    }

    /// Frees a draining record once no SQE names it: only now is its fd closed.
    fn release_if_quiet(&mut self, slot: ConnSlot, out: &mut Vec<Event>) {
        if self
            .conns
            .get_mut(slot)
            .is_some_and(|c| c.life == Life::Draining && c.is_quiet())
        {
            drop(self.conns.remove(slot)); // `close(2)`: its last CQE is in
            out.push(Event::Released);
        }
    }

    /// Gives the buffer lent by the last `read` back to the kernel.
    pub(super) fn recycle_lent(&mut self) {
        if let Some(bid) = self.lent.take() {
            self.buf_ring.recycle(bid);
        }
    }

    fn recycle_send(&mut self, mut op: Box<SendOp>) {
        op.clear();
        if self.send_pool.len() < SEND_POOL {
            self.send_pool.push(op);
        }
    }

    fn arm_recv(&mut self, slot: ConnSlot) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        debug_assert_eq!(conn.recv, Arm::Idle);
        conn.recv = Arm::Armed;
        let entry = opcode::RecvMulti::new(Fd(conn.fd.as_raw_fd()), self.buf_ring.group())
            .build()
            .user_data(user_data(OpKind::Recv, Some(slot)));
        // SAFETY: `conn` keeps the fd open until the recv's last CQE; the buffers it fills
        // belong to `buf_ring`, which stays mapped while the ring lives (ownership rule).
        unsafe { self.push(&entry) };
    }
}
