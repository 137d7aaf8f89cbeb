//! `gameserver`: the lecture's echo server on port 7777, built on servercore, and a packet
//! mode with echo and chat rooms (`--protocol packet`, see docs/protocol.md).
//!
//! ```text
//! cargo run --release -p gameserver                       # echo on 0.0.0.0:7777, all CPUs
//! cargo run --release -p gameserver -- --threads 1 --model epoll --port 9000
//! cargo run --release -p gameserver -- --metrics 127.0.0.1:9100 --stats-interval 10
//! ```
//!
//! Operating it:
//! - `--metrics ADDR` serves Prometheus metrics on `http://ADDR/metrics` (see `metrics.rs`);
//!   `--stats-interval SECS` logs the same figures every SECS seconds (see `stats_line.rs`).
//!   Both read the loops' published stats on threads of their own, outside the event loops.
//! - Once listening, one `ready` line logs the bound addresses (`--port 0` and
//!   `--metrics HOST:0` pick free ports).
//! - The first SIGINT (Ctrl-C) or SIGTERM stops accepting and drains: sessions get up to
//!   `ServiceConfig::shutdown_drain` to take what is queued for them, then are closed; the
//!   process exits 0. A second signal during the drain exits at once, also with 0.

mod metrics;
mod stats_line;

use std::io::{self, IsTerminal};
use std::net::{IpAddr, SocketAddr};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use gameserver::cluster::{Cluster, ClusterArgs, ClusterStats, Relay};
use gameserver::echo::Echo;
use gameserver::game::Game;
use gameserver::protocol;
use gameserver::room::{Rooms, DEFAULT_ROOM_CAPACITY};
use servercore::packet::{Packets, RateLimit, DEFAULT_MAX_PACKET};
use servercore::{Handler, Model, Service, ServiceConfig};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::metrics::MetricsServer;

/// Echo server for the game-server networking lecture, on servercore.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Port to listen on (0: any free port; the `ready` log line tells which).
    #[arg(long, default_value_t = 7777)]
    port: u16,
    /// Event loops (threads); each session lives on one. Default: number of CPUs.
    #[arg(long)]
    threads: Option<usize>,
    /// I/O model: auto (io_uring if the kernel allows, else epoll), epoll or uring.
    #[arg(long, default_value = "auto")]
    model: Model,
    /// Stop reading from a session whose unsent echo exceeds this many bytes, until it drains.
    #[arg(long, default_value_t = ServiceConfig::default().send_queue_pause)]
    send_queue_pause: usize,
    /// Close a session whose send queue would exceed this many bytes (slow consumer).
    #[arg(long, default_value_t = ServiceConfig::default().send_queue_limit)]
    send_queue_limit: usize,
    /// Bytes of sends for other event loops' sessions that may wait in one loop's inbox;
    /// beyond it such sends are dropped (counted in mailbox_refused).
    #[arg(long, default_value_t = ServiceConfig::default().mailbox_limit)]
    mailbox_limit: usize,
    /// raw: echo every byte (the lecture). packet: framed packets with echo and chat rooms
    /// (docs/protocol.md).
    #[arg(long, value_enum, default_value_t = Protocol::Raw)]
    protocol: Protocol,
    /// Largest packet accepted in packet mode, header included (bytes, at most 65535).
    #[arg(long, default_value_t = DEFAULT_MAX_PACKET)]
    max_packet: usize,
    /// Most sessions at once; connections beyond are refused (packet mode: SERVER_FULL first).
    #[arg(long, default_value_t = ServiceConfig::default().max_sessions)]
    max_sessions: usize,
    /// Most sessions from one source (IPv4 address, or IPv6 /64); beyond it connections are
    /// refused.
    #[arg(long, default_value_t = ServiceConfig::default().max_sessions_per_ip)]
    max_sessions_per_ip: usize,
    /// New sessions a second one source may open on average, in bursts of up to
    /// --max-sessions-per-ip (0: no limit). Reconnecting does not reset it.
    #[arg(long, default_value_t = ServiceConfig::default().connect_rate_per_ip)]
    connect_rate_per_ip: u32,
    /// Close a session from which nothing arrived for SECS seconds (0: never).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    idle_timeout: u64,
    /// Close a session that started a packet and did not finish it within SECS seconds
    /// (slowloris; 0: never).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    partial_timeout: u64,
    /// Packet mode: most members of one chat room; an ENTER_ROOM beyond it gets ROOM_FULL.
    #[arg(long, default_value_t = DEFAULT_ROOM_CAPACITY)]
    max_room_members: usize,
    /// Packet mode: packets per second a session may send on average (0: no limit).
    #[arg(long, default_value_t = RateLimit::default().per_sec)]
    rate_limit: u32,
    /// Packet mode: packets a session may send in one burst.
    #[arg(long, default_value_t = RateLimit::default().burst)]
    rate_burst: u32,
    /// Send tick in milliseconds: hold output up to this long so every message queued for a
    /// session in between leaves in one write (fewer syscalls per broadcast, up to this much
    /// added latency). 0: flush at once.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    flush_interval_ms: u64,
    /// On stop, seconds sessions get to take what is queued for them before they are closed.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    shutdown_drain: u64,
    /// Serve Prometheus metrics on http://ADDR/metrics (e.g. 127.0.0.1:9100). Off by default.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Log a stats line (totals and rates per second) every SECS seconds. Off by default.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    stats_interval: Option<u64>,
    /// Scale-out through Redis (packet mode): `--cluster URL` and its companions.
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// What the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Protocol {
    /// Echo every byte back (the lecture's server).
    Raw,
    /// Framed packets: echo, rooms, chat broadcast.
    Packet,
}

impl Args {
    fn config(&self) -> ServiceConfig {
        let defaults = ServiceConfig::default();
        let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        ServiceConfig {
            threads: self.threads.unwrap_or(defaults.threads),
            model: self.model,
            send_queue_pause: self.send_queue_pause,
            send_queue_limit: self.send_queue_limit,
            mailbox_limit: self.mailbox_limit,
            max_sessions: self.max_sessions,
            max_sessions_per_ip: self.max_sessions_per_ip,
            connect_rate_per_ip: self.connect_rate_per_ip,
            idle_timeout: secs(self.idle_timeout),
            partial_timeout: secs(self.partial_timeout),
            shutdown_drain: Duration::from_secs(self.shutdown_drain),
            flush_interval: (self.flush_interval_ms > 0)
                .then(|| Duration::from_millis(self.flush_interval_ms)),
            ..defaults
        }
    }

    /// The packet-mode handler of one loop: the game, framed, rate limited.
    fn packets(&self, game: Game) -> Packets<Game> {
        let packets = Packets::new(game, self.max_packet);
        match self.rate_limit {
            0 => packets,
            per_sec => packets.with_rate_limit(RateLimit {
                per_sec,
                burst: self.rate_burst.max(1),
            }),
        }
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(io::stdout().is_terminal()) // no colour codes in log files and pipes
        .init();
    let args = Args::parse();
    // Installed before the loops start, so a signal during start-up is not lost.
    let stop = watch_signals()?;
    let metrics = args.metrics.map(MetricsServer::bind).transpose()?;
    let addr = SocketAddr::new(args.bind, args.port);
    let mut ops = Operations {
        metrics,
        stats_interval: args.stats_interval.map(Duration::from_secs),
        stop,
        cluster: None,
    };
    match args.protocol {
        Protocol::Raw => {
            // Rooms are a packet-mode thing: say so rather than ignore the flag.
            anyhow::ensure!(
                args.cluster.cluster.is_none(),
                "--cluster needs --protocol packet"
            );
            serve(Service::bind(addr, args.config(), |_| Echo), addr, ops)
        }
        Protocol::Packet => {
            let mut cluster = Cluster::new(&args.cluster, args.max_room_members)?;
            let rooms = cluster.as_ref().map_or_else(
                || Arc::new(Rooms::new(args.max_room_members)),
                Cluster::rooms,
            );
            let config = ServiceConfig {
                farewell: Some(protocol::server_full()),
                ..args.config()
            };
            let factory = |index| {
                let game = cluster
                    .as_ref()
                    .map_or_else(|| Game::new(rooms.clone()), Cluster::game);
                let inbox = cluster.as_mut().map(|c| c.inbox(index));
                Relay::new(args.packets(game), inbox)
            };
            let service = Service::bind(addr, config, factory);
            ops.cluster = cluster.as_ref().map(Cluster::stats);
            // Started once the loops exist (it needs their notifier); stopped after them.
            let _backplane = match (&service, cluster) {
                (Ok(service), Some(cluster)) => Some(cluster.start(service.notifier())?),
                _ => None,
            };
            serve(service, addr, ops)
        }
    }
}

/// What runs beside the event loops: the metrics exporter, the stats line, and the signal
/// that ends it all.
struct Operations {
    metrics: Option<MetricsServer>,
    stats_interval: Option<Duration>,
    /// Receives the first SIGINT/SIGTERM.
    stop: mpsc::Receiver<i32>,
    /// The backplane's counters, with `--cluster`.
    cluster: Option<Arc<ClusterStats>>,
}

/// Runs `service` with its operations until the first signal, then stops it (drains).
fn serve<H: Handler>(
    service: io::Result<Service<H>>,
    addr: SocketAddr,
    ops: Operations,
) -> anyhow::Result<()> {
    let service = service.with_context(|| format!("cannot listen on {addr}"))?;
    let metrics_url = ops.metrics.as_ref().map(MetricsServer::url);
    tracing::info!(
        addr = %service.local_addr().unwrap_or(addr),
        model = %service.model(),
        threads = service.threads(),
        metrics = %metrics_url.as_deref().unwrap_or("off"),
        "ready"
    );
    // The exporter and the stats line borrow the service; both end before it is stopped.
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let stats = || service.stats();
        if let Some(metrics) = &ops.metrics {
            let cluster = ops.cluster.as_ref();
            std::thread::Builder::new()
                .name("metrics".into())
                .spawn_scoped(scope, move || metrics.serve(stats, cluster))
                .context("starting the metrics thread")?;
        }
        let (end_stats_line, stats_line_ended) = mpsc::channel::<()>();
        if let Some(interval) = ops.stats_interval {
            let started = std::thread::Builder::new()
                .name("stats-line".into())
                .spawn_scoped(scope, move || {
                    stats_line::run(interval, stats, &stats_line_ended);
                });
            if let Err(err) = started {
                // The scope waits for the exporter thread: stop it before leaving with the error.
                if let Some(metrics) = &ops.metrics {
                    metrics.stop();
                }
                return Err(err).context("starting the stats thread");
            }
        }
        if let Some(signal) = wait_for_stop(&ops.stop, || service.failed_loops()) {
            let live = service.live_sessions();
            tracing::info!(
                signal,
                live,
                "stopping: draining sessions (a second signal exits now)"
            );
        }
        if let Some(metrics) = &ops.metrics {
            metrics.stop();
        }
        drop(end_stats_line);
        Ok(())
    })?;
    for result in service.stop() {
        result.context("event loop failed")?;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Waits for the first signal (returned) or for an event loop to fail (`None`: logged, and
/// the service is stopped; `Service::stop` then reports the error and the exit status is
/// not 0).
fn wait_for_stop(stop: &mpsc::Receiver<i32>, failed_loops: impl Fn() -> usize) -> Option<i32> {
    loop {
        match stop.recv_timeout(Duration::from_millis(500)) {
            Ok(signal) => return Some(signal),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let failed = failed_loops();
                if failed > 0 {
                    tracing::error!(failed, "an event loop failed: stopping the server");
                    return None;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// Starts the signal thread. The first SIGINT/SIGTERM is passed on through the returned
/// channel (stop and drain); a second one ends the process at once, with exit status 0.
fn watch_signals() -> anyhow::Result<mpsc::Receiver<i32>> {
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("installing signal handlers")?;
    let (first, stop) = mpsc::channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut signals = signals.forever();
            if let Some(signal) = signals.next() {
                let _ = first.send(signal);
            }
            if let Some(signal) = signals.next() {
                tracing::warn!(
                    signal,
                    "second signal: exiting without waiting for the drain"
                );
                std::process::exit(0);
            }
        })
        .context("starting the signal thread")?;
    Ok(stop)
}
