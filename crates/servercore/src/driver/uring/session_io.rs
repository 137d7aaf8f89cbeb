//! A session's socket under the completion driver: its multishot recv (with backpressure),
//! its one-at-a-time sendmsg, and its close, which outlives the session until the last CQE.
//!
//! ```text
//!   recv:  Idle --arm--> Armed --(CQE without F_MORE: EOF, error, ENOBUFS)--> Idle --re-arm-->
//!                          \--(paused / closing: ASYNC_CANCEL)--> Cancelling --(last CQE)--> Idle
//!   send:  Idle --(queue non-empty: take_front into a SendOp)--> InFlight --(CQE)--> Idle
//!   life:  Open --(close: LoopCore::close now, cancel ops)--> Draining --(last CQE)--> freed
//! ```

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use bytes::BytesMut;
use io_uring::cqueue;
use io_uring::opcode;
use io_uring::types::{CancelBuilder, Fd};
use socket2::SockRef;

use super::ops::{user_data, Arm, Conn, ConnSlot, Life, OpKind, SendOp, SendState};
use super::{UringDriver, SEND_POOL};
use crate::loop_core::{LoopCore, PendingAction};
use crate::{CloseReason, Handler, SessionId};

impl UringDriver {
    /// A new connection: opens its session (an accepted one only if the session caps admit
    /// it; a refused one gets the farewell and is closed) and arms its recv.
    pub(super) fn add_session<H: Handler>(
        &mut self,
        core: &mut LoopCore<H>,
        fd: OwnedFd,
        peer: SocketAddr,
        accepted: bool,
    ) {
        if core.draining() {
            return; // stopping: the socket is closed here, never becomes a session
        }
        let id = if accepted {
            match core.accept(peer) {
                Ok(id) => id,
                Err(refused) => {
                    crate::driver::send_farewell(fd.as_fd(), refused.farewell.as_deref());
                    return;
                }
            }
        } else {
            core.open(peer)
        };
        if self.nodelay {
            if let Err(err) = SockRef::from(&fd).set_nodelay(true) {
                tracing::debug!(%peer, "TCP_NODELAY: {err}");
            }
        }
        let slot = self.conns.insert(Conn::new(fd, id));
        if !core.read_blocked(id) {
            self.arm_recv(slot);
        }
    }

    pub(super) fn on_recv<H: Handler>(
        &mut self,
        core: &mut LoopCore<H>,
        slot: ConnSlot,
        res: i32,
        flags: u32,
    ) {
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
        let (id, open) = (conn.session, conn.life == Life::Open);
        if res > 0 {
            let Some(bid) = bid else {
                unreachable!("a buffer-select recv that returned data names its buffer")
            };
            if open {
                let data = self.buf_ring.filled(bid, res as usize);
                let paused = core.session_mut(id).is_some_and(|s| s.read_paused);
                if paused || !conn.held.is_empty() {
                    conn.held.extend_from_slice(data); // shown in order once reading resumes
                    self.stats.held_high_water = self.stats.held_high_water.max(conn.held.len());
                } else {
                    core.received(id, data);
                }
            }
            self.buf_ring.recycle(bid); // the session layer (or `held`) copied what it keeps
        } else if let Some(bid) = bid {
            self.buf_ring.recycle(bid); // never seen: a buffer comes only with data
        }
        if res == 0 && open {
            if conn.held.is_empty() {
                core.peer_closed(id);
            } else {
                conn.eof_held = true; // reported once the held bytes have been shown
            }
        }
        if res == -libc::ENOBUFS {
            self.stats.enobufs += 1; // the ring ran dry in this batch: re-armed below
        } else if res < 0 && res != -libc::ECANCELED && open {
            self.close(
                core,
                id,
                CloseReason::from_io(&io::Error::from_raw_os_error(-res)),
            );
        }
        if res > 0 && open {
            // Reading may have just been paused (this data filled the send queue), and with a
            // flush interval the pending list may not hand the session back for a while: stop
            // the recv now, so `held` takes no more than what is already in flight.
            self.pause_if_blocked(core, id);
        }
        if !more {
            self.release_if_quiet(slot);
            self.resume_reading(core, id);
        }
    }

    pub(super) fn on_send<H: Handler>(&mut self, core: &mut LoopCore<H>, slot: ConnSlot, res: i32) {
        let Some(conn) = self.conns.get_mut(slot) else {
            tracing::error!(?slot, res, "send CQE for a freed connection record");
            return;
        };
        let SendState::InFlight(mut op) = std::mem::replace(&mut conn.send, SendState::Idle) else {
            unreachable!("send CQE with no send in flight")
        };
        let id = conn.session;
        if conn.life == Life::Draining {
            self.recycle_send(op); // the session is gone: its bytes are dropped here
            self.release_if_quiet(slot);
            return;
        }
        if let PendingAction::Abort(reason) = core.pending_action(id) {
            // Aborted while this send was in flight: its unsent rest is dropped with the queue,
            // and the session closes with the abort's reason, not this send's outcome.
            self.recycle_send(op);
            self.close(core, id, reason);
            return;
        }
        if res < 0 {
            self.recycle_send(op);
            self.close(
                core,
                id,
                CloseReason::from_io(&io::Error::from_raw_os_error(-res)),
            );
            return;
        }
        let written = res as usize;
        let Some(session) = core.session_mut(id) else {
            unreachable!("an open connection's session exists")
        };
        op.complete(written, &mut session.send);
        self.recycle_send(op);
        if core.wrote(id, written) {
            self.resume_reading(core, id);
        }
        self.flush(core, id);
    }

    pub(super) fn on_conn_cancelled(&mut self, slot: ConnSlot) {
        let Some(conn) = self.conns.get_mut(slot) else {
            tracing::error!(?slot, "cancel CQE for a freed connection record");
            return;
        };
        conn.cancels -= 1;
        self.release_if_quiet(slot);
    }

    /// Flushes or closes every session on the pending list; pauses reading where asked.
    pub(super) fn carry_out_pending<H: Handler>(&mut self, core: &mut LoopCore<H>) {
        let mut pending = std::mem::take(&mut self.pending);
        core.take_pending(&mut pending);
        for &id in &pending {
            match core.pending_action(id) {
                PendingAction::Flush => {
                    self.pause_if_blocked(core, id);
                    self.flush(core, id);
                }
                PendingAction::Abort(reason) => self.close(core, id, reason),
                PendingAction::Gone => {}
            }
        }
        pending.clear();
        self.pending = pending;
    }

    /// Starts a sendmsg of the front of `id`'s queue unless one is in flight (its CQE goes on
    /// with the rest). With the queue empty, closes the session if it was closing.
    pub(super) fn flush<H: Handler>(&mut self, core: &mut LoopCore<H>, id: SessionId) {
        let Some(slot) = self.conns.slot_of(id) else {
            return;
        };
        let Some(conn) = self.conns.get_mut(slot) else {
            unreachable!("slot_of names a live record")
        };
        if matches!(conn.send, SendState::InFlight(_)) {
            return;
        }
        let Some(session) = core.session_mut(id) else {
            unreachable!("an open connection's session exists")
        };
        if session.send.is_empty() {
            if let Some(reason) = core.flushed(id) {
                self.close(core, id, reason);
            }
            return;
        }
        let mut op = self.send_pool.pop().unwrap_or_else(SendOp::new);
        let msg = op.prepare(&mut session.send);
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

    /// Backpressure: `id`'s output is over the pause threshold (or it is closing), so its
    /// recv is cancelled; [`UringDriver::resume_reading`] re-arms it.
    fn pause_if_blocked<H: Handler>(&mut self, core: &mut LoopCore<H>, id: SessionId) {
        let Some(slot) = self.conns.slot_of(id) else {
            return;
        };
        let Some(conn) = self.conns.get_mut(slot) else {
            unreachable!("slot_of names a live record")
        };
        if conn.recv != Arm::Armed || !core.read_blocked(id) {
            return;
        }
        conn.recv = Arm::Cancelling;
        conn.cancels += 1;
        let entry = opcode::AsyncCancel::new(user_data(OpKind::Recv, Some(slot)))
            .build()
            .user_data(user_data(OpKind::CancelConn, Some(slot)));
        // SAFETY: a cancel names only a user_data; it is counted in `conn.cancels`, so the
        // record outlives its CQE (ownership rule).
        unsafe { self.push(&entry) };
    }

    /// Reading may go on: shows what was held while paused, then re-arms the recv if it is
    /// idle and reading is still allowed.
    fn resume_reading<H: Handler>(&mut self, core: &mut LoopCore<H>, id: SessionId) {
        let Some(slot) = self.conns.slot_of(id) else {
            return;
        };
        self.deliver_held(core, id, slot);
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.recv == Arm::Idle && conn.held.is_empty() && !core.read_blocked(id) {
            self.arm_recv(slot);
        }
    }

    /// Shows bytes held while `id` was paused to the session layer, a receive buffer's worth
    /// at a time for as long as reading stays allowed (so the send queue stays within one
    /// buffer of the pause threshold, as with epoll), then an EOF that came behind them.
    fn deliver_held<H: Handler>(&mut self, core: &mut LoopCore<H>, id: SessionId, slot: ConnSlot) {
        let chunk = self.buf_ring.buf_size();
        while let Some(conn) = self.conns.get_mut(slot) {
            if conn.held.is_empty() {
                if std::mem::take(&mut conn.eof_held) {
                    core.peer_closed(id);
                }
                return;
            }
            if core.read_blocked(id) {
                return;
            }
            let part = conn.held.split_to(chunk.min(conn.held.len()));
            if conn.held.is_empty() {
                conn.held = BytesMut::new(); // an idle session holds no receive memory
            }
            core.received(id, &part);
        }
    }

    /// Closes session `id`: tells the session layer now, cancels the socket's ops, and frees
    /// the record (closing the fd) once the last of their CQEs is in.
    pub(super) fn close<H: Handler>(
        &mut self,
        core: &mut LoopCore<H>,
        id: SessionId,
        reason: CloseReason,
    ) {
        let Some(slot) = self.conns.slot_of(id) else {
            return;
        };
        self.conns.unmap(id);
        let Some(conn) = self.conns.get_mut(slot) else {
            unreachable!("slot_of names a live record")
        };
        conn.life = Life::Draining;
        conn.held = BytesMut::new();
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
        core.close(id, reason);
        self.release_if_quiet(slot);
    }

    /// Frees a draining record once no SQE names it: only now is its fd closed.
    fn release_if_quiet(&mut self, slot: ConnSlot) {
        if self
            .conns
            .get_mut(slot)
            .is_some_and(|c| c.life == Life::Draining && c.is_quiet())
        {
            drop(self.conns.remove(slot)); // `close(2)`: its last CQE is in
            self.fd_freed = true;
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
