//! What a handler asks of the loop for a session — send, copy, close, abort — and the loop's
//! policy for each: the queue limits and the pause, the direct reply, the transport stages,
//! the pending list, and the mailbox of another loop. [`Context`](crate::Context) is only
//! their face.
//!
//! ```text
//!   send(id, buf):  another loop's session ─> post to its mailbox (bounded: mailbox_limit)
//!                   gone / closing ─> NoSession / Closing (a recorded session's record
//!                   still keeps it: the connection goes, the stream may resume)
//!                   past send_queue_limit ─> abort (SlowConsumer), QueueFull
//!                   past send_queue_pause ─> reading pauses
//!                   queued through its stages (framed), the session on the pending list
//!   send_copy:      the direct reply if the session is idle (reply.rs), else a pooled copy, send
//!   close:          Open ─> Closing: the flush queues the stages' farewells, then the FIN
//!   abort:          ─> Aborting: the queue and the reply dropped, closed at the next flush
//!   any, to an id the handler holds past its connection (`Context::hold`):
//!                   ─> Handler::held at the end of the iteration, in order
//! ```

use bytes::Bytes;

use super::LoopState;
use crate::mailbox::Command;
use crate::session::SessionState;
use crate::{CloseReason, HeldRequest, SendError, SessionId};

impl LoopState {
    /// Queues `buf` for `id` (see the module docs).
    ///
    /// # Errors
    /// As [`Context::send`](crate::Context::send).
    pub(crate) fn send(&mut self, id: SessionId, buf: Bytes) -> Result<(), SendError> {
        if id.loop_index() != self.index {
            return self.post(id.loop_index(), Command::Send { id, buf });
        }
        // One lookup of the session per send: a broadcast makes one send per member.
        let Some(session) = self.sessions.get_mut(id) else {
            return self.hand_to_held(id, HeldRequest::Send(buf));
        };
        if !session.accepts_sends() {
            if let Some(record) = &mut session.record {
                record.push(buf); // not for this connection, but for the one that resumes it
            }
            return Err(SendError::Closing);
        }
        let reply = session.reply.as_ref().map_or(0, |r| r.len()); // a direct reply: ahead
        let waiting: usize = session.unframed.iter().map(Bytes::len).sum();
        let limit = self.config.send_queue_limit;
        let queued = session.send.owed() + reply + waiting + buf.len();
        if queued > limit {
            if let Some(record) = &mut session.record {
                record.push(buf); // the stream stays whole for a resume
            }
            self.abort(id, CloseReason::SlowConsumer { queued, limit });
            return Err(SendError::QueueFull { queued, limit });
        }
        if queued >= self.config.send_queue_pause {
            session.read_paused = true;
        }
        session.queue(buf, &mut self.pool); // through its transport stages, if it has any
        if !std::mem::replace(&mut session.flush_scheduled, true) {
            self.pending.push(id);
        }
        let high_water = &mut self.stats.send_queue_high_water;
        *high_water = (*high_water).max(queued as u64);
        Ok(())
    }

    /// Queues a copy of `data` for `id`: the direct reply if it can be one, else a pooled copy.
    ///
    /// # Errors
    /// As [`Context::send`](crate::Context::send).
    pub(crate) fn send_copy(&mut self, id: SessionId, data: &[u8]) -> Result<(), SendError> {
        if self.reply_copy(id, data) {
            return Ok(()); // a direct reply: written by the flush, ahead of anything queued
        }
        let buf = self.pool.copy(data);
        self.send(id, buf)
    }

    /// Closes `id` gracefully with `reason` (another loop's through its mailbox).
    pub(crate) fn close(&mut self, id: SessionId, reason: CloseReason) {
        if id.loop_index() != self.index {
            let _ = self.post(id.loop_index(), Command::Close { id, reason });
            return;
        }
        let Some(session) = self.sessions.get_mut(id) else {
            let _ = self.hand_to_held(id, HeldRequest::Close(reason));
            return;
        };
        if session.state == SessionState::Open {
            session.state = SessionState::Closing { reason };
            self.schedule(id); // the flush queues the stages' farewells, then FIN
        }
    }

    /// Closes `id` at once with `reason`, dropping what it is owed (another loop's through
    /// its mailbox).
    pub(crate) fn abort(&mut self, id: SessionId, reason: CloseReason) {
        if id.loop_index() != self.index {
            let _ = self.post(id.loop_index(), Command::Abort { id, reason });
            return;
        }
        self.drop_reply(id);
        let Some(session) = self.sessions.get_mut(id) else {
            let _ = self.hand_to_held(id, HeldRequest::Abort(reason));
            return;
        };
        if !matches!(session.state, SessionState::Aborting { .. }) {
            session.state = SessionState::Aborting { reason };
            session.send.clear();
            session.unframed.clear();
            self.schedule(id);
        }
    }

    /// A request to an id that is no live session: kept for the handler if the id is held
    /// (`Context::hold`), else `NoSession`.
    fn hand_to_held(&mut self, id: SessionId, request: HeldRequest) -> Result<(), SendError> {
        if !self.held.contains(&id) {
            return Err(SendError::NoSession);
        }
        self.held_requests.push((id, request));
        Ok(())
    }

    /// Collects `command` for loop `target` (posted at the end of the iteration). Sends are
    /// refused once the target's inbox, with what this loop has for it, would pass
    /// `ServiceConfig::mailbox_limit`: a loop that is far behind must not make the others
    /// hold unbounded memory for it.
    fn post(&mut self, target: usize, command: Command) -> Result<(), SendError> {
        let (Some(outbox), Some(mailbox)) = (self.outbox.get_mut(target), self.loops.get(target))
        else {
            return Err(SendError::NoSession);
        };
        if mailbox.failed() {
            return Err(SendError::NoSession); // its sessions were closed with `LoopFailed`
        }
        let payload = command.payload_len();
        if payload > 0 {
            let limit = self.config.mailbox_limit;
            let queued = mailbox.pending_bytes() + self.outbox_bytes[target] + payload;
            if queued > limit {
                self.stats.mailbox_refused += 1;
                return Err(SendError::LoopBehind { queued, limit });
            }
            self.outbox_bytes[target] += payload;
        }
        outbox.push(command);
        Ok(())
    }
}
