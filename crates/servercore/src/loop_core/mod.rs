//! [`LoopCore`]: one event loop, written once for both I/O models.
//!
//! The loop owns the iteration (`run.rs`: wait → dispatch → commands → flush → tick → sweep)
//! and every decision about a session — when to read, pause, hold input, flush, close — while
//! a [`Driver`](crate::driver::Driver) only carries them out. Nothing here knows about epoll
//! or io_uring. One concept per file:
//!
//! | file           | what                                                                 |
//! |----------------|----------------------------------------------------------------------|
//! | `mod.rs`       | the loop's state, clock, timers (tick, sweep, drain), stats          |
//! | `run.rs`       | [`LoopCore::run`]: the iteration, event dispatch, mailbox commands   |
//! | `lifecycle.rs` | admit / adopt / open a session, close it (handler told exactly once) |
//! | `input.rs`     | input: deliver, hold while paused (bounded), EOF, pause and resume   |
//! | `output.rs`    | the pending list, flushing a send queue, closing after the flush     |
//! | `requests.rs`  | send, copy, close, abort: the policy behind `Context`                |
//! | `reply.rs`     | direct replies: a session's answer to its input, without the queue   |
//! | `transport.rs` | transport stages (PROXY, WebSocket): input through them, what they signal, framing, preludes' deadlines |

mod input;
mod lifecycle;
mod output;
mod reply;
mod requests;
mod run;
#[cfg(test)]
mod tests;
mod transport;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::accept_backoff::AcceptBackoff;
use crate::admission::Admission;
use crate::clock::{Clock, SystemClock};
use crate::driver::{Driver, DriverCounters};
use crate::mailbox::{Command, Mailbox};
use crate::session::pipeline::Recipe;
use crate::session::{SendBufferPool, SessionState, SessionTable, UserData};
use crate::{CloseReason, Context, Handler, HeldRequest, LoopStats, ServiceConfig, SessionId};

/// How often a loop copies its stats to its mailbox.
const STATS_PUBLISH_INTERVAL: Duration = Duration::from_millis(100);

/// `now + after`, or a date far beyond any run if that overflows `Instant` (a deadline from
/// a flag such as `--shutdown-drain 18446744073709551615` means "never", not a panic).
pub(crate) fn deadline(now: Instant, after: Duration) -> Instant {
    const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(after)
        .or_else(|| now.checked_add(NEVER))
        .unwrap_or(now)
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
    /// The data of the session being closed, still reachable from its `disconnected` call.
    pub(crate) closing: Option<(SessionId, UserData)>,
    /// Direct replies: collected from a session's input, written after the dispatch.
    pub(crate) replies: reply::Replies,
    /// Ids the handler holds past their connection (`Context::hold`).
    pub(crate) held: HashSet<SessionId>,
    /// Requests made to held ids, for `Handler::held` at the end of the iteration.
    pub(crate) held_requests: Vec<(SessionId, HeldRequest)>,
}

/// One loop's sessions, its handler, and the loop that drives them.
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
    /// Reused lists (no allocation per iteration).
    scratch_pending: Vec<SessionId>,
    scratch_commands: Vec<Command>,
    /// A session was closed since the allocator last gave free memory back.
    closed_since_trim: bool,
    /// Where the loop reads the time (the real clock; a manual one in tests).
    clock: Box<dyn Clock>,
    /// The stages of a connection from the loop's own listener (the game port).
    port_recipe: Recipe,
    /// The sweep found sessions closed since the last trim: the table, the driver and the
    /// allocator give back what the closed sessions left (`LoopCore::trim`).
    trim_due: bool,
}

/// Logs refusals at most once a second per loop, with the count of those not logged.
#[derive(Debug, Default)]
struct RefusalLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RefusalLog {
    fn note(&mut self, now: Instant, peer: SocketAddr, refusal: impl std::fmt::Display) {
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
        LoopCore::with_clock(
            index,
            config,
            loops,
            admission,
            handler,
            Box::new(SystemClock),
        )
    }

    /// As [`LoopCore::new`], reading the time from `clock`.
    pub(crate) fn with_clock(
        index: usize,
        config: Arc<ServiceConfig>,
        loops: Arc<[Arc<Mailbox>]>,
        admission: Arc<Admission>,
        handler: H,
        clock: Box<dyn Clock>,
    ) -> LoopCore<H> {
        let now = clock.now();
        let port_recipe = Recipe::for_port(&config);
        let next_tick = config.tick.map(|t| deadline(now, t));
        let next_sweep = config.sweep_interval().map(|t| deadline(now, t));
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
                closing: None,
                replies: reply::Replies::default(),
                held: HashSet::new(),
                held_requests: Vec::new(),
            },
            next_tick,
            next_sweep,
            drain_deadline: None,
            next_publish: now,
            accept_backoff: AcceptBackoff::default(),
            refusal_log: RefusalLog::default(),
            next_flush: None,
            scratch_pending: Vec::new(),
            scratch_commands: Vec::new(),
            closed_since_trim: false,
            clock,
            port_recipe,
            trim_due: false,
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

    /// How long the driver may sleep in the kernel before a tick, a timeout sweep, a flush
    /// or the shutdown deadline is due.
    fn timeout(&self) -> Option<Duration> {
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
        Some(due.saturating_duration_since(self.clock.now()))
    }

    /// Starts an iteration: refreshes the cached clock.
    fn begin_iteration(&mut self) {
        self.state.now = self.clock.now();
        self.state.stats.iterations += 1;
    }

    /// Ends an iteration: the timeout sweep and the stats if due, the handler's tick if due and
    /// its `notified` if another thread asked, then posts what this loop's handlers sent to
    /// other loops (one lock and at most one wake-up per target loop).
    fn end_iteration<D: Driver>(&mut self, driver: &D) {
        if self.next_sweep.is_some_and(|due| self.state.now >= due) {
            self.sweep();
        }
        if self.state.now >= self.next_publish {
            self.publish_stats(driver.counters());
        }
        if let Some(due) = self.next_tick {
            if self.state.now >= due {
                let tick = self.state.config.tick.unwrap_or_default();
                self.next_tick = Some(deadline(self.state.now.max(due), tick));
                self.handler.tick(&mut Context::new(&mut self.state));
            }
        }
        if self.mailbox().take_notification() {
            self.handler.notified(&mut Context::new(&mut self.state));
        }
        self.hand_over_held();
        self.post_outbox();
    }

    /// Hands the requests made to held ids to the handler, in order. What the handler asks
    /// of held ids meanwhile is handed over too, up to a few rounds (a handler that keeps
    /// asking more has the rest at the loop's next iteration, whenever it next wakes).
    fn hand_over_held(&mut self) {
        for _ in 0..4 {
            if self.state.held_requests.is_empty() {
                return;
            }
            let mut requests = std::mem::take(&mut self.state.held_requests);
            for (id, request) in requests.drain(..) {
                self.handler
                    .held(&mut Context::new(&mut self.state), id, request);
            }
            if self.state.held_requests.is_empty() {
                self.state.held_requests = requests; // its capacity, for the next time
            }
        }
    }

    /// Closes sessions that were idle or held a partial message too long. A coarse sweep
    /// (every `ServiceConfig::sweep_interval`) over the table: no timer per session and no
    /// syscall per message; a timeout fires up to one interval late.
    fn sweep(&mut self) {
        self.trim_due |= std::mem::take(&mut self.closed_since_trim);
        let now = self.state.now;
        let config = &self.state.config;
        self.next_sweep = config.sweep_interval().map(|t| deadline(now, t));
        let (idle, partial) = (config.idle_timeout, config.partial_timeout);
        // A closing session's bound: lingering, or without it the idle timeout (a peer that
        // takes nothing of its queue must not hold the session forever).
        let closing_limit = Some(config.lingering_time)
            .filter(|t| !t.is_zero())
            .or(idle);
        for id in self.state.sessions.ids() {
            if self.stage_sweep(id) {
                continue; // a prelude (PROXY header, upgrade): its own deadline
            }
            let Some(s) = self.state.sessions.get_mut(id) else {
                continue;
            };
            if let SessionState::Closing { reason } | SessionState::Lingering { reason } = s.state {
                // Flushing and lingering together get `lingering_time`; then the close is
                // abortive (a peer that neither reads nor finishes cannot hold the session).
                let since = *s.closing_since.get_or_insert(now);
                if closing_limit.is_some_and(|limit| now.duration_since(since) >= limit) {
                    self.state.abort(id, reason);
                }
                continue;
            }
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
            // Replies already queued still leave (then a lingering close).
            self.state.close(id, reason);
        }
    }

    /// The loop was asked to stop: every session flushes what it owes and closes; sessions
    /// still flushing at `ServiceConfig::shutdown_drain` are closed regardless.
    fn begin_shutdown(&mut self) {
        if self.drain_deadline.is_some() {
            return;
        }
        self.drain_deadline = Some(deadline(self.clock.now(), self.state.config.shutdown_drain));
        for id in self.state.sessions.ids() {
            match self.state.sessions.get_mut(id) {
                // Input already read (a completion driver's read-ahead while paused) is shown
                // first, as the queue drains; the close follows (`resume_reading`).
                Some(s) if s.held_unseen > 0 && s.state == SessionState::Open => {
                    s.close_after_held = Some(CloseReason::Shutdown);
                }
                _ => self.state.close(id, CloseReason::Shutdown),
            }
        }
    }

    /// True once a draining loop may exit: every session is gone or the drain deadline passed.
    fn drained(&self) -> bool {
        self.session_count() == 0 || self.drain_deadline.is_some_and(|d| self.clock.now() >= d)
    }

    /// True while the loop is draining for shutdown (no new sessions are taken).
    fn draining(&self) -> bool {
        self.drain_deadline.is_some()
    }

    /// Copies the loop's stats (with fresh gauges and the driver's counters) to its mailbox
    /// for `Service::stats`.
    pub(super) fn publish_stats(&mut self, counters: DriverCounters) {
        self.next_publish = self.state.now + STATS_PUBLISH_INTERVAL;
        let state = &mut self.state;
        state.stats.sessions_live = state.sessions.len() as u64;
        state.stats.send_queue_bytes = state.sessions.queued_bytes() as u64;
        state.stats.driver = counters;
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

    /// Ids of every live session.
    pub(crate) fn session_ids(&self) -> Vec<SessionId> {
        self.state.sessions.ids()
    }

    /// Number of live sessions on this loop.
    pub(crate) fn session_count(&self) -> usize {
        self.state.sessions.len()
    }

    /// This loop's stats as they are now.
    #[cfg(test)]
    pub(crate) fn stats(&self) -> &LoopStats {
        &self.state.stats
    }

    /// Consumes the core, returning the handler (for [`Service::stop`](crate::Service::stop)).
    pub(crate) fn into_handler(self) -> H {
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

impl<H: Handler> LoopCore<H> {
    /// After closes (at most once a sweep): the session table and the driver drop what they
    /// held for closed sessions past the last live one, then the allocator returns the free
    /// pages to the kernel, so RSS falls back after a burst.
    pub(super) fn trim<D: Driver>(&mut self, driver: &mut D) {
        if std::mem::take(&mut self.trim_due) {
            self.state.sessions.shrink();
            driver.shrink();
            release_free_memory();
        }
    }
}

/// Asks the allocator to return the free pages it holds to the kernel: what closed sessions'
/// buffers (receive buffers, send queue chunks) left behind, which glibc otherwise keeps
/// resident (it shrinks an arena only from its top). At most once a sweep, and only after a
/// close.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases pages of free chunks; it locks each arena in turn,
    // so it is safe while other threads allocate.
    unsafe {
        libc::malloc_trim(0);
    }
}
