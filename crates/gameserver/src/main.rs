//! `gameserver`: the lecture's echo server on port 7777, built on servercore.
//!
//! ```text
//! cargo run --release -p gameserver                       # echo on 0.0.0.0:7777, all CPUs
//! cargo run --release -p gameserver -- --threads 1 --model epoll --port 9000
//! ```
//! Ctrl-C (SIGINT) or SIGTERM stops accepting, closes every session and exits 0.

mod echo;

use std::net::{IpAddr, SocketAddr};

use anyhow::Context as _;
use clap::Parser;
use servercore::{Model, Service, ServiceConfig};
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
    let service = Service::bind(addr, args.config(), |_| echo::Echo)
        .with_context(|| format!("cannot listen on {addr}"))?;
    if let Some(signal) = signals.forever().next() {
        tracing::info!(signal, live = service.live_sessions(), "stopping");
    }
    for result in service.stop() {
        result.context("event loop failed")?;
    }
    tracing::info!("stopped");
    Ok(())
}
