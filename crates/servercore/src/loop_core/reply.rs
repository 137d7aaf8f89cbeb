//! Direct replies: what a handler copies back ([`Context::send_copy`](crate::Context::send_copy))
//! to a session with nothing queued or in flight is appended to one loop-wide buffer instead
//! of a pooled buffer and the session's queue. It is the *head* of the session's output: the
//! flush hands it to the driver's one send ahead of the queue
//! ([`Outgoing`](crate::driver::Outgoing)), which writes it with one `send(2)` (and with
//! io_uring, no SQE and no completion to reap).
//!
//! ```text
//!   send_copy(id, data): open, no transport stage, nothing queued or in flight, no flush
//!                        interval, the loop buffer under the pause mark, and id's reply the
//!                        buffer's tail (or none yet)?
//!       yes ─> append to the loop buffer, extend id's range, schedule id (pending list)
//!       no  ─> a pooled copy, queued as any send
//!   flush(id): driver.send(head = id's range, queue) ─Wrote(n)─> what of the head it did not
//!              take goes to the queue's front (one pooled copy); the range is released
//! ```
//!
//! Nothing else needs to know: a reply exists only while the session's queue was empty, so
//! whatever is queued for the session afterwards is behind it (a send, a close's WebSocket
//! frame, the FIN after the flush); an abort drops it with the queue. Replies are written
//! with the rest of the pending list, after all of the iteration's reads (recv all, then send
//! all: written as each input finished, they woke the peers between the reads and cost the
//! kernel more than the queue saved — measured). The buffer is emptied once no range is
//! left, and never grows past `send_queue_pause` (past it, sends take the queue, whose pause
//! stops reading).
//!
//! It is the echo's hot path: no pooled buffer, no reference count, no queue entry (measured:
//! 0.13 µs less server CPU per echo on io_uring, 9 of 9 rounds).

use std::ops::Range;

use super::LoopState;
use crate::session::Transport;
use crate::SessionId;

/// The loop's direct replies: their bytes, back to back.
#[derive(Debug, Default)]
pub(crate) struct Replies {
    bytes: Vec<u8>,
    /// Sessions with a range in `bytes` (it is emptied when none is left).
    outstanding: usize,
}

impl Replies {
    /// The bytes of a range handed out by [`LoopState::take_reply`].
    pub(crate) fn bytes(&self, range: &Range<usize>) -> &[u8] {
        &self.bytes[range.clone()]
    }

    /// True when no reply waits (and the buffer is empty).
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.outstanding == 0 && self.bytes.is_empty()
    }

    /// A range is written or dropped.
    fn release(&mut self) {
        self.outstanding -= 1;
        if self.outstanding == 0 {
            self.bytes.clear(); // its capacity is kept: bounded by the pause mark
        }
    }
}

impl LoopState {
    /// Appends `data` to `id`'s direct reply (see the module docs); false if it must be
    /// queued instead.
    pub(crate) fn reply_copy(&mut self, id: SessionId, data: &[u8]) -> bool {
        let cap = self
            .config
            .send_queue_pause
            .min(self.config.send_queue_limit);
        let replies = &mut self.replies;
        if self.config.flush_interval.is_some() || replies.bytes.len() + data.len() >= cap {
            return false;
        }
        let Some(session) = self.sessions.get_mut(id) else {
            return false;
        };
        let raw = matches!(session.transport, Transport::Raw);
        let recorded = session.record.is_some(); // what is recorded takes the queue
        if !session.accepts_sends() || !raw || recorded || session.send.owed() > 0 {
            return false;
        }
        let end = replies.bytes.len();
        let range = match session.reply.clone() {
            None => end..end,
            Some(range) if range.end == end => range,
            Some(_) => return false, // another session's reply came after it: queue behind
        };
        let new = session.reply.is_none();
        replies.bytes.extend_from_slice(data);
        let range = range.start..replies.bytes.len();
        let queued = range.len() as u64;
        session.reply = Some(range);
        if new {
            replies.outstanding += 1;
            self.schedule(id);
        }
        let high_water = &mut self.stats.send_queue_high_water;
        *high_water = (*high_water).max(queued);
        true
    }

    /// Bytes of `id`'s reply not written yet.
    pub(crate) fn reply_len(&self, id: SessionId) -> usize {
        self.sessions
            .get(id)
            .and_then(|s| s.reply.as_ref())
            .map_or(0, Range::len)
    }

    /// Takes `id`'s reply range for a flush; hand it back with [`LoopState::reply_sent`].
    pub(crate) fn take_reply(&mut self, id: SessionId) -> Option<Range<usize>> {
        self.sessions.get_mut(id)?.reply.take()
    }

    /// The flush handed `range` to the driver, which took `taken` bytes of it: the rest goes
    /// to the front of `id`'s queue (if the session is still there), and the range is
    /// released.
    pub(crate) fn reply_sent(&mut self, id: SessionId, range: Range<usize>, taken: usize) {
        if taken < range.len() {
            let rest = &self.replies.bytes[range.start + taken..range.end];
            let buf = self.pool.copy(rest);
            if let Some(session) = self.sessions.get_mut(id) {
                session.send.push_front(buf);
            }
        }
        self.replies.release();
    }

    /// Drops `id`'s reply (the session is aborted or gone: what it was owed goes with it).
    pub(crate) fn drop_reply(&mut self, id: SessionId) {
        if self.take_reply(id).is_some() {
            self.replies.release();
        }
    }
}
