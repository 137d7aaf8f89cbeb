//! `dummyclient`: the lecture's DummyClient, and a verifying load generator.
//!
//! ```text
//! cargo run -p dummyclient                                  # lecture: Hello World every second to 127.0.0.1:7777
//! cargo run --release -p dummyclient -- --clients 100 --inflight 4 --duration 5
//! cargo run --release -p dummyclient -- --clients 100 --rate 50000 --size 128 --json
//! ```
//!
//! Exit status: 0 on success; 1 if the run could not be carried out (server not reachable,
//! event loops failed); 2 if the load run found errors (corrupt, out of order, lost,
//! disconnects) or verified no message at all, and also for bad flags (clap's usage error).

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgGroup, Parser};
use dummyclient::lecture::{self, LectureConfig};
use dummyclient::load::{self, LoadConfig, Pacing, DRAIN_TIMEOUT};
use dummyclient::message::HEADER_LEN;
use servercore::{Model, ServiceConfig};

/// The lecture's DummyClient (no flags), or a load generator that verifies every echoed byte
/// (--clients N or --load).
///
/// Load mode connects every client first, sends for --duration, then waits up to 2 s for
/// outstanding echoes and reports throughput, latency percentiles and errors. Each message
/// carries (client id, sequence, length, send time) and a pattern derived from them; the echo
/// must return every client's stream exactly as sent.
#[derive(Debug, Parser)]
#[command(version, about, long_about, after_help = EXIT_STATUS)]
#[command(group(ArgGroup::new("load_mode").args(["clients", "load"]).multiple(true)))]
struct Cli {
    /// Server address (host:port).
    #[arg(long, default_value = "127.0.0.1:7777")]
    addr: String,

    /// Lecture mode: milliseconds between two sends.
    #[arg(
        long,
        default_value_t = 1000,
        conflicts_with = "load_mode",
        help_heading = "Lecture mode"
    )]
    interval_ms: u64,
    /// Lecture mode: stop after this many round trips (default: run until Ctrl-C).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "load_mode", help_heading = "Lecture mode")]
    count: Option<u64>,

    /// Load mode with the default number of clients (100).
    #[arg(long, help_heading = "Load mode")]
    load: bool,
    /// Load mode: number of clients (connections).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Load mode")]
    clients: Option<u32>,
    /// Bytes per message, 24-byte header included (24 ..= 1048576).
    #[arg(long, default_value_t = 64, requires = "load_mode", help_heading = "Load mode",
          value_parser = clap::value_parser!(u32).range(HEADER_LEN as i64..=load::MAX_SIZE as i64))]
    size: u32,
    /// Closed loop: messages each client keeps outstanding (the next is sent as an echo
    /// completes).
    #[arg(long, default_value_t = 1, requires = "load_mode", conflicts_with = "rate", help_heading = "Load mode",
          value_parser = clap::value_parser!(u32).range(1..))]
    inflight: u32,
    /// Open loop: total messages per second over all clients, spread evenly (paced every
    /// 1 ms; a client that falls behind skips sends and counts them as late).
    #[arg(long, requires = "load_mode", help_heading = "Load mode", value_parser = clap::value_parser!(u64).range(1..))]
    rate: Option<u64>,
    /// Seconds to send (fractions allowed).
    #[arg(long, default_value = "10", value_parser = parse_secs, requires = "load_mode", help_heading = "Load mode")]
    duration: Duration,
    /// Event loops (threads) of the client. Default: number of CPUs.
    #[arg(long, requires = "load_mode", help_heading = "Load mode", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// I/O model of the client's loops: auto, epoll or uring.
    #[arg(
        long,
        default_value = "auto",
        requires = "load_mode",
        help_heading = "Load mode"
    )]
    model: Model,
    /// Print the report as one line of JSON.
    #[arg(long, requires = "load_mode", help_heading = "Load mode")]
    json: bool,
    /// Seconds to keep trying to connect every client before giving up.
    #[arg(long, default_value = "10", value_parser = parse_secs, requires = "load_mode", help_heading = "Load mode")]
    connect_timeout: Duration,
}

/// Shown at the end of `--help`.
const EXIT_STATUS: &str = "Exit status: 0 success; 1 the run could not be carried out (server unreachable, \
event loops failed); 2 errors found (corrupt, out_of_order, lost, disconnects) or nothing verified, or bad flags.";

/// Parses seconds (`2`, `0.5`) into a duration.
fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("{s:?} is not a usable number of seconds"))
}

impl Cli {
    fn load_mode(&self) -> bool {
        self.load || self.clients.is_some()
    }

    fn load_config(&self) -> LoadConfig {
        LoadConfig {
            addr: self.addr.clone(),
            clients: self.clients.map_or(100, |n| n as usize),
            size: self.size as usize,
            pacing: match self.rate {
                Some(rate) => Pacing::Open { rate },
                None => Pacing::Closed {
                    inflight: self.inflight as usize,
                },
            },
            duration: self.duration,
            threads: self
                .threads
                .map_or(ServiceConfig::default().threads, |n| n as usize),
            model: self.model,
            connect_timeout: self.connect_timeout,
            drain_timeout: DRAIN_TIMEOUT,
        }
    }

    fn lecture_config(&self) -> LectureConfig {
        LectureConfig {
            addr: self.addr.clone(),
            interval: Duration::from_millis(self.interval_ms),
            count: self.count,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    if cli.load_mode() {
        run_load(&cli)
    } else {
        match lecture::run(&cli.lecture_config(), &mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("dummyclient: {err}");
                ExitCode::FAILURE
            }
        }
    }
}

fn run_load(cli: &Cli) -> ExitCode {
    // Ctrl-C ends the sending phase early (the report is still printed); a second one kills.
    let interrupt = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let registered =
            signal_hook::flag::register_conditional_shutdown(signal, 1, interrupt.clone())
                .and_then(|_| signal_hook::flag::register(signal, interrupt.clone()));
        if let Err(err) = registered {
            eprintln!("dummyclient: cannot handle signal {signal}: {err}");
        }
    }
    match load::run(&cli.load_config(), &interrupt) {
        Ok(report) => {
            if cli.json {
                println!("{}", report.to_json());
            } else {
                println!("{report}");
            }
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "dummyclient: FAILED: {} errors (corrupt {}, out_of_order {}, lost {}, disconnects {}), {} messages verified",
                    report.errors, report.corrupt, report.out_of_order, report.lost, report.disconnects, report.messages
                );
                ExitCode::from(2)
            }
        }
        Err(err) => {
            eprintln!("dummyclient: error: {err}");
            ExitCode::FAILURE
        }
    }
}
