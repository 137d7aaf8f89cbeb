//! `--scenario arena`: [`run`] connects N bots to an arena, waits until the server answered
//! every join, lets them move and turn for `--duration`, checks every snapshot, and reports
//! snapshot latency (the server's tick to receipt), bytes per player per second, entities in
//! view and every violation found ([`ArenaReport`]).
//!
//! ```text
//!   main thread: connect every bot (blocking, retried) -> Service::adopt each (connected:
//!                ARENA_JOIN) -> wait until each is answered -> phase Sending for --duration
//!                -> phase Draining (a short while: the last snapshots are still checked)
//!                -> Service::stop -> merge each loop's BotStats -> ArenaReport
//!   each loop:   BotHandler: bots, their turns, their snapshots' checks
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use game_protocol::arena::{snapshot, MAX_IN_VIEW};
use servercore::{Model, Service, ServiceConfig};

use crate::arena::handler::{BotHandler, BotShared, RunPhase};
use crate::arena::stats::{ArenaReport, ArenaRunInfo, BotStats};
use crate::connect;
use crate::gate::{Connected, HandshakeGate};
use crate::load::{client_service_config, wait_ready, LoadError};
use crate::login::Tokens;
use crate::tls::TlsClient;
use crate::wire::{Protocol, Wire};

/// How long the last snapshots are still read and checked after sending stops.
const DRAIN: Duration = Duration::from_millis(300);

/// An arena run.
#[derive(Debug, Clone)]
pub struct ArenaLoad {
    /// Server address(es), `host:port`, comma-separated: bot `i` goes to server `i % n`.
    pub addr: String,
    /// Bots.
    pub clients: usize,
    /// The arena they join.
    pub room: u32,
    /// Mean milliseconds between two turns of one bot.
    pub turn_ms: u64,
    /// How long they move.
    pub duration: Duration,
    /// Event loops of the client.
    pub threads: usize,
    /// Their I/O model.
    pub model: Model,
    /// Over WebSocket (`--websocket`).
    pub websocket: bool,
    /// Over TLS (`--tls`): the server verified against a CA and a name ([`crate::tls`]).
    pub tls: Option<Arc<TlsClient>>,
    /// For connecting every bot, then as long again for every join's answer.
    pub connect_timeout: Duration,
    /// `--auth-secret`: each bot signs in first with a token of its own.
    pub tokens: Option<Arc<Tokens>>,
}

impl ArenaLoad {
    /// `clients` bots for arena 1 at `addr`, the CLI's defaults for the rest.
    pub fn new(addr: impl Into<String>, clients: usize) -> ArenaLoad {
        ArenaLoad {
            addr: addr.into(),
            clients,
            room: 1,
            turn_ms: 1000,
            duration: Duration::from_secs(10),
            threads: ServiceConfig::default().threads,
            model: Model::Auto,
            websocket: false,
            tls: None,
            connect_timeout: Duration::from_secs(10),
            tokens: None,
        }
    }

    /// The client loops: a 1 ms tick (the bots' turns are due at that resolution), reading
    /// never paused, buffers for the largest snapshot.
    fn service_config(&self) -> ServiceConfig {
        let base = client_service_config(self.threads, self.model);
        ServiceConfig {
            max_sessions: self.clients.max(base.max_sessions),
            recv_buffer_limit: base
                .recv_buffer_limit
                .max(4 * snapshot::max_len(MAX_IN_VIEW)),
            ..base
        }
    }
}

/// Runs the bots as `config` says; `interrupt` (Ctrl-C) ends the sending early.
///
/// # Errors
/// Bots that could not connect, or whose joins were not answered in time, or client loops
/// that failed. What the checks find is not an error: it is in the report.
pub fn run(config: &ArenaLoad, interrupt: &AtomicBool) -> Result<ArenaReport, LoadError> {
    if config.clients == 0 || config.threads == 0 {
        return Err(LoadError::Config(
            "--clients and --threads must be at least 1".into(),
        ));
    }
    let servers = connect::resolve_list(&config.addr).map_err(LoadError::Connect)?;
    let shared = Arc::new(BotShared::default());
    let wire = Wire::new(Protocol::Packet, snapshot::max_len(MAX_IN_VIEW))
        .with_websocket(config.websocket);
    let service = Service::unbound(config.service_config(), |_| {
        BotHandler::new(
            shared.clone(),
            config.room,
            config.turn_ms,
            wire,
            config.websocket,
        )
        .with_tokens(config.tokens.clone())
    })
    .map_err(LoadError::Service)?;
    let connect_started = Instant::now();
    connect_bots(config, &servers, &service)?;
    wait_ready(&shared.answered, config.clients, config.connect_timeout)?;
    let connect_secs = connect_started.elapsed().as_secs_f64();
    let started = Instant::now();
    shared.set_phase(RunPhase::Sending);
    while started.elapsed() < config.duration && !interrupt.load(Ordering::Relaxed) {
        std::thread::sleep(
            Duration::from_millis(10).min(config.duration.saturating_sub(started.elapsed())),
        );
    }
    let duration_secs = started.elapsed().as_secs_f64();
    shared.set_phase(RunPhase::Draining);
    std::thread::sleep(DRAIN);
    let info = ArenaRunInfo {
        addr: servers
            .iter()
            .map(SocketAddr::to_string)
            .collect::<Vec<_>>()
            .join(","),
        websocket: config.websocket,
        clients: config.clients,
        room: config.room,
        threads: service.threads(),
        model: service.model().to_string(),
        duration_secs,
        connect_secs,
    };
    let stats = merge(service.stop())?;
    Ok(ArenaReport::new(&stats, info))
}

/// Connects every bot (bot `i` to server `i % n`) and hands it to the loops.
fn connect_bots(
    config: &ArenaLoad,
    servers: &[SocketAddr],
    service: &Service<BotHandler>,
) -> Result<(), LoadError> {
    let started = Instant::now();
    let mut gate = HandshakeGate::new(config.websocket, config.tls.clone(), config.connect_timeout);
    for (i, &server) in servers.iter().enumerate() {
        let share = (config.clients + servers.len() - 1 - i) / servers.len();
        let left = config.connect_timeout.saturating_sub(started.elapsed());
        connect::connect_all(server, share, left, |stream| match gate.pass(stream) {
            Some(Connected::Plain(stream)) => service.adopt(stream),
            Some(Connected::Tls(stream, tls)) => service.adopt_tls(stream, *tls),
            None => {}
        })
        .map_err(LoadError::Connect)?;
    }
    gate.finish().map_err(LoadError::Handshake)
}

fn merge(loops: Vec<io::Result<BotHandler>>) -> Result<BotStats, LoadError> {
    let mut stats = BotStats::default();
    for handler in loops {
        stats.merge(handler.map_err(LoadError::Service)?.stats());
    }
    Ok(stats)
}
