//! Load mode: many clients on servercore event loops, every echoed byte verified.
//!
//! ```text
//!   main thread: connect all clients (blocking, retried) -> Service::adopt each
//!                -> phase Sending for --duration -> phase Draining (wait for echoes, <= 2 s)
//!                -> Service::stop -> merge each loop's Stats -> Report
//!   each loop:   LoadHandler: received() verifies echoes and (closed loop) sends the next;
//!                tick() (1 ms) follows the phase and (open loop) paces the sends
//! ```
//!
//! Two ways to load a server:
//! - closed loop (`--inflight K`): each client keeps K messages outstanding and sends the
//!   next one as an echo completes; throughput is whatever the server sustains.
//! - open loop (`--rate R`): R messages per second in total, spread evenly over all clients
//!   (client `i`'s `k`-th send is due at `start + (i + k * clients) / R`), sent from the tick.
//!   A client that falls behind (its echoes do not come back, or its loop was stalled) does
//!   not burst: it sends at most [`CATCH_UP`] worth of overdue messages per tick and keeps at
//!   most a bounded number outstanding; the scheduled sends it skips count as `late_sends`.
//!
//! Latency is taken with the loop's clock (`Context::now`, read once per loop iteration) at
//! both ends: from the start of the iteration that queued a message to the start of the
//! iteration that read its echo. Open loop stamps a message when it is actually queued, not
//! when it was scheduled: time a client spent behind its schedule is not in the latency, it
//! shows as `late_sends`.
//!
//! The phase is shared through atomics read on each tick, so a loop follows the main thread
//! within about a millisecond; no lock is taken on the message path.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use servercore::{CloseReason, Context, Handler, Model, Service, ServiceConfig, SessionId};

use crate::connect::{self, ConnectError};
use crate::message::{ClientStream, Echo, HEADER_LEN};
use crate::stats::{Report, RunInfo, Stats};

/// Largest `--size`.
pub const MAX_SIZE: usize = 1024 * 1024;

/// How often each loop's handler ticks.
pub const TICK: Duration = Duration::from_millis(1);

/// Open loop: at most this much of a client's overdue schedule is sent in one tick; the
/// rest is skipped and counted late.
pub const CATCH_UP: Duration = Duration::from_millis(10);

/// Open loop: a client keeps at most this many bytes outstanding (sent, not echoed); see
/// [`LoadConfig::backlog`].
pub const BACKLOG_BYTES: usize = 1024 * 1024;

/// How long to wait for outstanding echoes after sending stops, by default.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// How the clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Closed loop: each client keeps `inflight` messages outstanding.
    Closed {
        /// Messages outstanding per client.
        inflight: usize,
    },
    /// Open loop: `rate` messages per second in total over all clients.
    Open {
        /// Total messages per second.
        rate: u64,
    },
}

/// Everything a load run needs.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Server address, `host:port`.
    pub addr: String,
    /// Number of clients (connections).
    pub clients: usize,
    /// Bytes per message, header included ([`HEADER_LEN`] ..= [`MAX_SIZE`]).
    pub size: usize,
    /// Closed or open loop.
    pub pacing: Pacing,
    /// How long to send.
    pub duration: Duration,
    /// Event loops of the client.
    pub threads: usize,
    /// The client's I/O model.
    pub model: Model,
    /// Deadline for connecting every client.
    pub connect_timeout: Duration,
    /// How long to wait for outstanding echoes after sending stops.
    pub drain_timeout: Duration,
}

impl LoadConfig {
    /// A closed-loop run against `addr` with the CLI's defaults for everything else.
    pub fn new(addr: impl Into<String>, clients: usize) -> LoadConfig {
        LoadConfig {
            addr: addr.into(),
            clients,
            size: 64,
            pacing: Pacing::Closed { inflight: 1 },
            duration: Duration::from_secs(10),
            threads: ServiceConfig::default().threads,
            model: Model::Auto,
            connect_timeout: Duration::from_secs(10),
            drain_timeout: DRAIN_TIMEOUT,
        }
    }

    /// Checks the values a run cannot work with.
    ///
    /// # Errors
    /// A description of the first bad value.
    pub fn validate(&self) -> Result<(), String> {
        if self.clients == 0 || u32::try_from(self.clients).is_err() {
            return Err(format!(
                "--clients must be 1 ..= {}, not {}",
                u32::MAX,
                self.clients
            ));
        }
        if !(HEADER_LEN..=MAX_SIZE).contains(&self.size) {
            return Err(format!(
                "--size must be {HEADER_LEN} ..= {MAX_SIZE} bytes, not {}",
                self.size
            ));
        }
        match self.pacing {
            Pacing::Closed { inflight: 0 } => return Err("--inflight must be at least 1".into()),
            Pacing::Open { rate: 0 } => return Err("--rate must be at least 1".into()),
            _ => {}
        }
        if self.threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        Ok(())
    }

    /// Open loop: the most messages one client keeps outstanding: a second of its share of
    /// the rate (at least 16), but no more than [`BACKLOG_BYTES`] (at least one message).
    pub fn backlog(&self) -> usize {
        let per_client = match self.pacing {
            Pacing::Open { rate } => rate.div_ceil(self.clients as u64) as usize,
            Pacing::Closed { inflight } => inflight,
        };
        per_client.max(16).min(BACKLOG_BYTES / self.size).max(1)
    }

    /// The most bytes one client can have outstanding.
    fn max_outstanding_bytes(&self) -> usize {
        match self.pacing {
            Pacing::Closed { inflight } => inflight.saturating_mul(self.size),
            Pacing::Open { .. } => self.backlog() * self.size,
        }
    }

    /// The servercore config of the client's loops. Reading is never paused for
    /// backpressure: the client bounds what it sends itself, and a client that stopped
    /// reading its echoes while the server stopped reading its requests would deadlock.
    fn service_config(&self) -> ServiceConfig {
        let defaults = ServiceConfig::default();
        ServiceConfig {
            threads: self.threads,
            model: self.model,
            tick: Some(TICK),
            send_queue_pause: usize::MAX,
            send_queue_limit: defaults
                .send_queue_limit
                .max(2 * self.max_outstanding_bytes()),
            recv_buffer_limit: defaults
                .recv_buffer_limit
                .max(2 * self.size + defaults.read_chunk),
            ..defaults
        }
    }
}

/// Why a load run could not be carried out (verification failures are not errors: they are
/// in the [`Report`]).
#[derive(Debug)]
pub enum LoadError {
    /// A configuration value is out of range.
    Config(String),
    /// The clients could not be connected.
    Connect(ConnectError),
    /// The client's event loops could not start or failed.
    Service(io::Error),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Config(msg) => f.write_str(msg),
            LoadError::Connect(err) => err.fmt(f),
            LoadError::Service(err) => write!(f, "client event loops: {err}"),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Config(_) => None,
            LoadError::Connect(err) => Some(err),
            LoadError::Service(err) => Some(err),
        }
    }
}

/// Where the run is; set by the main thread, followed by each loop on its tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
enum Phase {
    /// Clients are being connected; nothing is sent.
    Connecting = 0,
    /// Sending for `--duration`.
    Sending = 1,
    /// No new sends; waiting for the outstanding echoes.
    Draining = 2,
}

/// What the main thread and the loops share.
#[derive(Debug)]
struct Shared {
    phase: AtomicU8,
    /// When sending started, in nanoseconds since the run's base instant.
    start_nanos: AtomicU64,
    /// Hands out client ids (0, 1, 2, ...) as loops open the adopted sockets.
    next_client: AtomicU32,
    /// Per loop, while draining: messages still outstanding (`u64::MAX` until published).
    outstanding: Box<[AtomicU64]>,
}

impl Shared {
    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Connecting,
            1 => Phase::Sending,
            _ => Phase::Draining,
        }
    }

    fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }
}

/// One client: its verified stream and, in open loop, how far its schedule got.
#[derive(Debug)]
struct Client {
    stream: ClientStream,
    /// Position in the run-wide send schedule (its client id).
    index: u64,
    /// Open loop: scheduled sends already made or skipped.
    scheduled: u64,
}

/// The load generator's handler: one per event loop.
#[derive(Debug)]
pub struct LoadHandler {
    shared: Arc<Shared>,
    base: Instant,
    size: usize,
    clients_total: u64,
    pacing: Pacing,
    backlog: usize,
    catch_up: u64,
    clients: HashMap<SessionId, Client>,
    phase: Phase,
    stats: Stats,
}

impl LoadHandler {
    fn new(shared: Arc<Shared>, base: Instant, config: &LoadConfig) -> LoadHandler {
        let catch_up = match config.pacing {
            Pacing::Open { rate } => {
                let per_tick = rate as f64 * CATCH_UP.as_secs_f64() / config.clients as f64;
                (per_tick.ceil() as u64).max(1)
            }
            Pacing::Closed { .. } => 0,
        };
        LoadHandler {
            shared,
            base,
            size: config.size,
            clients_total: config.clients as u64,
            pacing: config.pacing,
            backlog: config.backlog(),
            catch_up,
            clients: HashMap::new(),
            phase: Phase::Connecting,
            stats: Stats::new(),
        }
    }

    /// This loop's counts (after [`Service::stop`], all of them).
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.base).as_nanos() as u64
    }

    /// Sending starts for `client`: closed loop fills its window, open loop starts its
    /// schedule at the run's start.
    fn start(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        let now = self.nanos(ctx.now());
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        if let Pacing::Closed { inflight } = self.pacing {
            self.stats.sent += send(ctx, id, client, inflight, self.size, now);
        }
    }

    /// Open loop: sends what each client's schedule says is due by now.
    fn pace(&mut self, ctx: &mut Context<'_>) {
        let Pacing::Open { rate } = self.pacing else {
            return;
        };
        let now = self.nanos(ctx.now());
        let Some(elapsed) = now.checked_sub(self.shared.start_nanos.load(Ordering::Acquire)) else {
            return;
        };
        for (&id, client) in self.clients.iter_mut() {
            let due_total = scheduled_by(elapsed, rate, client.index, self.clients_total);
            let due = due_total.saturating_sub(client.scheduled);
            if due == 0 {
                continue;
            }
            client.scheduled = due_total;
            let room = self.backlog.saturating_sub(client.stream.outstanding()) as u64;
            let n = due.min(self.catch_up).min(room);
            self.stats.late_sends += due - n;
            if n > 0 {
                self.stats.sent += send(ctx, id, client, n as usize, self.size, now);
            }
        }
    }
}

/// Open loop: how many sends of client `index` (of `clients`) are due `elapsed` nanoseconds
/// after the start, at `rate` messages per second in total. The run-wide schedule has one
/// slot every `1 / rate` seconds, slot 0 at the start; client `i` owns slots `i`,
/// `i + clients`, `i + 2 * clients`, ...
fn scheduled_by(elapsed: u64, rate: u64, index: u64, clients: u64) -> u64 {
    let slots = (u128::from(elapsed) * u128::from(rate) / 1_000_000_000) as u64 + 1;
    if slots > index {
        (slots - 1 - index) / clients + 1
    } else {
        0
    }
}

/// Queues `n` messages of `client` on session `id` as one buffer; returns `n`. If the queue
/// refuses them the session is closing, and they will be counted lost when it has closed.
fn send(
    ctx: &mut Context<'_>,
    id: SessionId,
    client: &mut Client,
    n: usize,
    size: usize,
    now: u64,
) -> u64 {
    let buf = ctx.alloc(n * size, |out| {
        for _ in 0..n {
            client.stream.write_next(out, now);
        }
    });
    if let Err(err) = ctx.send(id, buf) {
        tracing::debug!(session = %id, "send: {err}");
    }
    n as u64
}

impl Handler for LoadHandler {
    fn connected(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        let index = self.shared.next_client.fetch_add(1, Ordering::AcqRel);
        let mut client = Client {
            stream: ClientStream::new(index, self.size),
            index: u64::from(index),
            scheduled: 0,
        };
        if self.phase == Phase::Sending {
            // Joined late: its open-loop schedule starts now, without a backlog.
            if let Pacing::Open { rate } = self.pacing {
                let elapsed = self
                    .nanos(ctx.now())
                    .saturating_sub(self.shared.start_nanos.load(Ordering::Acquire));
                client.scheduled = scheduled_by(elapsed, rate, client.index, self.clients_total);
            }
        }
        self.clients.insert(id, client);
        if self.phase == Phase::Sending {
            self.start(ctx, id);
        }
    }

    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let Some(client) = self.clients.get_mut(&id) else {
            return data.len();
        };
        let now = ctx.now().saturating_duration_since(self.base).as_nanos() as u64;
        let whole = data.len() / self.size * self.size;
        let mut completed = 0;
        for msg in data[..whole].chunks_exact(self.size) {
            completed += 1;
            match client.stream.verify(msg, now) {
                Echo::InOrder { latency_nanos } => self.stats.record_echo(self.size, latency_nanos),
                Echo::OutOfOrder { latency_nanos } => {
                    self.stats.out_of_order += 1;
                    if let Some(latency_nanos) = latency_nanos {
                        self.stats.record_echo(self.size, latency_nanos);
                    }
                }
                Echo::Corrupt => {
                    self.stats.corrupt += 1;
                    if self.stats.corrupt <= 10 {
                        tracing::warn!(session = %id, client = client.stream.client(), "corrupt echo");
                    }
                }
            }
        }
        if self.phase == Phase::Sending
            && completed > 0
            && matches!(self.pacing, Pacing::Closed { .. })
        {
            self.stats.sent += send(ctx, id, client, completed, self.size, now);
        }
        whole
    }

    fn disconnected(&mut self, _ctx: &mut Context<'_>, id: SessionId, reason: CloseReason) {
        let Some(client) = self.clients.remove(&id) else {
            return;
        };
        self.stats.lost += client.stream.outstanding() as u64;
        if reason != CloseReason::Shutdown {
            tracing::warn!(session = %id, client = client.stream.client(), %reason, "server closed a client");
            self.stats.disconnects += 1;
            *self
                .stats
                .disconnect_reasons
                .entry(reason.name())
                .or_default() += 1;
        }
    }

    fn tick(&mut self, ctx: &mut Context<'_>) {
        let phase = self.shared.phase();
        if phase != self.phase {
            let previous = std::mem::replace(&mut self.phase, phase);
            if previous == Phase::Connecting && phase == Phase::Sending {
                let ids: Vec<SessionId> = self.clients.keys().copied().collect();
                for id in ids {
                    self.start(ctx, id);
                }
            }
        }
        match self.phase {
            Phase::Connecting => {}
            Phase::Sending => self.pace(ctx),
            Phase::Draining => {
                let outstanding: usize =
                    self.clients.values().map(|c| c.stream.outstanding()).sum();
                self.shared.outstanding[ctx.loop_index()]
                    .store(outstanding as u64, Ordering::Release);
            }
        }
    }
}

/// Runs a load test as `config` says and returns its report. `interrupt` (set by Ctrl-C)
/// ends the sending phase early.
///
/// # Errors
/// A bad config, clients that could not all connect in time (the error names the address
/// and how many did), or event loops that failed. Verification failures are not errors:
/// see [`Report::passed`].
pub fn run(config: &LoadConfig, interrupt: &AtomicBool) -> Result<Report, LoadError> {
    config.validate().map_err(LoadError::Config)?;
    let addr: SocketAddr = connect::resolve(&config.addr).map_err(LoadError::Connect)?;
    let base = Instant::now();
    let shared = Arc::new(Shared {
        phase: AtomicU8::new(Phase::Connecting as u8),
        start_nanos: AtomicU64::new(0),
        next_client: AtomicU32::new(0),
        outstanding: (0..config.threads)
            .map(|_| AtomicU64::new(u64::MAX))
            .collect(),
    });
    let service = Service::unbound(config.service_config(), |_| {
        LoadHandler::new(shared.clone(), base, config)
    })
    .map_err(LoadError::Service)?;

    let connect_started = Instant::now();
    let connect_failures =
        connect::connect_all(addr, config.clients, config.connect_timeout, |stream| {
            service.adopt(stream);
        })
        .map_err(LoadError::Connect)?;
    // Every adopted socket is opened by its loop before the clock starts.
    let opened_by = Instant::now() + Duration::from_secs(5);
    while (shared.next_client.load(Ordering::Acquire) as usize) < config.clients
        && Instant::now() < opened_by
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let connect_secs = connect_started.elapsed().as_secs_f64();

    let started = Instant::now();
    shared.start_nanos.store(
        started.saturating_duration_since(base).as_nanos() as u64,
        Ordering::Release,
    );
    shared.set_phase(Phase::Sending);
    let end = started + config.duration;
    while Instant::now() < end && !interrupt.load(Ordering::Relaxed) {
        std::thread::sleep(
            (end.saturating_duration_since(Instant::now())).min(Duration::from_millis(10)),
        );
    }
    shared.set_phase(Phase::Draining);
    let duration_secs = started.elapsed().as_secs_f64();

    let drain_until = Instant::now() + config.drain_timeout;
    while Instant::now() < drain_until {
        let owed = shared
            .outstanding
            .iter()
            .map(|o| o.load(Ordering::Acquire))
            .try_fold(0u64, u64::checked_add);
        if owed == Some(0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }

    let threads = service.threads();
    let model = service.model().to_string();
    let mut stats = Stats::new();
    for handler in service.stop() {
        stats.merge(handler.map_err(LoadError::Service)?.stats());
    }
    let info = RunInfo {
        addr: addr.to_string(),
        clients: config.clients,
        size: config.size,
        mode: match config.pacing {
            Pacing::Closed { .. } => "closed",
            Pacing::Open { .. } => "open",
        },
        inflight: match config.pacing {
            Pacing::Closed { inflight } => Some(inflight),
            Pacing::Open { .. } => None,
        },
        rate: match config.pacing {
            Pacing::Open { rate } => Some(rate),
            Pacing::Closed { .. } => None,
        },
        threads,
        model,
        duration_secs,
        connect_secs,
        connect_failures,
    };
    Ok(Report::new(&stats, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_bad_values() {
        let ok = LoadConfig::new("127.0.0.1:1", 1);
        assert!(ok.validate().is_ok());
        assert!(LoadConfig {
            clients: 0,
            ..ok.clone()
        }
        .validate()
        .is_err());
        assert!(LoadConfig {
            size: HEADER_LEN - 1,
            ..ok.clone()
        }
        .validate()
        .is_err());
        assert!(LoadConfig {
            size: MAX_SIZE + 1,
            ..ok.clone()
        }
        .validate()
        .is_err());
        assert!(LoadConfig {
            pacing: Pacing::Closed { inflight: 0 },
            ..ok.clone()
        }
        .validate()
        .is_err());
        assert!(LoadConfig {
            pacing: Pacing::Open { rate: 0 },
            ..ok.clone()
        }
        .validate()
        .is_err());
        assert!(LoadConfig { threads: 0, ..ok }.validate().is_err());
    }

    #[test]
    fn schedule_spreads_the_rate_over_clients() {
        let total = |elapsed| {
            (0..10)
                .map(|i| scheduled_by(elapsed, 1000, i, 10))
                .sum::<u64>()
        };
        assert_eq!(total(0), 1, "slot 0 is due at the start");
        assert_eq!(total(999_999_999), 1000);
        assert_eq!(total(5_000_000), 6);
        assert_eq!(scheduled_by(5_000_000, 1000, 5, 10), 1);
        assert_eq!(scheduled_by(5_000_000, 1000, 6, 10), 0);
        assert_eq!(scheduled_by(25_000_000, 1000, 6, 10), 2, "slots 6 and 16");
    }

    #[test]
    fn backlog_is_bounded_by_bytes_and_rate() {
        let mut c = LoadConfig::new("x:1", 10);
        c.pacing = Pacing::Open { rate: 1000 };
        assert_eq!(c.backlog(), 100);
        c.pacing = Pacing::Open { rate: 10 };
        assert_eq!(c.backlog(), 16);
        c.size = MAX_SIZE;
        assert_eq!(c.backlog(), 1);
        c.pacing = Pacing::Open { rate: 100_000_000 };
        c.size = 64;
        assert_eq!(c.backlog(), BACKLOG_BYTES / 64);
    }
}
