//! Load mode: many clients on servercore event loops, every received byte verified.
//!
//! ```text
//!   main thread: connect all clients (blocking, retried) -> Service::adopt each
//!                -> wait until every client is ready (chat: in its room): the barrier
//!                -> phase Sending for --duration -> phase Draining (wait for what is owed,
//!                <= 2 s) -> Service::stop -> merge each loop's Stats, settle `lost` -> Report
//!   each loop:   LoadHandler (crate::handler): verifies what arrives, sends, paces
//!   --resume:    a connect thread (crate::reconnect) opens new connections for dropped
//!                clients; the drain also waits for every client to be back in a loop
//! ```
//!
//! Two scenarios ([`Scenario`]):
//! - echo: each client's messages come back to it (`--protocol raw`: bytes back to back;
//!   `--protocol packet`: one `ECHO` packet each), verified byte for byte and in order.
//! - chat (`--protocol packet`): client `i` joins room `i % rooms`; once every client is in,
//!   each sends `CHAT` packets and must receive, as `CHAT_BROADCAST`, every chat of its room
//!   (its own included) exactly once and in per-sender order ([`crate::chat`]).
//!
//! Two ways to load a server:
//! - closed loop (`--inflight K`, echo only): each client keeps K messages outstanding and
//!   sends the next one as an echo completes; throughput is whatever the server sustains.
//! - open loop (`--rate R`; chat: `--chat-rate` per client): R messages per second in total,
//!   spread evenly over all clients (client `i`'s `k`-th send is due at
//!   `start + (i + k * clients) / R`), sent from the tick. A client that falls behind (its
//!   messages do not come back, or its loop was stalled) does not burst: it sends at most
//!   [`CATCH_UP`] worth of overdue messages per tick and keeps at most a bounded number
//!   outstanding; the scheduled sends it skips count as `late_sends`.
//!
//! The phase is shared through atomics read on each tick, so a loop follows the main thread
//! within about a millisecond; no lock is taken on the message path. Each loop also publishes
//! its counts every 100 ms; [`run_observed`] hands their sum to an observer (the progress bar)
//! every [`OBSERVE_EVERY`] while sending and draining.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use servercore::packet::MAX_BODY;
use servercore::{Model, Service, ServiceConfig};

use crate::chat::MIN_CHAT_SIZE;
use crate::connect::{self, ConnectError};
use crate::gate::{Connected, HandshakeGate};
use crate::handler::{LoadHandler, Phase, Shared};
use crate::login::Tokens;
use crate::message::HEADER_LEN;
use crate::reconnect::{Reconnector, Rejoin};
use crate::spread::Spread;
use crate::stats::{Report, ResumeInfo, RunInfo, Stats};
use crate::tls::TlsClient;
use crate::websocket::HandshakeError;
use crate::wire::{Protocol, Wire};

/// Largest `--size` of a raw message (a packet body is at most [`MAX_BODY`]).
pub const MAX_SIZE: usize = 1024 * 1024;

/// How often each loop's handler ticks.
pub const TICK: Duration = Duration::from_millis(1);

/// Open loop: at most this much of a client's overdue schedule is sent in one tick; the
/// rest is skipped and counted late.
pub const CATCH_UP: Duration = Duration::from_millis(10);

/// Open loop: a client keeps at most this many bytes outstanding (sent, not echoed); see
/// [`LoadConfig::backlog`].
pub const BACKLOG_BYTES: usize = 1024 * 1024;

/// How often [`run_observed`] calls its observer.
pub const OBSERVE_EVERY: Duration = Duration::from_millis(250);

/// After sending stops, how long the drain waits for what is still owed without anything
/// arriving, by default: a server still delivering its backlog keeps the drain going (up to
/// [`MAX_DRAIN`]); one that went quiet for this long has lost what it still owes.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest drain, however steadily the server is still delivering.
pub const MAX_DRAIN: Duration = Duration::from_secs(60);

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

/// What the clients do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Every message comes back to its sender.
    Echo,
    /// Clients in `rooms` rooms chat; every member receives every chat of its room.
    Chat {
        /// Rooms the clients are spread over (client `i` in room `i % rooms`).
        rooms: usize,
    },
}

impl Scenario {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Echo => "echo",
            Scenario::Chat { .. } => "chat",
        }
    }
}

/// Everything a load run needs.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Server address, `host:port`; several, comma-separated, share the clients (see
    /// [`crate::spread`]).
    pub addr: String,
    /// Number of clients (connections).
    pub clients: usize,
    /// What the server speaks.
    pub protocol: Protocol,
    /// Over WebSocket (`--websocket`, packet protocol only): handshake, then each packet in
    /// a masked binary frame ([`crate::websocket`]).
    pub websocket: bool,
    /// Over TLS (`--tls`): the server verified against a CA and a name ([`crate::tls`]).
    pub tls: Option<Arc<TlsClient>>,
    /// What the clients do.
    pub scenario: Scenario,
    /// Bytes per raw message, or per packet body (at least [`HEADER_LEN`] for echo,
    /// [`MIN_CHAT_SIZE`] for chat; at most [`MAX_SIZE`] raw, [`MAX_BODY`] packet).
    pub size: usize,
    /// Closed or open loop (chat: open).
    pub pacing: Pacing,
    /// How long to send.
    pub duration: Duration,
    /// Event loops of the client.
    pub threads: usize,
    /// The client's I/O model.
    pub model: Model,
    /// Deadline for connecting every client; then as long again for every client to be
    /// ready (chat: in its room).
    pub connect_timeout: Duration,
    /// How long to wait for what is still owed after sending stops.
    pub drain_timeout: Duration,
    /// Open loop: a client holds its due messages until the oldest has waited this long, then
    /// sends all that are due in one write (zero: at the next tick). Each keeps its scheduled
    /// send time as its stamp, so the hold counts in the latency. A game client sends once
    /// per frame or network tick; at high per-client rates this keeps the load generator's
    /// own send cost (a loopback send costs the sender a few microseconds of kernel time)
    /// from being what limits the run.
    pub send_batch: Duration,
    /// Keep the per-second [`Timeline`](crate::timeline::Timeline) (for `--plot`): a second
    /// histogram record per message, so off unless a chart is asked for.
    pub timeline: bool,
    /// `--auth-secret`: each client signs in first with a token of its own.
    pub tokens: Option<Arc<Tokens>>,
    /// `--resume`: each client holds a seat and resumes it after a drop (needs `tokens`).
    pub resume: Option<ResumeConfig>,
}

/// `--resume` (docs/protocol.md "Resume: a held seat"): each client asks for a seat after its
/// HELLO and, when its connection drops, reconnects and resumes it ([`crate::reconnect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResumeConfig {
    /// `--chaos`: connections the client drops itself per second while sending (0: none;
    /// see [`crate::chaos`]).
    pub chaos: u64,
    /// `--seed`: which clients the chaos drops.
    pub seed: u64,
    /// `--allow-seat-loss`: a lost seat is reported but is not an error (what it costs, the
    /// chats it missed and the disconnect, still are).
    pub allow_seat_loss: bool,
}

impl LoadConfig {
    /// A closed-loop raw echo run against `addr` with the CLI's defaults for everything else.
    pub fn new(addr: impl Into<String>, clients: usize) -> LoadConfig {
        LoadConfig {
            addr: addr.into(),
            clients,
            protocol: Protocol::Raw,
            websocket: false,
            tls: None,
            scenario: Scenario::Echo,
            size: 64,
            pacing: Pacing::Closed { inflight: 1 },
            duration: Duration::from_secs(10),
            threads: ServiceConfig::default().threads,
            model: Model::Auto,
            connect_timeout: Duration::from_secs(10),
            drain_timeout: DRAIN_TIMEOUT,
            send_batch: Duration::ZERO,
            tokens: None,
            timeline: false,
            resume: None,
        }
    }

    /// A chat run against `addr`: `clients` clients in `rooms` rooms, each sending `per_client`
    /// chats per second, with the CLI's defaults for everything else.
    pub fn chat(
        addr: impl Into<String>,
        clients: usize,
        rooms: usize,
        per_client: u64,
    ) -> LoadConfig {
        LoadConfig {
            protocol: Protocol::Packet,
            scenario: Scenario::Chat { rooms },
            pacing: Pacing::Open {
                rate: per_client.saturating_mul(clients as u64),
            },
            ..LoadConfig::new(addr, clients)
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
        if self.websocket && self.protocol != Protocol::Packet {
            return Err("--websocket needs --protocol packet".into());
        }
        self.validate_scenario()?;
        self.validate_size()?;
        match self.pacing {
            Pacing::Closed { inflight: 0 } => return Err("--inflight must be at least 1".into()),
            Pacing::Open { rate: 0 } => return Err("--rate must be at least 1".into()),
            _ => {}
        }
        if self.threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        self.validate_resume()
    }

    fn validate_resume(&self) -> Result<(), String> {
        if self.resume.is_none() {
            return Ok(());
        }
        if self.protocol != Protocol::Packet || self.tokens.is_none() {
            return Err(
                "--resume holds a signed-in player's seat: it needs --protocol packet \
                 and --auth-secret"
                    .into(),
            );
        }
        if self.websocket || self.tls.is_some() {
            return Err("--resume reconnects over plain TCP: not with --websocket or --tls".into());
        }
        Ok(())
    }

    fn validate_scenario(&self) -> Result<(), String> {
        let Scenario::Chat { rooms } = self.scenario else {
            return Ok(());
        };
        if self.protocol != Protocol::Packet {
            return Err("--scenario chat needs --protocol packet".into());
        }
        if matches!(self.pacing, Pacing::Closed { .. }) {
            return Err("--scenario chat is paced by --chat-rate, not --inflight".into());
        }
        if rooms == 0 || u32::try_from(rooms).is_err() {
            return Err(format!("--rooms must be 1 ..= {}, not {rooms}", u32::MAX));
        }
        Ok(())
    }

    fn validate_size(&self) -> Result<(), String> {
        let min = match self.scenario {
            Scenario::Echo => HEADER_LEN,
            Scenario::Chat { .. } => MIN_CHAT_SIZE,
        };
        let max = match self.protocol {
            Protocol::Raw => MAX_SIZE,
            Protocol::Packet => MAX_BODY,
        };
        if !(min..=max).contains(&self.size) {
            return Err(format!(
                "--size must be {min} ..= {max} bytes for {} over {}, not {}",
                self.scenario.name(),
                self.protocol.name(),
                self.size
            ));
        }
        Ok(())
    }

    /// How this run's messages travel.
    pub fn wire(&self) -> Wire {
        Wire::new(self.protocol, self.size).with_websocket(self.websocket)
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
        let framed = self.wire().framed_len();
        match self.pacing {
            Pacing::Closed { inflight } => inflight.saturating_mul(framed),
            Pacing::Open { .. } => self.backlog() * framed,
        }
    }

    /// The servercore config of the client's loops. Reading is never paused for
    /// backpressure: the client bounds what it sends itself, and a client that stopped
    /// reading its echoes while the server stopped reading its requests would deadlock.
    fn service_config(&self) -> ServiceConfig {
        let base = client_service_config(self.threads, self.model);
        ServiceConfig {
            send_queue_limit: base.send_queue_limit.max(2 * self.max_outstanding_bytes()),
            recv_buffer_limit: base
                .recv_buffer_limit
                .max(2 * self.wire().framed_len() + base.read_chunk),
            ..base
        }
    }
}

/// The servercore config every client run starts from: `threads` loops of `model`, a
/// [`TICK`] for the pacing, and reading never paused for backpressure (the client bounds
/// what it sends itself).
pub fn client_service_config(threads: usize, model: Model) -> ServiceConfig {
    ServiceConfig {
        threads,
        model,
        tick: Some(TICK),
        send_queue_pause: usize::MAX,
        ..ServiceConfig::default()
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
    /// `--tls` or `--websocket`: a client's handshake failed.
    Handshake(HandshakeError),
    /// Not every client got ready (chat: into its room) in time.
    NotReady {
        /// Clients ready (or closed).
        ready: usize,
        /// Clients connected.
        clients: usize,
        /// How long the run waited.
        waited: Duration,
    },
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Config(msg) => f.write_str(msg),
            LoadError::Connect(err) => err.fmt(f),
            LoadError::Service(err) => write!(f, "client event loops: {err}"),
            LoadError::Handshake(err) => err.fmt(f),
            LoadError::NotReady { ready, clients, waited } => write!(
                f,
                "only {ready} of {clients} clients were ready within {:.1} s (chat: no ROOM_JOINED; \
                 does the server speak --protocol packet?)",
                waited.as_secs_f64()
            ),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Config(_) | LoadError::NotReady { .. } => None,
            LoadError::Connect(err) => Some(err),
            LoadError::Service(err) => Some(err),
            LoadError::Handshake(err) => Some(err),
        }
    }
}

/// The run so far, as the loops last published it (each at most 100 ms old).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    /// Time since sending started.
    pub elapsed: Duration,
    /// How long sending lasts (`--duration`).
    pub duration: Duration,
    /// True once sending stopped and the run waits for what is owed.
    pub draining: bool,
    /// Clients whose connection is open.
    pub connections: u64,
    /// Messages sent.
    pub sent: u64,
    /// Verified messages.
    pub messages: u64,
    /// Messages received, whatever their verdict.
    pub deliveries: u64,
    /// Errors so far (corrupt, out of order, duplicates, disconnects; lost comes at the end).
    pub errors: u64,
}

impl Progress {
    /// Sums what the loops published.
    fn sample(shared: &Shared, elapsed: Duration, duration: Duration, draining: bool) -> Self {
        let mut p = Progress {
            elapsed,
            duration,
            draining,
            ..Progress::default()
        };
        for lp in shared.progress.iter() {
            p.connections += lp.connections.load(Ordering::Relaxed);
            p.sent += lp.sent.load(Ordering::Relaxed);
            p.messages += lp.messages.load(Ordering::Relaxed);
            p.deliveries += lp.deliveries.load(Ordering::Relaxed);
            p.errors += lp.errors.load(Ordering::Relaxed);
        }
        p
    }
}

/// Runs a load test as `config` says and returns its report. `interrupt` (set by Ctrl-C)
/// ends the sending phase early.
///
/// # Errors
/// A bad config, clients that could not all connect (the error names the address and how
/// many did) or get ready in time, or event loops that failed. Verification failures are not
/// errors: see [`Report::passed`].
pub fn run(config: &LoadConfig, interrupt: &AtomicBool) -> Result<Report, LoadError> {
    run_observed(config, interrupt, &mut |_| {})
}

/// Waits until every loop has received what it is owed, while something keeps arriving: the
/// drain ends once nothing arrived for `quiet` (or after [`MAX_DRAIN`]).
fn drain(shared: &Shared, quiet: Duration, observer: &mut Observer<'_>) {
    let give_up = Instant::now() + MAX_DRAIN;
    let mut received = shared.drain_received();
    let mut quiet_until = Instant::now() + quiet;
    while !shared.drained() && Instant::now() < quiet_until.min(give_up) {
        observer.poll(true);
        std::thread::sleep(Duration::from_millis(1));
        let now_received = shared.drain_received();
        if now_received > received {
            received = now_received;
            quiet_until = Instant::now() + quiet;
        }
    }
}

/// [`run`], calling `observe` every [`OBSERVE_EVERY`] while sending and draining with the
/// counts the loops last published (the loops are never waited for).
///
/// # Errors
/// As [`run`].
pub fn run_observed(
    config: &LoadConfig,
    interrupt: &AtomicBool,
    observe: &mut dyn FnMut(&Progress),
) -> Result<Report, LoadError> {
    config.validate().map_err(LoadError::Config)?;
    let servers = connect::resolve_list(&config.addr).map_err(LoadError::Connect)?;
    let rooms = match config.scenario {
        Scenario::Chat { rooms } => rooms,
        Scenario::Echo => 1,
    };
    // Which server each client goes to (clients and rooms are validated to fit u32).
    let spread = Spread::new(&servers, config.clients as u32, rooms as u32);
    let connections: Vec<(SocketAddr, usize)> = spread.connections().collect();
    let base = Instant::now();
    let mut shared = Shared::new(config.threads);
    if servers.len() > 1 {
        shared = shared.with_spread(spread);
    }
    let mut requests = None;
    if config.resume.is_some() {
        let (rejoin, rx) = Rejoin::new();
        shared = shared.with_rejoin(rejoin);
        requests = Some(rx);
    }
    let shared = Arc::new(shared);
    let service = Service::unbound(config.service_config(), |_| {
        LoadHandler::new(shared.clone(), base, config)
    })
    .map_err(LoadError::Service)?;
    let service = Arc::new(service);
    let reconnector = requests.map(|rx| start_reconnector(rx, &service, &shared, config));

    let connect_started = Instant::now();
    let mut gate = HandshakeGate::new(config.websocket, config.tls.clone(), config.connect_timeout);
    let mut connect_failures = 0;
    for (addr, clients) in connections {
        let left = config
            .connect_timeout
            .saturating_sub(connect_started.elapsed());
        connect_failures +=
            connect::connect_all(addr, clients, left, |stream| match gate.pass(stream) {
                Some(Connected::Plain(stream)) => service.adopt(stream),
                Some(Connected::Tls(stream, tls)) => service.adopt_tls(stream, *tls),
                None => {}
            })
            .map_err(LoadError::Connect)?;
    }
    gate.finish().map_err(LoadError::Handshake)?;
    wait_ready(&shared.ready, config.clients, config.connect_timeout)?;
    let connect_secs = connect_started.elapsed().as_secs_f64();

    let mut observer = Observer {
        shared: &shared,
        duration: config.duration,
        started: Instant::now(),
        next: Instant::now(),
        observe,
    };
    let duration_secs = send_for(&shared, base, config.duration, interrupt, &mut observer);
    drain(&shared, config.drain_timeout, &mut observer);

    let mut info = config.run_info(&servers, service.threads(), service.model());
    info.connect_secs = connect_secs;
    info.duration_secs = duration_secs;
    info.connect_failures = connect_failures;
    if let Some(reconnector) = reconnector {
        reconnector.stop();
    }
    let service = Arc::into_inner(service).expect("the reconnect thread has ended");
    let stats = merge(service.stop(), &shared, config.clients)?;
    Ok(Report::new(&stats, info))
}

/// `--resume`: the thread that reconnects dropped clients, within the connect timeout (a
/// client it cannot reconnect by then loses its seat).
fn start_reconnector(
    requests: std::sync::mpsc::Receiver<SocketAddr>,
    service: &Arc<Service<LoadHandler>>,
    shared: &Arc<Shared>,
    config: &LoadConfig,
) -> Reconnector {
    let (service, shared) = (service.clone(), shared.clone());
    let adopt = move |stream| service.adopt(stream);
    let unreachable = move |server| {
        if let Some(rejoin) = &shared.rejoin {
            rejoin.give_up(server, |client| {
                if client.give_up() {
                    shared.ready.fetch_add(1, Ordering::AcqRel);
                }
            });
        }
    };
    Reconnector::start(requests, config.connect_timeout, adopt, unreachable)
}

/// The barrier: waits until `ready` counts every client ready to send (echo: opened by its
/// loop; chat: `ROOM_JOINED` received; arena: its join answered) or closed, so that nobody
/// sends before everyone can receive.
pub(crate) fn wait_ready(
    ready: &AtomicU32,
    clients: usize,
    timeout: Duration,
) -> Result<(), LoadError> {
    let started = Instant::now();
    loop {
        let ready = ready.load(Ordering::Acquire) as usize;
        if ready >= clients {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            return Err(LoadError::NotReady {
                ready,
                clients,
                waited: started.elapsed(),
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Calls the observer of [`run_observed`] at most every [`OBSERVE_EVERY`].
struct Observer<'a> {
    shared: &'a Shared,
    duration: Duration,
    started: Instant,
    next: Instant,
    observe: &'a mut dyn FnMut(&Progress),
}

impl Observer<'_> {
    fn poll(&mut self, draining: bool) {
        let now = Instant::now();
        if now >= self.next {
            self.next = now + OBSERVE_EVERY;
            let elapsed = now.saturating_duration_since(self.started);
            (self.observe)(&Progress::sample(
                self.shared,
                elapsed,
                self.duration,
                draining,
            ));
        }
    }
}

/// The sending phase: `duration`, or until `interrupt`. Returns the seconds it lasted.
fn send_for(
    shared: &Shared,
    base: Instant,
    duration: Duration,
    interrupt: &AtomicBool,
    observer: &mut Observer<'_>,
) -> f64 {
    let started = Instant::now();
    // The first sample after the loops' first publication of this phase.
    (observer.started, observer.next) = (started, started + OBSERVE_EVERY);
    shared.start_nanos.store(
        started.saturating_duration_since(base).as_nanos() as u64,
        Ordering::Release,
    );
    shared.set_phase(Phase::Sending);
    let end = started + duration;
    while Instant::now() < end && !interrupt.load(Ordering::Relaxed) {
        observer.poll(false);
        std::thread::sleep(
            (end.saturating_duration_since(Instant::now())).min(Duration::from_millis(10)),
        );
    }
    shared.set_phase(Phase::Draining);
    started.elapsed().as_secs_f64()
}

/// Adds up the stopped loops' stats and settles `lost`, which needs every client's sends
/// (`--resume`: also of the clients that were between two connections when the run ended).
fn merge(
    loops: Vec<io::Result<LoadHandler>>,
    shared: &Shared,
    clients: usize,
) -> Result<Stats, LoadError> {
    let mut handlers = loops
        .into_iter()
        .collect::<io::Result<Vec<_>>>()
        .map_err(LoadError::Service)?;
    let away = shared
        .rejoin
        .as_ref()
        .map(Rejoin::take_all)
        .unwrap_or_default();
    let mut sent = vec![0; clients];
    for handler in &mut handlers {
        handler.record_sent(&mut sent);
        handler.settle_seats();
    }
    for client in &away {
        if let Some(slot) = sent.get_mut(client.index()) {
            *slot = client.sent();
        }
    }
    let mut stats = Stats::new();
    for handler in &handlers {
        stats.merge(handler.stats());
        stats.lost += handler.lost(&sent);
    }
    for client in &away {
        stats.lost += client.lost(&sent);
        client.settle_away(&mut stats.resume);
    }
    Ok(stats)
}

impl LoadConfig {
    /// The report's description of this run (timings left at zero for the caller to fill).
    fn run_info(&self, servers: &[SocketAddr], threads: usize, model: Model) -> RunInfo {
        let addrs: Vec<String> = servers.iter().map(SocketAddr::to_string).collect();
        RunInfo {
            addr: addrs.join(","),
            scenario: self.scenario.name(),
            protocol: match self.websocket {
                true => "websocket",
                false => self.protocol.name(),
            },
            tls: self.tls.is_some(),
            clients: self.clients,
            rooms: match self.scenario {
                Scenario::Chat { rooms } => Some(rooms),
                Scenario::Echo => None,
            },
            size: self.size,
            mode: match self.pacing {
                Pacing::Closed { .. } => "closed",
                Pacing::Open { .. } => "open",
            },
            inflight: match self.pacing {
                Pacing::Closed { inflight } => Some(inflight),
                Pacing::Open { .. } => None,
            },
            rate: match self.pacing {
                Pacing::Open { rate } => Some(rate),
                Pacing::Closed { .. } => None,
            },
            send_batch_ms: match self.pacing {
                Pacing::Open { .. } => Some(self.send_batch.as_secs_f64() * 1e3),
                Pacing::Closed { .. } => None,
            },
            threads,
            model: model.to_string(),
            duration_secs: 0.0,
            connect_secs: 0.0,
            connect_failures: 0,
            resume: self.resume.map(|r| ResumeInfo {
                chaos_per_sec: r.chaos,
                allow_seat_loss: r.allow_seat_loss,
            }),
        }
    }
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
    fn chat_needs_packets_an_open_loop_and_rooms() {
        let ok = LoadConfig::chat("x:1", 30, 3, 10);
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.pacing, Pacing::Open { rate: 300 });
        let bad = [
            LoadConfig {
                protocol: Protocol::Raw,
                ..ok.clone()
            },
            LoadConfig {
                pacing: Pacing::Closed { inflight: 1 },
                ..ok.clone()
            },
            LoadConfig {
                scenario: Scenario::Chat { rooms: 0 },
                ..ok.clone()
            },
            LoadConfig {
                size: MIN_CHAT_SIZE - 1,
                ..ok.clone()
            },
            LoadConfig {
                size: MAX_BODY + 1,
                ..ok
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
        let packet_echo = LoadConfig {
            protocol: Protocol::Packet,
            ..LoadConfig::new("x:1", 1)
        };
        assert_eq!(packet_echo.validate(), Ok(()));
        assert!(LoadConfig {
            size: MAX_BODY + 1,
            ..packet_echo
        }
        .validate()
        .is_err());
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
