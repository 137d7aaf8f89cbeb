//! A session's socket under the completion driver: its multishot recv (paused and resumed as
//! the session layer says), its one-at-a-time send, and its close, which outlives the session
//! until the last CQE.
//!
//! ```text
//!   recv:  Idle --arm--> Armed --(CQE without F_MORE: EOF, error, ENOBUFS)--> Idle --re-arm-->
//!                          \--(set_reading(false) / close: ASYNC_CANCEL)--> Cancelling --(last CQE)--> Idle
//!   send:  Idle --(send: take_front into a SendOp)--> InFlight --(CQE)--> Done --(send: give back rest)--> Idle
//!   life:  Open --(close: cancel ops)--> Draining --(last CQE)--> freed (fd closed, Event::Released)
//! ```

use std::io;
use std::os::fd::AsRawFd;

use io_uring::cqueue;
use io_uring::opcode;
use io_uring::types::{CancelBuilder, Fd, Fixed};

use super::ops::{user_data, Arm, Conn, ConnSlot, Life, OpKind, Received, SendOp, SendState};
use super::{UringDriver, SEND_POOL};
use crate::driver::{Event, Input, SendProgress};
use crate::session::SendQueue;
use crate::SessionId;

/// Evaluates `$build` with `$socket` naming `$conn`'s socket as its SQEs must: its fixed-file
/// slot (`types::Fixed`) if it has one, else its fd (`types::Fd`).
macro_rules! naming_socket {
    ($conn:expr, |$socket:ident| $build:expr) => {
        match $conn.fixed {
            Some(slot) => {
                let $socket = Fixed(slot);
                $build
            }
            None => {
                let $socket = Fd($conn.fd.as_raw_fd());
                $build
            }
        }
    };
}

impl UringDriver {
    /// Takes `fd` as session `id`'s socket (installing it in the fixed-file table, if there
    /// is one and it has room) and arms its recv.
    pub(super) fn add_conn(
        &mut self,
        id: SessionId,
        stream: std::net::TcpStream,
    ) -> io::Result<()> {
        // The ring does the waiting; a blocking socket lets it park ops on the socket's wait
        // queue instead of ever answering `EAGAIN`.
        stream.set_nonblocking(false)?;
        let fixed = self.fixed.install(&self.ring, stream.as_raw_fd());
        if fixed.is_none() && self.fixed.is_active() {
            self.counters.fixed_table_full += 1;
        }
        let slot = self.conns.insert(Conn::new(stream.into(), fixed, id));
        self.arm_recv(slot);
        Ok(())
    }

    /// A recv CQE: its bytes (or EOF, or error) join the connection's input for the session
    /// layer — a bundle's buffers one by one, in order; the recv is re-armed if it ended
    /// while reading is still allowed.
    pub(super) fn on_recv(&mut self, slot: ConnSlot, res: i32, flags: u32, out: &mut Vec<Event>) {
        let more = cqueue::more(flags);
        let filled = match (res, cqueue::buffer_select(flags)) {
            (1.., Some(first)) => Some(self.buf_ring.span(first, res as u32)),
            (1.., None) => unreachable!("a buffer-select recv that returned data names its buffer"),
            _ => None,
        };
        let Some(conn) = self.conns.get_mut(slot) else {
            tracing::error!(?slot, res, "recv CQE for a freed connection record");
            for (bid, _) in filled.into_iter().flatten() {
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
        let end = match res {
            0 if open => Some(Received::Eof),
            _ if res == -libc::ENOBUFS => {
                self.counters.recv_buffers_exhausted += 1; // ran dry in this batch: re-armed
                None
            }
            _ if res < 0 && res != -libc::ECANCELED && open => Some(Received::Failed(-res)),
            _ => None,
        };
        let was_empty = conn.input.is_empty();
        if let Some(filled) = filled {
            if filled.len() > 1 {
                self.counters.recv_bundles += 1;
            }
            if open {
                conn.input
                    .extend(filled.map(|(bid, len)| Received::Data { bid, len }));
            } else {
                for (bid, _) in filled {
                    self.buf_ring.recycle(bid); // a closed session's bytes: nobody reads them
                }
            }
        }
        if let Some(end) = end {
            conn.recv_ended = true;
            conn.input.push_back(end);
        }
        if was_empty && !conn.input.is_empty() {
            out.push(Event::Readable(conn.session));
        }
        if !more {
            // With input waiting, the re-arm waits for the session layer to take it (and
            // perhaps pause): see `next_input`. Else a recv re-armed now could complete a whole
            // ring more before a pause's cancel, beyond `read_ahead`.
            if open && conn.reading && !conn.recv_ended && conn.input.is_empty() {
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
            None => {
                // All taken: a recv that ended meanwhile is re-armed if reading still is on.
                if conn.recv == Arm::Idle && conn.reading && !conn.recv_ended {
                    self.arm_recv(slot);
                }
                Input::Wait
            }
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

    /// Finishes a completed send (the untaken rest goes back to the queue's front) or starts
    /// one with the front of `queue` (`SEND` for one buffer, `SENDMSG` for several).
    pub(super) fn send_conn(
        &mut self,
        id: SessionId,
        queue: &mut SendQueue,
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
                    op.complete(res as usize, queue);
                    Ok(SendProgress::Wrote(res as usize))
                };
                self.recycle_send(op);
                outcome
            }
            SendState::Idle if queue.is_empty() => Ok(SendProgress::Idle),
            SendState::Idle => {
                self.submit_send(slot, queue);
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
        let entry = naming_socket!(conn, |socket| match op.single() {
            // One buffer (the common echo case): SEND, cheaper than SENDMSG in the kernel.
            Some((ptr, len)) => opcode::Send::new(socket, ptr, len)
                .flags(libc::MSG_NOSIGNAL)
                .build(),
            None => opcode::SendMsg::new(socket, msg)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build(),
        })
        .user_data(user_data(OpKind::Send, Some(slot)));
        conn.send = SendState::InFlight(op);
        // SAFETY: the msghdr, iovecs and buffers (for SEND: the one buffer) live in the boxed
        // `op`, now held by `conn.send` until this SQE's CQE; the fd by `conn` until its last
        // CQE, and its fixed slot (if any) stays filled until then too (ownership rule).
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
            let target = naming_socket!(conn, |socket| CancelBuilder::fd(socket).all());
            let entry = opcode::AsyncCancel2::new(target)
                .build()
                .user_data(user_data(OpKind::CancelConn, Some(slot)));
            // SAFETY: the cancel names the fd (or its fixed slot), which `conn` keeps open (and
            // filled) until this cancel's CQE too, as it is counted in `conn.cancels`
            // (ownership rule).
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

    /// Frees a draining record once no SQE names it: only now is its fixed slot cleared
    /// and then its fd closed (the slot's reference would keep the socket open).
    fn release_if_quiet(&mut self, slot: ConnSlot, out: &mut Vec<Event>) {
        if !self
            .conns
            .get_mut(slot)
            .is_some_and(|c| c.life == Life::Draining && c.is_quiet())
        {
            return;
        }
        let Some(conn) = self.conns.remove(slot) else {
            unreachable!("the record was just found")
        };
        if let Some(fixed) = conn.fixed {
            self.fixed.clear(&self.ring, fixed); // its last CQE is in
        }
        drop(conn); // `close(2)`
        out.push(Event::Released);
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
        let group = self.buf_ring.group();
        let entry = if self.recv_bundle {
            naming_socket!(conn, |socket| opcode::RecvMultiBundle::new(socket, group)
                .build())
        } else {
            naming_socket!(conn, |socket| opcode::RecvMulti::new(socket, group).build())
        }
        .user_data(user_data(OpKind::Recv, Some(slot)));
        // SAFETY: `conn` keeps the fd open (and its fixed slot, if any, filled) until the
        // recv's last CQE; the buffers it fills
        // belong to `buf_ring`, which stays mapped while the ring lives (ownership rule).
        unsafe { self.push(&entry) };
    }
}
