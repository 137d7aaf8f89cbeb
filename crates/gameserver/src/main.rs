//! `gameserver`: the lecture's echo server on port 7777, built on servercore, and a packet
//! mode with echo and chat rooms (`--protocol packet`, see docs/protocol.md).
//!
//! ```text
//! cargo run --release -p gameserver                       # echo on 0.0.0.0:7777, all CPUs
//! cargo run --release -p gameserver -- --threads 1 --model epoll --port 9000
//! ```
//! Ctrl-C (SIGINT) or SIGTERM stops accepting, closes every session and exits 0.

use std::net::{IpAddr, SocketAddr};

use std::io;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use gameserver::echo::Echo;
use gameserver::game::Game;
use gameserver::room::Rooms;
use servercore::packet::{Packets, DEFAULT_MAX_PACKET};
use servercore::{Handler, Model, Service, ServiceConfig};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Echo server for the game-server networking lecture, on servercore.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Port to listen on.
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
    /// raw: echo every byte (the lecture). packet: framed packets with echo and chat rooms
    /// (docs/protocol.md).
    #[arg(long, value_enum, default_value_t = Protocol::Raw)]
    protocol: Protocol,
    /// Largest packet accepted in packet mode, header included (bytes, at most 65535).
    #[arg(long, default_value_t = DEFAULT_MAX_PACKET)]
    max_packet: usize,
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
        ServiceConfig {
            threads: self.threads.unwrap_or(defaults.threads),
            model: self.model,
            send_queue_pause: self.send_queue_pause,
            send_queue_limit: self.send_queue_limit,
            ..defaults
        }
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let addr = SocketAddr::new(args.bind, args.port);
    // Block the signals before the loops start so only the signal thread sees them.
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("installing signal handlers")?;
    match args.protocol {
        Protocol::Raw => serve(
            Service::bind(addr, args.config(), |_| Echo),
            addr,
            &mut signals,
        ),
        Protocol::Packet => {
            let rooms = Arc::new(Rooms::default());
            let max = args.max_packet;
            let factory = |_| Packets::new(Game::new(rooms.clone()), max);
            serve(
                Service::bind(addr, args.config(), factory),
                addr,
                &mut signals,
            )
        }
    }
}

/// Runs `service` until SIGINT/SIGTERM, then stops it.
fn serve<H: Handler>(
    service: io::Result<Service<H>>,
    addr: SocketAddr,
    signals: &mut Signals,
) -> anyhow::Result<()> {
    let service = service.with_context(|| format!("cannot listen on {addr}"))?;
    if let Some(signal) = signals.forever().next() {
        tracing::info!(signal, live = service.live_sessions(), "stopping");
    }
    for result in service.stop() {
        result.context("event loop failed")?;
    }
    tracing::info!("stopped");
    Ok(())
}
