//! [`Context`]: what a handler may do from inside a callback.

use std::any::Any;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::loop_core::LoopState;
use crate::session::SessionState;
use crate::{CloseReason, Record, SessionId, Unrecorded};

/// Why [`Context::send`] did not queue a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No such session on this loop: it closed (the id is stale) or never existed.
    NoSession,
    /// The session is closing and takes no more data.
    Closing,
    /// The send would have gone past `ServiceConfig::send_queue_limit`; the session is being
    /// closed with [`CloseReason::SlowConsumer`].
    QueueFull {
        /// Bytes that would have been queued.
        queued: usize,
        /// The hard limit.
        limit: usize,
    },
    /// The session lives on another loop whose inbox already holds
    /// `ServiceConfig::mailbox_limit` bytes of sends it has not taken yet: that loop is far
    /// behind, and the send was dropped (counted in `LoopStats::mailbox_refused`).
    LoopBehind {
        /// Payload bytes the target loop's inbox would have held.
        queued: usize,
        /// `ServiceConfig::mailbox_limit`.
        limit: usize,
    },
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::NoSession => f.write_str("no such session"),
            SendError::Closing => f.write_str("session is closing"),
            SendError::QueueFull { queued, limit } => {
                write!(f, "send queue full ({queued} bytes, limit {limit})")
            }
            SendError::LoopBehind { queued, limit } => {
                write!(
                    f,
                    "the session's loop is behind ({queued} bytes in its inbox, limit {limit})"
                )
            }
        }
    }
}

impl std::error::Error for SendError {}

/// A handler's access to its event loop during a callback: send, close, allocate shared
/// buffers, read the loop clock.
///
/// Sends are queued, not written: the loop flushes every session with queued data once per
/// iteration with one vectored write, after all events of the iteration were handled. That is
/// how many small packets to one peer become one `writev` / one `sendmsg` SQE. What
/// [`Context::send_copy`] copies to a session with nothing queued or in flight takes a
/// shorter way to the same flush: one loop-wide buffer instead of a pooled buffer and the
/// queue, written with one `send(2)` on either model (without a flush interval).
pub struct Context<'a> {
    state: &'a mut LoopState,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("loop_index", &self.state.index)
            .finish_non_exhaustive()
    }
}

impl<'a> Context<'a> {
    pub(crate) fn new(state: &'a mut LoopState) -> Context<'a> {
        Context { state }
    }

    /// Index of the loop running this callback.
    pub fn loop_index(&self) -> usize {
        self.state.index
    }

    /// Number of loops in the service.
    pub fn loop_count(&self) -> usize {
        self.state.loops.len()
    }

    /// The loop's clock, read once per iteration (cheaper than `Instant::now()` per message).
    pub fn now(&self) -> Instant {
        self.state.now
    }

    /// Number of live sessions on this loop.
    pub fn session_count(&self) -> usize {
        self.state.sessions.len()
    }

    /// Ids of every live session of this loop (a snapshot).
    pub fn session_ids(&self) -> Vec<SessionId> {
        let mut ids = self.state.sessions.ids();
        ids.retain(|&id| self.state.sessions.get(id).is_some_and(|s| s.introduced));
        ids
    }

    /// True while `id` names an open session of this loop.
    pub fn is_open(&self, id: SessionId) -> bool {
        self.state
            .sessions
            .get(id)
            .is_some_and(|s| s.state == SessionState::Open)
    }

    /// The peer address of session `id` of this loop.
    pub fn peer_addr(&self, id: SessionId) -> Option<SocketAddr> {
        self.state.sessions.get(id).map(|s| s.peer)
    }

    /// True if the peer of session `id` of this loop is one of
    /// [`ServiceConfig::trusted_sources`](crate::ServiceConfig::trusted_sources) (behind a
    /// PROXY header: the client it names). Trusted sources are exempt from the per-source
    /// limits and from the packet rate limit of [`Packets`](crate::packet::Packets).
    pub fn is_trusted(&self, id: SessionId) -> bool {
        self.peer_addr(id)
            .is_some_and(|peer| self.state.config.trusted_sources.contains(peer.ip()))
    }

    /// Bytes owed to the peer of session `id` of this loop: queued, or in a send the kernel
    /// has not completed yet.
    pub fn queued_bytes(&self, id: SessionId) -> Option<usize> {
        let reply = self.state.reply_len(id);
        self.state.sessions.get(id).map(|s| s.send.owed() + reply)
    }

    /// Queues `buf` for session `id`. The buffer is shared, not copied: queue the same
    /// `Bytes` on many sessions to broadcast it. A session of another loop is reached through
    /// that loop's mailbox at the end of this iteration (its errors are handled there).
    ///
    /// # Errors
    /// [`SendError::NoSession`] if `id` is stale, [`SendError::Closing`] if the session takes
    /// no more data, [`SendError::QueueFull`] if the queue would pass the hard limit (the
    /// session is then closed as a slow consumer).
    pub fn send(&mut self, id: SessionId, buf: Bytes) -> Result<(), SendError> {
        self.state.send(id, buf)
    }

    /// Copies `data` into the loop's shared send buffer pool and queues it (see
    /// [`Context::send`] for errors).
    ///
    /// # Errors
    /// As [`Context::send`].
    pub fn send_copy(&mut self, id: SessionId, data: &[u8]) -> Result<(), SendError> {
        self.state.send_copy(id, data)
    }

    /// Writes one outgoing message into the loop's pool with `fill` and returns it, ready to
    /// be queued on any number of sessions (one serialization for a whole room).
    pub fn alloc(&mut self, len_hint: usize, fill: impl FnOnce(&mut BytesMut)) -> Bytes {
        self.state.pool.write(len_hint, fill)
    }

    /// Attaches `value` to session `id` (one value per type; it replaces the value of the same
    /// type and returns it). The value lives as long as the session and is still readable
    /// during its [`Handler::disconnected`](crate::Handler::disconnected) call. Returns
    /// `Err(value)` if `id` is not a live session of this loop.
    ///
    /// # Errors
    /// The value back, if there is no such session.
    pub fn set_data<T: Any + Send>(&mut self, id: SessionId, value: T) -> Result<Option<T>, T> {
        match self.state.sessions.get_mut(id) {
            Some(session) => Ok(session.data.insert(value)),
            None => Err(value),
        }
    }

    /// The value of type `T` attached to session `id` ([`Context::set_data`]).
    pub fn data<T: Any + Send>(&self, id: SessionId) -> Option<&T> {
        match &self.state.closing {
            Some((closing, data)) if *closing == id => data.get(),
            _ => self.state.sessions.get(id)?.data.get(),
        }
    }

    /// The value of type `T` attached to session `id`, to change it.
    pub fn data_mut<T: Any + Send>(&mut self, id: SessionId) -> Option<&mut T> {
        match &mut self.state.closing {
            Some((closing, data)) if *closing == id => data.get_mut(),
            _ => self.state.sessions.get_mut(id)?.data.get_mut(),
        }
    }

    /// Detaches and returns the value of type `T` attached to session `id`.
    pub fn take_data<T: Any + Send>(&mut self, id: SessionId) -> Option<T> {
        match &mut self.state.closing {
            Some((closing, data)) if *closing == id => data.remove(),
            _ => self.state.sessions.get_mut(id)?.data.remove(),
        }
    }

    /// Starts recording what is queued for session `id` from now on, at most `limit`
    /// unacknowledged bytes (see [`Record`]): the tail a resumed connection replays. What is
    /// recorded takes the queue, not the direct reply; what is sent to it once it is closing
    /// (an error for the sender) is still recorded, until the session is gone. False if `id`
    /// is not a live session of this loop.
    pub fn record(&mut self, id: SessionId, limit: usize) -> bool {
        match self.state.sessions.get_mut(id) {
            Some(session) => {
                session.record = Some(Box::new(Record::new(limit)));
                true
            }
            None => false,
        }
    }

    /// The record of session `id` of this loop, if it is recorded ([`Context::record`]).
    pub fn recorded(&self, id: SessionId) -> Option<&Record> {
        self.state.sessions.get(id)?.record.as_deref()
    }

    /// The peer of session `id` has everything recorded before `position`: forget it.
    ///
    /// # Errors
    /// No record, or a position outside it ([`Record::acknowledge`]).
    pub fn acknowledge(&mut self, id: SessionId, position: u64) -> Result<(), Unrecorded> {
        let session = self.state.sessions.get_mut(id);
        let record = session.and_then(|s| s.record.as_deref_mut());
        record.ok_or(Unrecorded::Forgotten)?.acknowledge(position)
    }

    /// Takes the record of session `id`: during its
    /// [`Handler::disconnected`](crate::Handler::disconnected) call, what its peer may not
    /// have received (everything queued, in flight or in the kernel, not acknowledged).
    pub fn take_record(&mut self, id: SessionId) -> Option<Record> {
        if let Some(session) = self.state.sessions.get_mut(id) {
            return session.record.take().map(|r| *r);
        }
        self.take_data::<Box<Record>>(id).map(|r| *r)
    }

    /// Keeps `id`, a session of this loop whose connection is gone (call it in its
    /// [`Handler::disconnected`](crate::Handler::disconnected)), as a name the application
    /// still uses: sends, closes and aborts addressed to it — from this loop or any other —
    /// are handed to [`Handler::held`](crate::Handler::held) in order, at the end of the
    /// iteration, instead of failing. A game keeps a player's seat this way while the player
    /// reconnects. False if `id` is another loop's or still live.
    pub fn hold(&mut self, id: SessionId) -> bool {
        if id.loop_index() != self.state.index || self.state.sessions.get(id).is_some() {
            return false;
        }
        self.state.held.insert(id)
    }

    /// Stops holding `id` ([`Context::hold`]): requests to it fail again as to any stale id.
    pub fn release(&mut self, id: SessionId) {
        self.state.held.remove(&id);
    }

    /// True while `id` is held ([`Context::hold`]).
    pub fn is_held(&self, id: SessionId) -> bool {
        self.state.held.contains(&id)
    }

    /// Counts one packet encoded (for [`LoopStats::packets_out`](crate::LoopStats)).
    pub(crate) fn count_packet_out(&mut self) {
        self.state.stats.packets_out += 1;
    }

    /// Counts one packet decoded (for [`LoopStats::packets_in`](crate::LoopStats)).
    pub(crate) fn count_packet_in(&mut self) {
        self.state.stats.packets_in += 1;
    }

    /// Closes session `id` once everything queued for it was sent. Sessions of other loops
    /// are closed through their loop's mailbox.
    pub fn close(&mut self, id: SessionId) {
        self.close_with(id, CloseReason::Local);
    }

    /// As [`Context::close`], with the reason the handler and the log will see.
    pub fn close_with(&mut self, id: SessionId, reason: CloseReason) {
        self.state.close(id, reason);
    }

    /// Closes session `id` at once with `reason`, dropping what is queued (a hostile or
    /// broken peer). No more of its input reaches the handler; the socket is closed when the
    /// loop next carries out pending work (at the end of this loop iteration, or with
    /// `ServiceConfig::flush_interval` at the next flush). A session of another loop is
    /// aborted through that loop's mailbox.
    pub fn abort(&mut self, id: SessionId, reason: CloseReason) {
        self.state.abort(id, reason);
    }
}
