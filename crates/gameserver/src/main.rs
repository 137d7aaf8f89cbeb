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
//! - Every flag has a range (`cli.rs`, docs/limits.md); a value outside it, or a
//!   `--send-queue-pause` too close to `--send-queue-limit`, is refused at start-up with a
//!   usage error naming the flag (exit status 2).
//! - `--metrics ADDR` serves Prometheus metrics on `http://ADDR/metrics` (see `metrics.rs`);
//!   `--stats-interval SECS` logs the same figures every SECS seconds (see `stats_line.rs`).
//!   Both read the loops' published stats on threads of their own, outside the event loops.
//! - Once listening, one `ready` line logs the bound addresses (`--port 0` and
//!   `--metrics HOST:0` pick free ports).
//! - The first SIGINT (Ctrl-C) or SIGTERM (on Windows: Ctrl-C or Ctrl-Break) stops accepting
//!   and drains: sessions get up to `ServiceConfig::shutdown_drain` to take what is queued for
//!   them, then are closed; the process exits 0. A second signal during the drain exits at
//!   once, also with 0 (`signals.rs`).

mod cli;
mod metrics;
mod rooms_metrics;
mod signals;
mod stats_line;

use std::io::{self, IsTerminal};
use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::Context as _;
use gameserver::arena::{arena_rooms, Arena, ArenaStats, OnClose};
use gameserver::chat_service::bind_chat;
use gameserver::cluster::{Cluster, Instance, LeaseKeeper, Leases};
use gameserver::echo::Echo;
use gameserver::protocol;
use servercore::tls::TlsConfig;
use servercore::{Handler, LoopStats, Service, ServiceConfig};

use crate::cli::{Args, GameKind, Protocol};
use crate::metrics::{cluster_extra, login_extra, Extra, MetricsServer};
use crate::rooms_metrics::rooms_extra;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(io::stdout().is_terminal()) // no colour codes in log files and pipes
        .init();
    let args = Args::parse_checked();
    // Installed before the loops start, so a signal during start-up is not lost.
    let reload = args
        .tls
        .clone()
        .map(|tls| -> signals::Reload { Box::new(move || reload_certificate(&tls)) });
    let stop = signals::watch(reload)?;
    let metrics = args.metrics.map(MetricsServer::bind).transpose()?;
    let addr = SocketAddr::new(args.bind, args.port);
    let mut ops = Operations {
        metrics,
        stats_interval: args.stats_interval.map(Duration::from_secs),
        stop,
        extras: Vec::new(),
        tls: args.tls.is_some(),
    };
    if let Some(login) = &args.login {
        ops.extras.push(login_extra(login));
    }
    match (args.protocol, args.game) {
        (Protocol::Raw, _) => serve(Service::bind(addr, args.config(), |_| Echo), addr, ops),
        (Protocol::Packet, GameKind::Chat) => serve_chat(&args, addr, ops),
        (Protocol::Packet, GameKind::Arena) => serve_arena(&args, addr, ops),
    }
}

/// The packet service's config: the flags' and the SERVER_FULL farewell.
fn packet_config(args: &Args) -> ServiceConfig {
    ServiceConfig {
        farewell: Some(protocol::server_full()),
        ..args.config()
    }
}

/// `--game chat`: chat rooms, with `--cluster` shared through Redis.
fn serve_chat(args: &Args, addr: SocketAddr, mut ops: Operations) -> anyhow::Result<()> {
    let max_body = args.max_packet - servercore::packet::HEADER_LEN;
    let mut cluster = Cluster::new(&args.cluster, max_body)?;
    let capacity = args.max_room_members;
    let bound = bind_chat(
        addr,
        packet_config(args),
        capacity,
        cluster.as_mut(),
        |game| args.packets(game),
    );
    let service = bound.map(|(service, hub)| {
        ops.extras
            .push(rooms_extra("chat", move || hub.stats(), None));
        service
    });
    listen_websocket(&service, args)?;
    bind_login(&service, args);
    if let Some(cluster) = &cluster {
        ops.extras.push(cluster_extra(cluster.stats()));
    }
    // Started once the loops exist (it needs their notifier); stopped after them.
    let _backplane = match (&service, cluster) {
        (Ok(service), Some(cluster)) => Some(cluster.start(service.notifier())?),
        _ => None,
    };
    serve(service, addr, ops)
}

/// Lets resumed connections reach their seats' loops (with `--auth-secret`).
fn bind_login<H: servercore::Handler>(service: &io::Result<Service<H>>, args: &Args) {
    if let (Ok(service), Some(login)) = (service, &args.login) {
        login.bind(service.notifier());
    }
}

/// `--game arena`: the arenas; with `--cluster`, each lives on the instance holding its
/// lease in Redis.
fn serve_arena(args: &Args, addr: SocketAddr, mut ops: Operations) -> anyhow::Result<()> {
    let config = packet_config(args);
    let stats = Arc::new(ArenaStats::default());
    let cluster = arena_leases(args, config.threads)?;
    let on_close = cluster
        .as_ref()
        .map(|(leases, _)| leases.clone() as Arc<dyn OnClose>);
    let hub = arena_rooms(config.threads, args.arena.config(), stats.clone(), on_close);
    let service = hub.serve(addr, config, |_, rooms| {
        args.packets(match &cluster {
            Some((leases, _)) => Arena::clustered(rooms, leases.clone()),
            None => Arena::new(rooms),
        })
    });
    listen_websocket(&service, args)?;
    bind_login(&service, args);
    let leases = cluster.as_ref().map(|(leases, _)| leases.clone());
    ops.extras.push(rooms_extra(
        "arena",
        move || hub.stats(),
        Some((stats, leases)),
    ));
    // Started once the loops exist (answers wake them); stopped after them.
    let _keeper = match (&service, cluster) {
        (Ok(service), Some((leases, start))) => {
            leases.bind(service.notifier());
            Some(start(leases)?)
        }
        _ => None,
    };
    serve(service, addr, ops)
}

/// Starts the lease keeper for `leases`.
type KeeperStart = Box<dyn FnOnce(Arc<Leases>) -> anyhow::Result<LeaseKeeper>>;

/// With `--cluster`: this instance's leases, and how to start their keeper thread.
fn arena_leases(args: &Args, loops: usize) -> anyhow::Result<Option<(Arc<Leases>, KeeperStart)>> {
    let Some(url) = args.cluster.cluster.clone() else {
        return Ok(None);
    };
    let auth = args.cluster.auth().map_err(anyhow::Error::msg)?;
    let client = redis::Client::open(url.as_str()).context("--cluster")?;
    let me = Instance {
        node: args.cluster.node().to_string(),
        addr: args.arena.public_addr.clone().unwrap_or_default(),
        websocket: args.arena.public_websocket.clone().unwrap_or_default(),
    };
    let ttl = args.cluster.ttl();
    tracing::info!(node = %me.node, public_addr = %me.addr, "arenas shared through Redis: each lives where its lease is");
    let (leases, requests) = Leases::new(me, loops, ttl / 3);
    let start: KeeperStart = Box::new(move |leases| {
        LeaseKeeper::start(client, leases, requests, auth, ttl).context("starting the lease keeper")
    });
    Ok(Some((Arc::new(leases), start)))
}

/// `--websocket ADDR`: browser players on the same loops.
fn listen_websocket<H: Handler>(
    service: &io::Result<Service<H>>,
    args: &Args,
) -> anyhow::Result<()> {
    if let (Ok(service), Some(ws_addr)) = (service, args.websocket) {
        service
            .listen_websocket(ws_addr, args.websocket_config())
            .with_context(|| format!("cannot listen for websocket on {ws_addr}"))?;
    }
    Ok(())
}

/// What runs beside the event loops: the metrics exporter, the stats line, and the signal
/// that ends it all.
struct Operations {
    metrics: Option<MetricsServer>,
    stats_interval: Option<Duration>,
    /// Receives the first stop signal (SIGINT/SIGTERM, or Ctrl-C/Ctrl-Break on Windows).
    stop: signals::Stop,
    /// The series beside the loops': the rooms', the arena's, the backplane's.
    extras: Vec<Extra>,
    /// The listeners speak TLS (`--tls-cert`).
    tls: bool,
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
        tls = ops.tls,
        "ready"
    );
    // The exporter and the stats line borrow the service; both end before it is stopped.
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let stats = || service.stats();
        if let Some(metrics) = &ops.metrics {
            let extras = &ops.extras;
            std::thread::Builder::new()
                .name("metrics".into())
                .spawn_scoped(scope, move || metrics.serve(stats, extras))
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
    let (handlers, stats) = service.stop_with_stats();
    for result in handlers {
        result.context("event loop failed")?;
    }
    let total = stats.iter().fold(LoopStats::default(), |mut total, s| {
        total.merge(s);
        total
    });
    tracing::info!(
        sessions = total.accepted,
        bytes_in = total.bytes_in,
        bytes_discarded = total.bytes_discarded,
        bytes_out = total.bytes_out,
        "stopped"
    );
    Ok(())
}

/// SIGHUP with TLS: the certificate and key files are read again; new connections get the
/// new certificate, running sessions keep theirs. A file that cannot be used leaves the
/// current one in place.
fn reload_certificate(tls: &TlsConfig) {
    match tls.reload() {
        Ok(()) => tracing::info!(?tls, "SIGHUP: TLS certificate reloaded for new connections"),
        Err(err) => {
            tracing::warn!("SIGHUP: TLS certificate not reloaded, keeping the current one: {err}")
        }
    }
}

/// Waits for the first signal (returned) or for an event loop to fail (`None`: logged, and
/// the service is stopped; `Service::stop` then reports the error and the exit status is
/// not 0).
fn wait_for_stop(stop: &signals::Stop, failed_loops: impl Fn() -> usize) -> Option<&'static str> {
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
