//! [`LoopCore`]: the model-independent half of an event loop.
//!
//! A driver (epoll or io_uring) owns the sockets and talks to the kernel; everything it learns
//! it reports here through a handful of calls — [`LoopCore::open`], [`LoopCore::received`],
//! [`LoopCore::peer_closed`], [`LoopCore::wrote`], [`LoopCore::close`] — and it asks here what to
//! do next ([`LoopCore::take_pending`], [`LoopCore::pending_action`]). Nothing in this file
//! knows about epoll or io_uring.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::accept_backoff::AcceptBackoff;
use crate::admission::{Admission, Refusal};
use crate::mailbox::{Command, Mailbox};
use crate::session::{SendBufferPool, Session, SessionState, SessionTable};
use crate::{CloseReason, Context, Handler, LoopStats, ServiceConfig, SessionId};

/// How often a loop copies its stats to its mailbox.
const STATS_PUBLISH_INTERVAL: Duration = Duration::from_millis(100);

/// What a driver should do with a session on the pending list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PendingAction {
    /// Write what is queued; then, if the session is closing and the queue is empty, close
    /// it with the reason [`LoopCore::flushed`] returns.
    Flush,
    /// Close at once with this reason, dropping whatever is queued.
    Abort(CloseReason),
    /// The session is already gone.
    Gone,
}

/// The state handlers reach through [`Context`].
pub(crate) struct LoopState {
    pub(crate) index: usize,
    pub(crate) config: Arc<ServiceConfig>,
    pub(crate) sessions: SessionTable,
    pub(crate) pool: SendBufferPool,
    pub(crate) now: Instant,
    /// Sessions with queued output or a close to carry out, each listed once.
    pub(crate) pending: Vec<SessionId>,
    /// Every loop's mailbox, by loop index (this loop's own included).
    pub(crate) loops: Arc<[Arc<Mailbox>]>,
    /// Commands for other loops collected during this iteration, by loop index.
    pub(crate) outbox: Vec<Vec<Command>>,
    /// Payload bytes in each `outbox` entry.
    pub(crate) outbox_bytes: Vec<usize>,
    /// This loop's counters (plain fields: only this thread writes them).
    pub(crate) stats: LoopStats,
    /// The session caps, shared with every loop of the service.
    pub(crate) admission: Arc<Admission>,
}

/// One loop's sessions, its handler, and the bookkeeping both drivers share.
pub(crate) struct LoopCore<H> {
    pub(crate) handler: H,
    pub(crate) state: LoopState,
    next_tick: Option<Instant>,
    next_sweep: Option<Instant>,
    /// Set when the loop was asked to stop: sessions flush until then, then are closed.
    drain_deadline: Option<Instant>,
    /// When the stats are next copied to the mailbox.
    next_publish: Instant,
    accept_backoff: AcceptBackoff,
    refusal_log: RefusalLog,
    /// With a flush interval: when the held pending list is next carried out.
    next_flush: Option<Instant>,
}

/// A refused connection, as handed back to the driver.
#[derive(Debug)]
pub(crate) struct Refused {
    /// Why (already counted and logged).
    #[allow(dead_code)]
    pub(crate) refusal: Refusal,
    /// Bytes to write before closing (`ServiceConfig::farewell`), if any.
    pub(crate) farewell: Option<bytes::Bytes>,
}

/// Logs refusals at most once a second per loop, with the count of those not logged.
#[derive(Debug, Default)]
struct RefusalLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RefusalLog {
    fn note(&mut self, now: Instant, peer: SocketAddr, refusal: Refusal) {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return;
        }
        let suppressed = std::mem::take(&mut self.suppressed);
        tracing::warn!(%peer, suppressed, "connection refused: {refusal}");
        self.last = Some(now);
    }
}

impl<H: Handler> LoopCore<H> {
    pub(crate) fn new(
        index: usize,
        config: Arc<ServiceConfig>,
        loops: Arc<[Arc<Mailbox>]>,
        admission: Arc<Admission>,
        handler: H,
    ) -> LoopCore<H> {
        let now = Instant::now();
        let next_tick = config.tick.map(|t| now + t);
        let next_sweep = config.sweep_interval().map(|t| now + t);
        let outbox: Vec<Vec<Command>> = loops.iter().map(|_| Vec::new()).collect();
        LoopCore {
            handler,
            state: LoopState {
                index,
                config,
                sessions: SessionTable::new(index),
                pool: SendBufferPool::default(),
                now,
                pending: Vec::new(),
                loops,
                outbox_bytes: vec![0; outbox.len()],
                outbox,
                stats: LoopStats::default(),
                admission,
            },
            next_tick,
            next_sweep,
            drain_deadline: None,
            next_publish: now,
            accept_backoff: AcceptBackoff::default(),
            refusal_log: RefusalLog::default(),
            next_flush: None,
        }
    }

    /// The config this loop runs with.
    pub(crate) fn config(&self) -> &ServiceConfig {
        &self.state.config
    }

    /// This loop's mailbox.
    pub(crate) fn mailbox(&self) -> &Mailbox {
        &self.state.loops[self.state.index]
    }

    /// How long the driver may sleep in the kernel before a tick, a timeout sweep or the
    /// shutdown deadline is due.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        let due = [
            self.next_tick,
            self.next_sweep,
            self.drain_deadline,
            self.accept_backoff.deadline(),
            self.next_flush,
        ]
        .into_iter()
        .flatten()
        .min()?;
        Some(due.saturating_duration_since(Instant::now()))
    }

    /// Starts an iteration: refreshes the cached clock.
    pub(crate) fn begin_iteration(&mut self) {
        self.state.now = Instant::now();
        self.state.stats.iterations += 1;
    }

    /// Ends an iteration: runs the handler's tick if due and its `notified` if another
    /// thread asked, then posts what this loop's
    /// handlers sent to other loops (one lock and at most one wake-up per target loop).
    pub(crate) fn end_iteration(&mut self) {
        if self.next_sweep.is_some_and(|due| self.state.now >= due) {
            self.sweep();
        }
        if self.state.now >= self.next_publish {
            self.publish_stats();
        }
        if let Some(due) = self.next_tick {
            if self.state.now >= due {
                let tick = self.state.config.tick.unwrap_or_default();
                self.next_tick = Some(self.state.now.max(due) + tick);
                self.handler.tick(&mut Context::new(&mut self.state));
            }
        }
        if self.mailbox().take_notification() {
            self.handler.notified(&mut Context::new(&mut self.state));
        }
        self.post_outbox();
    }

    /// Closes sessions that were idle or held a partial message too long. A coarse sweep
    /// (every `ServiceConfig::sweep_interval`) over the table: no timer per session and no
    /// syscall per message; a timeout fires up to one interval late.
    fn sweep(&mut self) {
        let now = self.state.now;
        let config = &self.state.config;
        self.next_sweep = config.sweep_interval().map(|t| now + t);
        let (idle, partial) = (config.idle_timeout, config.partial_timeout);
        for id in self.state.sessions.ids() {
            let Some(s) = self.state.sessions.get(id) else {
                continue;
            };
            let reason = if idle.is_some_and(|t| now.duration_since(s.last_recv) >= t) {
                CloseReason::IdleTimeout
            } else if !s.read_paused // not reading: the rest of the packet may be waiting
                && partial
                    .zip(s.partial_since)
                    .is_some_and(|(t, since)| now.duration_since(since) >= t)
            {
                CloseReason::PartialTimeout
            } else {
                continue;
            };
            self.abort(id, reason);
        }
    }

    /// The loop was asked to stop: every session flushes what it owes and closes; sessions
    /// still flushing at `ServiceConfig::shutdown_drain` are closed by the driver regardless.
    pub(crate) fn begin_shutdown(&mut self) {
        if self.drain_deadline.is_some() {
            return;
        }
        self.drain_deadline = Some(Instant::now() + self.state.config.shutdown_drain);
        let mut ctx = Context::new(&mut self.state);
        for id in ctx.session_ids() {
            ctx.close_with(id, CloseReason::Shutdown);
        }
    }

    /// True once a draining loop may exit: every session is gone or the drain deadline passed.
    pub(crate) fn drained(&self) -> bool {
        self.session_count() == 0 || self.drain_deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// True while the loop is draining for shutdown (no new sessions are taken).
    pub(crate) fn draining(&self) -> bool {
        self.drain_deadline.is_some()
    }

    /// Copies the loop's stats (with fresh gauges) to its mailbox for `Service::stats`.
    pub(crate) fn publish_stats(&mut self) {
        self.next_publish = self.state.now + STATS_PUBLISH_INTERVAL;
        let state = &mut self.state;
        state.stats.sessions_live = state.sessions.len() as u64;
        state.stats.send_queue_bytes = state.sessions.queued_bytes() as u64;
        state.loops[state.index].publish(&state.stats);
    }

    fn post_outbox(&mut self) {
        let state = &mut self.state;
        for (target, commands) in state.outbox.iter_mut().enumerate() {
            if !commands.is_empty() {
                state.loops[target].post(commands.drain(..));
                state.outbox_bytes[target] = 0;
            }
        }
    }

    /// Applies a cross-loop command that does not involve a socket.
    pub(crate) fn apply(&mut self, command: Command) {
        let mut ctx = Context::new(&mut self.state);
        match command {
            Command::Send { id, buf } => {
                let _ = ctx.send(id, buf);
            }
            Command::Close { id } => ctx.close(id),
            Command::Adopt(_) => unreachable!("drivers adopt sockets themselves"),
        }
    }

    /// A new connection: makes its session and tells the handler.
    pub(crate) fn open(&mut self, peer: SocketAddr) -> SessionId {
        self.open_session(peer, false)
    }

    /// A connection accepted from the network: admits it under the session caps and opens its
    /// session, or refuses it (the driver then writes the farewell, if any, and closes it).
    pub(crate) fn accept(&mut self, peer: SocketAddr) -> Result<SessionId, Refused> {
        self.accept_backoff.accepted();
        match self.state.admission.admit(peer.ip(), self.state.now) {
            Ok(()) => Ok(self.open_session(peer, true)),
            Err(refusal) => {
                self.state.stats.refused += 1;
                self.refusal_log.note(self.state.now, peer, refusal);
                Err(Refused {
                    refusal,
                    farewell: self.state.config.farewell.clone(),
                })
            }
        }
    }

    fn open_session(&mut self, peer: SocketAddr, admitted: bool) -> SessionId {
        let limit = self.state.config.recv_buffer_limit;
        let now = self.state.now;
        self.state.stats.accepted += 1;
        let id = self.state.sessions.insert_with(|id| {
            let mut session = Session::new(id, peer, limit, now);
            session.admitted = admitted;
            session
        });
        self.mailbox().set_live(self.state.sessions.len());
        tracing::debug!(session = %id, %peer, "connected");
        self.handler
            .connected(&mut Context::new(&mut self.state), id);
        id
    }

    /// Bytes arrived on `id`. Hands them to the handler (straight from the driver's buffer
    /// when nothing is held back from earlier) and keeps what it did not consume.
    pub(crate) fn received(&mut self, id: SessionId, data: &[u8]) {
        let Some(session) = self.state.sessions.get_mut(id) else {
            return;
        };
        if session.state != SessionState::Open {
            return; // closing: input is no longer delivered
        }
        session.last_recv = self.state.now;
        self.state.stats.bytes_in += data.len() as u64;
        let mut held = std::mem::replace(&mut session.recv, crate::RecvBuffer::new(0));
        let (consumed, result) = if held.is_empty() {
            let consumed = self.deliver(id, data);
            (consumed, held.append(&data[consumed..]))
        } else {
            match held.append(data) {
                Ok(()) => {
                    let consumed = self.deliver(id, held.readable());
                    held.consume(consumed);
                    (consumed, Ok(()))
                }
                Err(full) => (0, Err(full)),
            }
        };
        if let Some(session) = self.state.sessions.get_mut(id) {
            // The partial-packet clock runs from when the unfinished message began: the
            // first held byte, or the last time the handler consumed something (progress).
            session.partial_since = match (held.is_empty(), session.partial_since) {
                (true, _) => None,
                (false, since) if consumed == 0 && since.is_some() => since,
                (false, _) => Some(self.state.now),
            };
            session.recv = held;
            if let Err(full) = result {
                session.recv.clear();
                self.abort(id, CloseReason::RecvBufferFull { limit: full.limit });
            }
        }
    }

    /// Calls the handler; returns the bytes it consumed (clamped to what it was shown).
    fn deliver(&mut self, id: SessionId, data: &[u8]) -> usize {
        let consumed = self
            .handler
            .received(&mut Context::new(&mut self.state), id, data);
        if consumed > data.len() {
            tracing::error!(session = %id, consumed, len = data.len(), "handler consumed more than it was given");
            return data.len();
        }
        consumed
    }

    /// The peer finished sending (FIN). The session flushes what it owes, then closes.
    pub(crate) fn peer_closed(&mut self, id: SessionId) {
        if let Some(session) = self.state.sessions.get_mut(id) {
            if session.state == SessionState::Open {
                session.state = SessionState::Closing {
                    reason: CloseReason::PeerClosed,
                };
                self.state.schedule(id);
            }
        }
    }

    /// Marks `id` to be closed at once with `reason` (queue dropped) by the driver.
    pub(crate) fn abort(&mut self, id: SessionId, reason: CloseReason) {
        Context::new(&mut self.state).abort(id, reason);
    }

    /// The kernel took `n` bytes of `id`'s queue (already advanced by the driver). Tells the
    /// handler; returns true if reading was paused and may resume now.
    pub(crate) fn wrote(&mut self, id: SessionId, n: usize) -> bool {
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

    /// Takes the pending list (sessions with output or a close to carry out).
    ///
    /// With `ServiceConfig::flush_interval` set, the list is handed over only once per
    /// interval (and at once while draining for shutdown): everything queued for a session
    /// in between leaves in one write.
    pub(crate) fn take_pending(&mut self, out: &mut Vec<SessionId>) {
        if let Some(interval) = self.state.config.flush_interval {
            if self.state.pending.is_empty() {
                return;
            }
            let due = *self.next_flush.get_or_insert(self.state.now + interval);
            if self.state.now < due && self.drain_deadline.is_none() {
                return;
            }
            self.next_flush = None;
        }
        std::mem::swap(out, &mut self.state.pending);
        self.state.pending.clear();
        for id in out.iter() {
            if let Some(session) = self.state.sessions.get_mut(*id) {
                session.flush_scheduled = false;
            }
        }
    }

    /// What to do with a session taken from the pending list.
    pub(crate) fn pending_action(&self, id: SessionId) -> PendingAction {
        match self.state.sessions.get(id) {
            None => PendingAction::Gone,
            Some(s) => match s.state {
                SessionState::Aborting { reason } => PendingAction::Abort(reason),
                _ => PendingAction::Flush,
            },
        }
    }

    /// After a flush emptied the queue: the reason to close with, if the session was closing.
    pub(crate) fn flushed(&self, id: SessionId) -> Option<CloseReason> {
        let session = self.state.sessions.get(id)?;
        match session.state {
            SessionState::Closing { reason } if session.send.is_empty() => Some(reason),
            SessionState::Aborting { reason } => Some(reason),
            _ => None,
        }
    }

    /// True if the driver should not read from `id` now (paused, closing or gone).
    pub(crate) fn read_blocked(&self, id: SessionId) -> bool {
        self.state
            .sessions
            .get(id)
            .is_none_or(|s| s.read_paused || s.state != SessionState::Open)
    }

    /// The session, for the driver's writes.
    pub(crate) fn session_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.state.sessions.get_mut(id)
    }

    /// Removes the session and tells the handler. The driver has already let go of the socket
    /// (or, for io_uring, will release it when the last completion for it arrives).
    pub(crate) fn close(&mut self, id: SessionId, reason: CloseReason) {
        let Some(session) = self.state.sessions.remove(id) else {
            return;
        };
        self.mailbox().set_live(self.state.sessions.len());
        self.state.stats.closed[reason.index()] += 1;
        if session.admitted {
            self.state.admission.release(session.peer.ip());
        }
        if reason.is_abnormal() {
            tracing::info!(session = %id, peer = %session.peer, %reason, "disconnected");
        } else {
            tracing::debug!(session = %id, peer = %session.peer, %reason, "disconnected");
        }
        drop(session);
        self.handler
            .disconnected(&mut Context::new(&mut self.state), id, reason);
    }

    /// `accept` failed. An error about one connection (it died in the backlog, or the call
    /// was interrupted) is skipped: returns false, accept on. Anything else pauses accepting
    /// (see [`AcceptBackoff`]) and returns true: exhaustion (`EMFILE`, `ENFILE`, `ENOBUFS`,
    /// `ENOMEM`) is expected under load, the rest is logged as unexpected, and either would
    /// fail again at once.
    pub(crate) fn accept_failed(&mut self, err: &io::Error) -> bool {
        if AcceptBackoff::is_transient(err) {
            tracing::debug!("accept: {err}");
            return false;
        }
        let delay = self.accept_backoff.pause(Instant::now());
        self.state.stats.accept_pauses += 1;
        let loop_index = self.state.index;
        if AcceptBackoff::is_exhaustion(err) {
            tracing::warn!(loop_index, "accept: {err}; pausing accepts for {delay:?}");
        } else {
            tracing::warn!(
                loop_index,
                "accept failed unexpectedly: {err}; pausing accepts for {delay:?}"
            );
        }
        true
    }

    /// The driver closed a socket: a descriptor is free, so paused accepting may resume.
    pub(crate) fn descriptor_freed(&mut self) {
        self.accept_backoff.descriptor_freed(self.state.now);
    }

    /// True while accepting is paused for descriptor exhaustion.
    pub(crate) fn accept_paused(&self) -> bool {
        self.accept_backoff.paused()
    }

    /// True once when a paused accept may be retried (a session closed, or the pause ended).
    pub(crate) fn accept_resume_due(&mut self) -> bool {
        self.accept_backoff.resume_due(self.state.now)
    }

    /// Removes every session, telling the handler `reason` (the loop cannot go on; the
    /// driver lets go of the sockets when it is dropped).
    pub(crate) fn close_all(&mut self, reason: CloseReason) {
        for id in self.session_ids() {
            self.close(id, reason);
        }
    }

    /// Ids of every live session.
    pub(crate) fn session_ids(&self) -> Vec<SessionId> {
        self.state.sessions.ids()
    }

    /// Number of live sessions on this loop.
    pub(crate) fn session_count(&self) -> usize {
        self.state.sessions.len()
    }

    /// Consumes the core, returning the handler (for [`Service::stop`](crate::Service::stop)).
    pub(crate) fn into_handler(mut self) -> H {
        self.publish_stats();
        self.handler
    }
}

impl LoopState {
    /// Puts `id` on the pending list once.
    pub(crate) fn schedule(&mut self, id: SessionId) {
        if let Some(session) = self.sessions.get_mut(id) {
            if !session.flush_scheduled {
                session.flush_scheduled = true;
                self.pending.push(id);
            }
        }
    }
}
