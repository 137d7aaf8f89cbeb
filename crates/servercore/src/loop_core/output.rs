//! Output: the pending list (sessions with queued bytes or a close to carry out) and the
//! flush of one session's [`SendQueue`](crate::SendQueue) through the driver.
//!
//! ```text
//!   Context::send ─> SendQueue ─> pending list ─(end of iteration, or each flush tick)─┐
//!   (Context::send_copy to an idle session: the loop's reply buffer, the head, `reply.rs`)
//!   flush:  Driver::send(head, queue) ──Wrote(n)──> handler.sent; resume reading below half the pause mark; again
//!                        ──Wait──────> Event::Writable comes back here later
//!                        ──Idle──────> nothing queued or in flight: a closing session lingers
//!   linger: shutdown(SHUT_WR), read and discard until the peer's EOF (or lingering_time), close
//! ```

use super::LoopCore;
use crate::driver::{Driver, Outgoing, SendProgress};
use crate::session::SessionState;
use crate::{CloseReason, Context, Handler, SessionId};

impl<H: Handler> LoopCore<H> {
    /// Takes the pending list (sessions with output or a close to carry out).
    ///
    /// With `ServiceConfig::flush_interval` set, the list is handed over only once per
    /// interval (and at once while draining for shutdown): everything queued for a session
    /// in between leaves in one write.
    fn take_pending(&mut self, out: &mut Vec<SessionId>) {
        if let Some(interval) = self.state.config.flush_interval {
            if self.state.pending.is_empty() {
                return;
            }
            let due = *self
                .next_flush
                .get_or_insert(super::deadline(self.state.now, interval));
            if self.state.now < due && self.drain_deadline.is_none() {
                return;
            }
            self.next_flush = None;
        }
        std::mem::swap(out, &mut self.state.pending);
        self.state.pending.clear();
    }

    /// Flushes or closes every session on the pending list.
    pub(super) fn carry_out_pending<D: Driver>(&mut self, driver: &mut D) {
        let mut pending = std::mem::take(&mut self.scratch_pending);
        self.take_pending(&mut pending);
        for id in pending.drain(..) {
            let Some(session) = self.state.sessions.get_mut(id) else {
                continue;
            };
            // Cleared as its turn comes: a send to it from now on schedules it again (a
            // session flushed earlier in this pass), or finds it still to come in this pass.
            session.flush_scheduled = false;
            self.sync_reading(driver, id);
            self.flush(driver, id);
        }
        self.scratch_pending = pending;
    }

    /// Sends what `id` owes (its direct reply, then its queue) until the driver must wait;
    /// then, if nothing is queued or in flight, closes a closing session. An aborted session
    /// closes at once.
    pub(super) fn flush<D: Driver>(&mut self, driver: &mut D, id: SessionId) {
        if let Some(SessionState::Closing { reason }) = self.state.sessions.get(id).map(|s| s.state)
        {
            self.state.queue_farewells(id, reason); // its stages' goodbyes, once, before the FIN
        }
        let mut wrote = false;
        loop {
            // A reply made while flushing (a resumed read's echo) goes out in this flush too.
            let head = self.state.take_reply(id);
            let state = &mut self.state;
            let Some(session) = state.sessions.get_mut(id) else {
                return;
            };
            if let SessionState::Aborting { reason } = session.state {
                debug_assert!(head.is_none(), "an abort drops the reply");
                self.close_session(driver, id, reason);
                return;
            }
            if wrote && head.is_none() && session.send.is_empty() {
                break; // idle: nothing in flight after a write (`SendProgress::Wrote`)
            }
            let out = Outgoing {
                head: head.as_ref().map_or(&[], |r| state.replies.bytes(r)),
                queue: &mut session.send,
            };
            let progress = driver.send(id, out);
            if let Some(range) = head {
                let taken = match progress {
                    Ok(SendProgress::Wrote(n)) => n.min(range.len()),
                    _ => 0,
                };
                self.state.reply_sent(id, range, taken);
            }
            match progress {
                Ok(SendProgress::Wrote(n)) => {
                    wrote = true;
                    if self.wrote(id, n) {
                        self.resume_reading(driver, id);
                    }
                }
                Ok(SendProgress::Wait) => return,
                Ok(SendProgress::Idle) => break,
                Err(err) => {
                    self.close_session(driver, id, CloseReason::from_io(&err));
                    return;
                }
            }
        }
        match self
            .state
            .sessions
            .get(id)
            .map(|s| (s.state, s.send.owed()))
        {
            Some((SessionState::Closing { reason }, 0)) => self.linger(driver, id, reason),
            Some((SessionState::Aborting { reason }, _)) => self.close_session(driver, id, reason),
            _ => {}
        }
    }

    /// Everything `id` owed was handed to the kernel: shut down our side and read on,
    /// discarding, until the peer's EOF (a lingering close), or close now if the peer has
    /// finished already or lingering is off.
    fn linger<D: Driver>(&mut self, driver: &mut D, id: SessionId, reason: CloseReason) {
        let Some(session) = self.state.sessions.get_mut(id) else {
            return;
        };
        if session.peer_eof || self.state.config.lingering_time.is_zero() {
            self.close_session(driver, id, reason);
            return;
        }
        if let Err(err) = driver.shutdown_write(id) {
            tracing::debug!(session = %id, "shutdown(SHUT_WR): {err}");
            self.close_session(driver, id, reason);
            return;
        }
        session.state = SessionState::Lingering { reason };
        self.sync_reading(driver, id);
        self.take_input(driver, id); // what waited while reading was paused
    }

    /// The kernel took `n` bytes of `id`'s queue. Tells the handler; returns true if reading
    /// was paused and may resume now (the queue fell to half the pause mark).
    pub(super) fn wrote(&mut self, id: SessionId, n: usize) -> bool {
        if n == 0 {
            return false; // a head the driver could not take now: queued, nothing sent
        }
        let resume_below = self.state.config.send_queue_pause / 2;
        self.state.stats.bytes_out += n as u64;
        let Some(session) = self.state.sessions.get_mut(id) else {
            return false;
        };
        let resumed = session.read_paused && session.send.owed() <= resume_below;
        if resumed {
            session.read_paused = false;
            if session.partial_since.is_some() {
                // The partial-packet clock stood still while reading was paused.
                session.partial_since = Some(self.state.now);
            }
        }
        self.handler.sent(&mut Context::new(&mut self.state), id, n);
        resumed
    }
}
