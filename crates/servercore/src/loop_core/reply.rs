//! The direct reply: what a handler copies back to the session whose input it is reading is
//! written straight from one loop-wide buffer when that input is done, instead of going
//! through the session's send queue and the pending list.
//!
//! ```text
//!   take_input(id):  queue empty, no flush interval, a driver that writes borrowed memory?
//!                    yes ─> Context::send_copy(id, ..) appends to the reply buffer (one copy)
//!   input done:      Driver::write_now(reply) ──n──> handler.sent(n); the rest is queued
//!   anything else for id in between (a shared buffer, a close, past the pause mark):
//!                    the reply is moved into the queue first, so the order holds
//! ```
//!
//! It is the echo's hot path: a readiness driver writes the reply with one `send(2)` from the
//! buffer the handler's copy went into; no pooled buffer, no reference count, no queue entry,
//! no pending list. What a callback sends still leaves together (one write per session's
//! input, as the loop's flush would make it). A completion driver never takes this path: the
//! kernel must own what it sends until the completion, so its replies are queued as before.

use super::{LoopCore, LoopState};
use crate::driver::Driver;
use crate::session::SessionState;
use crate::{CloseReason, Handler, SessionId};

/// The reply being collected for one session (at most one at a time, per loop).
#[derive(Debug, Default)]
pub(crate) struct Reply {
    /// The session whose input is being taken, while its queue is known empty.
    session: Option<SessionId>,
    /// What the handler copied for it so far (kept under `send_queue_pause`).
    bytes: Vec<u8>,
}

impl Reply {
    /// True while sends to `id` are collected here.
    pub(crate) fn is_for(&self, id: SessionId) -> bool {
        self.session == Some(id)
    }

    /// Bytes collected for `id` (0 for any other session).
    pub(crate) fn len_for(&self, id: SessionId) -> usize {
        if self.is_for(id) {
            self.bytes.len()
        } else {
            0
        }
    }
}

impl LoopState {
    /// Appends `data` to `id`'s reply; false if it must be queued instead. Past the pause
    /// mark the reply is moved to the queue first (what follows is queued behind it).
    pub(crate) fn reply_copy(&mut self, id: SessionId, data: &[u8]) -> bool {
        if !self.reply.is_for(id) {
            return false;
        }
        let total = self.reply.bytes.len() + data.len();
        if total
            >= self
                .config
                .send_queue_pause
                .min(self.config.send_queue_limit)
        {
            self.spill_reply();
            return false;
        }
        self.reply.bytes.extend_from_slice(data);
        let high_water = &mut self.stats.send_queue_high_water;
        *high_water = (*high_water).max(total as u64);
        true
    }

    /// Moves the reply into its session's send queue (scheduled for the flush) and stops
    /// collecting: something else is about to be queued for the session, or it is closing.
    pub(crate) fn spill_reply(&mut self) {
        let Some(id) = self.reply.session.take() else {
            return;
        };
        if self.reply.bytes.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.reply.bytes);
        self.queue_copy(id, &bytes);
        self.reply.bytes = bytes;
        self.reply.bytes.clear();
    }

    /// Queues a copy of `data` for `id` and schedules its flush.
    fn queue_copy(&mut self, id: SessionId, data: &[u8]) {
        let buf = self.pool.copy(data);
        if let Some(session) = self.sessions.get_mut(id) {
            session.send.push(buf);
            self.schedule(id);
        }
    }

    /// Drops `id`'s reply (the session is aborted: what it was owed is dropped with it).
    pub(crate) fn drop_reply(&mut self, id: SessionId) {
        if self.reply.is_for(id) {
            self.reply.session = None;
            self.reply.bytes.clear();
        }
    }
}

impl<H: Handler> LoopCore<H> {
    /// Starts collecting `id`'s reply if it can be written directly: an open session with
    /// nothing queued or in flight, no flush interval holding output back, no WebSocket
    /// framing, and a driver that writes from borrowed memory.
    pub(super) fn begin_reply<D: Driver>(&mut self, driver: &D, id: SessionId) {
        debug_assert!(self.state.reply.session.is_none(), "one reply at a time");
        if !driver.writes_borrowed() || self.state.config.flush_interval.is_some() {
            return;
        }
        let direct = self.state.sessions.get(id).is_some_and(|s| {
            s.state == SessionState::Open && !s.frame_messages && s.send.owed() == 0
        });
        if direct {
            self.state.reply.session = Some(id);
        }
    }

    /// Writes the reply collected since [`LoopCore::begin_reply`]; what the socket does not
    /// take is queued and flushed as usual.
    pub(super) fn finish_reply<D: Driver>(&mut self, driver: &mut D) {
        let Some(id) = self.state.reply.session.take() else {
            return;
        };
        if self.state.reply.bytes.is_empty() || self.state.sessions.get(id).is_none() {
            self.state.reply.bytes.clear();
            return;
        }
        let mut bytes = std::mem::take(&mut self.state.reply.bytes);
        match driver.write_now(id, &bytes) {
            Ok(n) => {
                if n < bytes.len() {
                    self.state.queue_copy(id, &bytes[n..]);
                }
                if n > 0 && self.wrote(id, n) {
                    self.resume_reading(driver, id);
                }
            }
            Err(err) => self.close_session(driver, id, CloseReason::from_io(&err)),
        }
        bytes.clear();
        self.state.reply.bytes = bytes; // its capacity is kept (under the pause mark)
    }
}
