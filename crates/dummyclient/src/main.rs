//! `dummyclient`: the lecture's DummyClient, and a verifying load generator.
//!
//! ```text
//! cargo run -p dummyclient                                  # lecture: Hello World every second to 127.0.0.1:7777
//! cargo run --release -p dummyclient -- --clients 100 --inflight 4 --duration 5
//! cargo run --release -p dummyclient -- --clients 100 --rate 50000 --size 128 --json
//! cargo run --release -p dummyclient -- --protocol packet --clients 100 --inflight 4    # gameserver --protocol packet
//! cargo run --release -p dummyclient -- --protocol packet --scenario chat --clients 500 --rooms 10
//! cargo run --release -p dummyclient -- --protocol packet --websocket --addr 127.0.0.1:7778 --clients 100   # gameserver --websocket 127.0.0.1:7778
//! cargo run --release -p dummyclient -- --clients 100 --tls --tls-ca ca.pem           # gameserver --tls-cert cert.pem --tls-key key.pem
//! cargo run --release -p dummyclient -- --clients 100 --duration 30 --plot run.svg --json-out run.json
//! cargo run --release -p dummyclient -- --compare before.json after.json
//! cargo run -p dummyclient -- --protocol packet --interactive --room 7 --name alice   # chat by hand
//! cargo run --release -p dummyclient -- --protocol packet --scenario arena --clients 1000   # gameserver --game arena
//! cargo run --release -p dummyclient -- --protocol packet --scenario chat --clients 100 --auth-secret auth.secret \
//!     --resume --chaos 20                            # gameserver --auth-secret auth.secret --resume-window 30
//! ```
//!
//! Exit status: 0 on success; 1 if the run could not be carried out (server not reachable,
//! event loops failed, chat clients not let into their rooms); 2 if the load run found errors
//! (corrupt, out of order, duplicates, lost, disconnects) or verified no message at all, and
//! also for bad flags (clap's usage error). `--compare` exits 0 (1 if a file cannot be read).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{ArgGroup, CommandFactory, Parser};
use dummyclient::arena::{self, ArenaLoad};
use dummyclient::interactive::{self, InteractiveConfig};
use dummyclient::lecture::{self, LectureConfig};
use dummyclient::load::{self, LoadConfig, Pacing, ResumeConfig, Scenario, DRAIN_TIMEOUT};
use dummyclient::login::Tokens;
use dummyclient::message::HEADER_LEN;
use dummyclient::progress::ProgressLine;
use dummyclient::stats::Report;
use dummyclient::tls::{TlsClient, TlsSetupError};
use dummyclient::wire::Protocol;
use dummyclient::{compare, connect, plot};
use game_protocol::secret::read_secret;
use game_protocol::token::SECRET_ENV;
use servercore::{Model, ServiceConfig};

/// The lecture's DummyClient (no flags), a load generator that verifies every byte it gets
/// back (--clients N or --load), or a chat client for a packet server (--interactive).
///
/// Load mode connects every client first, sends for --duration, then waits for what is
/// still owed while it keeps arriving (giving up after 2 s without any) and reports throughput, latency percentiles and errors. Each message
/// carries (client id, sequence, send time) and a pattern derived from them. Echo: the server
/// must return every client's stream exactly as sent (--protocol raw: bytes; packet: ECHO
/// packets). Chat (--protocol packet): every client joins a room, and once all are in, each
/// must receive every CHAT of its room (its own too) as CHAT_BROADCAST exactly once and in
/// per-sender order.
#[derive(Debug, Parser)]
#[command(version, about, long_about, after_help = EXIT_STATUS)]
#[command(group(ArgGroup::new("load_mode").args(["clients", "load"]).multiple(true)))]
struct Cli {
    /// Server address (host:port). Load mode: several, comma-separated (instances of one
    /// `gameserver --cluster`), share the clients; with --scenario chat every room's members
    /// are split evenly over them.
    #[arg(long, default_value = "127.0.0.1:7777", value_parser = connect::addr_list)]
    addr: String,

    /// Lecture mode: milliseconds between two sends.
    #[arg(
        long,
        default_value_t = 1000,
        conflicts_with_all = ["load_mode", "interactive"],
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
    /// What the server speaks: raw bytes or framed packets (docs/protocol.md). Load mode and
    /// --interactive (which needs packet).
    #[arg(long, value_enum, default_value_t = Protocol::Raw, help_heading = "Load mode")]
    protocol: Protocol,
    /// Speak WebSocket (RFC 6455) to the server's WebSocket port, as a browser does: an
    /// upgrade handshake, then each packet in a masked binary frame (needs --protocol packet;
    /// gameserver --websocket ADDR).
    #[arg(long, requires = "load_mode", help_heading = "Load mode")]
    websocket: bool,
    /// Speak TLS to the server (gameserver --tls-cert/--tls-key): rustls, TLS 1.3 or 1.2,
    /// the server's certificate verified against --tls-ca for the name --tls-name. Load and
    /// lecture modes.
    #[arg(long, requires = "tls_ca", conflicts_with = "interactive")]
    tls: bool,
    /// With --tls: a PEM file of the CA certificates to trust (e.g. the CA that signed the
    /// server's certificate).
    #[arg(long, value_name = "FILE", requires = "tls")]
    tls_ca: Option<PathBuf>,
    /// With --tls: the name the server's certificate must carry, a DNS name or an IP
    /// address (default: the host of --addr).
    #[arg(long, value_name = "NAME", requires = "tls")]
    tls_name: Option<String>,
    /// The clients' TLS, made of --tls-ca and --tls-name once the flags are parsed.
    #[arg(skip)]
    tls_client: Option<Arc<TlsClient>>,
    /// Sign in to a server that wants connect tokens (gameserver --auth-secret): FILE holds
    /// the server's secret (else GAMESERVER_AUTH_SECRET); each client mints its own token
    /// (load mode: player dummy-N; --interactive: player --name) and sends HELLO first.
    /// Packet mode.
    #[arg(long, value_name = "FILE")]
    auth_secret: Option<PathBuf>,
    /// The tokens of --auth-secret, made once the flags are parsed.
    #[arg(skip)]
    tokens: Option<Arc<Tokens>>,
    /// Hold a seat (docs/protocol.md "Resume: a held seat"; gameserver --resume-window):
    /// each client sends SEAT_ASK after its HELLO, acknowledges what it receives, keeps what
    /// it sends until the server acknowledges it, and when its connection ends without a
    /// farewell it reconnects (within --connect-timeout), sends RESUME, and sends again what
    /// the server did not have. Every chat must still arrive exactly once, in per-sender
    /// order. The report adds drops, resumes, resume latency (drop to RESUMED), replayed
    /// and resent packets, and seats lost by reason; a lost seat fails the run (see
    /// --allow-seat-loss). Needs --auth-secret and --protocol packet; plain TCP only (not
    /// --websocket or --tls).
    #[arg(long, requires_all = ["load_mode", "auth_secret"], help_heading = "Resume (--resume)")]
    resume: bool,
    /// With --resume: drop RATE connections a second (over all clients) while sending, each
    /// a client picked at random among those seated; the client aborts its own socket (the
    /// server sees an EOF or a reset and holds the seat) and resumes. Without --chaos the
    /// client drops nothing (drops the server makes are still resumed).
    #[arg(long, value_name = "RATE", requires = "resume", help_heading = "Resume (--resume)",
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    chaos: Option<u64>,
    /// With --chaos: the seed of which clients are dropped (each event loop picks from its
    /// seated clients with a generator seeded from it and the loop's index). Default 1.
    #[arg(long, requires = "chaos", help_heading = "Resume (--resume)")]
    seed: Option<u64>,
    /// With --resume: a lost seat (SEAT_LOST, or one the client could not resume) is reported
    /// but does not fail the run by itself. What it costs still does: the client does not sign
    /// in again, so the chats it missed and its disconnect are counted as errors.
    #[arg(long, requires = "resume", help_heading = "Resume (--resume)")]
    allow_seat_loss: bool,
    /// What the clients do (chat needs --protocol packet).
    #[arg(long, value_enum, default_value_t = ScenarioArg::Echo, requires = "load_mode", help_heading = "Load mode")]
    scenario: ScenarioArg,
    /// Bytes per message: raw, the whole message (24-byte header included, 24 ..= 1048576);
    /// packet, the packet body (24 ..= 65531; the server's --max-packet bounds it too).
    #[arg(long, default_value_t = 64, requires = "load_mode", help_heading = "Load mode",
          value_parser = clap::value_parser!(u32).range(HEADER_LEN as i64..=load::MAX_SIZE as i64))]
    size: u32,
    /// Echo, closed loop: messages each client keeps outstanding (the next is sent as an echo
    /// completes). Default 1.
    #[arg(long, requires = "load_mode", conflicts_with = "rate", help_heading = "Load mode",
          value_parser = clap::value_parser!(u32).range(1..))]
    inflight: Option<u32>,
    /// Echo, open loop: total messages per second over all clients, spread evenly (paced every
    /// 1 ms; a client that falls behind skips sends and counts them as late).
    #[arg(long, requires = "load_mode", help_heading = "Load mode", value_parser = clap::value_parser!(u64).range(1..))]
    rate: Option<u64>,
    /// Seconds to send (fractions allowed).
    #[arg(long, default_value = "10", value_parser = parse_secs, requires = "load_mode", help_heading = "Load mode")]
    duration: Duration,
    /// Event loops (threads) of the client. Default: number of CPUs.
    #[arg(long, requires = "load_mode", help_heading = "Load mode", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// I/O model of the client's loops: auto, epoll, uring (Linux) or iocp (Windows).
    #[arg(
        long,
        default_value = "auto",
        requires = "load_mode",
        help_heading = "Load mode"
    )]
    model: Model,
    /// Print the report as one line of JSON (instead of the table; no progress bar).
    #[arg(long, requires = "load_mode", help_heading = "Load mode")]
    json: bool,
    /// Also write the report's one line of JSON to FILE (the table is still printed), with
    /// the per-second `timeline` the plot is drawn from (t, width_s, messages, msgs_per_s,
    /// mb_per_s, p50_us, p99_us).
    #[arg(
        long,
        value_name = "FILE",
        requires = "load_mode",
        help_heading = "Load mode"
    )]
    json_out: Option<PathBuf>,
    /// Draw throughput and latency p50/p99 per second of the run as an SVG chart to FILE
    /// (.svg only; the same points go into --json-out's `timeline`).
    #[arg(
        long,
        value_name = "FILE.svg",
        value_parser = plot::svg_path,
        requires = "load_mode",
        help_heading = "Load mode"
    )]
    plot: Option<PathBuf>,
    /// Seconds to keep trying to connect every client before giving up (and then as long
    /// again for every chat client to get into its room).
    #[arg(long, default_value = "10", value_parser = parse_secs, requires = "load_mode", help_heading = "Load mode")]
    connect_timeout: Duration,

    /// Chat: rooms the clients are spread over (client i in room i % R). Default 1.
    #[arg(long, requires = "load_mode", help_heading = "Chat (--scenario chat)",
          value_parser = clap::value_parser!(u32).range(1..))]
    rooms: Option<u32>,
    /// Chat: CHAT packets per second per client (open loop, paced from the 1 ms tick and
    /// spread over the clients). Default 10.
    #[arg(long, requires = "load_mode", help_heading = "Chat (--scenario chat)",
          value_parser = clap::value_parser!(u64).range(1..))]
    chat_rate: Option<u64>,

    /// Open loop (--rate, chat): each client holds its due messages until the oldest has
    /// waited this many milliseconds, then sends them in one write, as a game client sends
    /// once per frame. Each message keeps its scheduled time as its stamp, so the hold counts
    /// in the latency. Default 0: every due message goes at the next 1 ms tick.
    #[arg(long, requires = "load_mode", conflicts_with = "inflight", help_heading = "Load mode",
          value_parser = clap::value_parser!(u64).range(0..=1000))]
    send_batch_ms: Option<u64>,

    /// Chat by hand with a packet server (gameserver --protocol packet; needs --protocol
    /// packet): each line typed is a CHAT to the room, everything the server sends is
    /// printed; /join N, /leave, /quit (or end of input) as commands.
    #[arg(long, conflicts_with_all = ["load_mode", "count"], help_heading = "Interactive mode")]
    interactive: bool,
    /// Arena: the arena the bots join (`gameserver --game arena`). Default 1.
    #[arg(
        long,
        requires = "load_mode",
        help_heading = "Arena (--scenario arena)"
    )]
    arena_room: Option<u32>,
    /// Arena: mean milliseconds between two turns of a bot (each turn: a random heading and
    /// speed, now and then over the speed limit or a tag). Default 1000.
    #[arg(long, requires = "load_mode", help_heading = "Arena (--scenario arena)",
          value_parser = clap::value_parser!(u64).range(2..=600_000))]
    turn_ms: Option<u64>,

    /// Interactive: the room to join first.
    #[arg(
        long,
        default_value_t = 1,
        requires = "interactive",
        help_heading = "Interactive mode"
    )]
    room: u32,
    /// Interactive: the name in front of every chat (1 to 32 bytes), as web/chat.html shows it.
    #[arg(long, default_value = "dummyclient", value_parser = interactive::parse_name,
          requires = "interactive", help_heading = "Interactive mode")]
    name: String,

    /// Print two --json reports side by side with the ratio B/A of each figure (no server
    /// needed).
    #[arg(long, num_args = 2, value_names = ["A.json", "B.json"],
          conflicts_with_all = ["load_mode", "count", "interactive"], help_heading = "Compare")]
    compare: Option<Vec<PathBuf>>,
}

/// `--scenario`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ScenarioArg {
    /// Every message comes back to its sender.
    Echo,
    /// Clients join rooms and chat; every member gets every chat of its room.
    Chat,
    /// Bots in an arena (`gameserver --game arena`) move and turn at random and check every
    /// snapshot: ticks in order, deltas against what they have, nobody outside the view
    /// radius, their own moves following their inputs.
    Arena,
}

/// Shown at the end of `--help`.
const EXIT_STATUS: &str = "Exit status: 0 success; 1 the run could not be carried out (server unreachable, \
event loops failed, chat clients not let into their rooms); 2 errors found (corrupt, out_of_order, duplicates, \
lost, disconnects; with --resume also seats lost and resume violations) or nothing verified, or bad flags.";

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

    /// Flag combinations clap cannot express: which flags belong to which scenario.
    fn check_scenario(&self) -> Result<(), String> {
        match self.scenario {
            ScenarioArg::Arena if self.resume => {
                Err("--resume holds seats in --scenario echo and chat, not arena".into())
            }
            ScenarioArg::Echo if self.rooms.is_some() || self.chat_rate.is_some() => {
                Err("--rooms and --chat-rate need --scenario chat".into())
            }
            ScenarioArg::Chat if self.inflight.is_some() || self.rate.is_some() => {
                Err("--scenario chat is paced by --chat-rate, not --inflight or --rate".into())
            }
            ScenarioArg::Chat if self.protocol != Protocol::Packet => {
                Err("--scenario chat needs --protocol packet".into())
            }
            ScenarioArg::Arena if self.protocol != Protocol::Packet => {
                Err("--scenario arena needs --protocol packet".into())
            }
            ScenarioArg::Arena
                if self.rooms.is_some()
                    || self.chat_rate.is_some()
                    || self.inflight.is_some()
                    || self.rate.is_some() =>
            {
                Err("--scenario arena takes --arena-room and --turn-ms, not --rooms, --chat-rate, --inflight or --rate".into())
            }
            _ if self.scenario != ScenarioArg::Arena
                && (self.arena_room.is_some() || self.turn_ms.is_some()) =>
            {
                Err("--arena-room and --turn-ms need --scenario arena".into())
            }
            _ => Ok(()),
        }
    }

    fn load_config(&self) -> LoadConfig {
        let clients = self.clients.map_or(100, |n| n as usize);
        let (scenario, pacing) = match self.scenario {
            ScenarioArg::Echo => (
                Scenario::Echo,
                match self.rate {
                    Some(rate) => Pacing::Open { rate },
                    None => Pacing::Closed {
                        inflight: self.inflight.map_or(1, |k| k as usize),
                    },
                },
            ),
            ScenarioArg::Chat | ScenarioArg::Arena => (
                Scenario::Chat {
                    rooms: self.rooms.map_or(1, |r| r as usize),
                },
                Pacing::Open {
                    rate: self.chat_rate.unwrap_or(10).saturating_mul(clients as u64),
                },
            ),
        };
        LoadConfig {
            addr: self.addr.clone(),
            clients,
            protocol: self.protocol,
            websocket: self.websocket,
            tls: self.tls_client.clone(),
            scenario,
            size: self.size as usize,
            pacing,
            duration: self.duration,
            threads: self
                .threads
                .map_or(ServiceConfig::default().threads, |n| n as usize),
            model: self.model,
            connect_timeout: self.connect_timeout,
            drain_timeout: DRAIN_TIMEOUT,
            send_batch: Duration::from_millis(self.send_batch_ms.unwrap_or(0)),
            timeline: self.plot.is_some() || self.json_out.is_some(),
            tokens: self.tokens.clone(),
            resume: self.resume.then(|| ResumeConfig {
                chaos: self.chaos.unwrap_or(0),
                seed: self.seed.unwrap_or(1),
                allow_seat_loss: self.allow_seat_loss,
            }),
        }
    }

    /// Which mode the flags ask for, or the usage error clap's rules cannot express.
    fn mode(&self) -> Result<Mode<'_>, String> {
        if let Some([a, b]) = self.compare.as_deref() {
            Ok(Mode::Compare(a, b))
        } else if self.interactive {
            match self.protocol {
                Protocol::Packet => Ok(Mode::Interactive),
                Protocol::Raw => Err("--interactive speaks packets: add --protocol packet \
                     (for a server run with gameserver --protocol packet)"
                    .into()),
            }
        } else if self.load_mode() {
            Ok(Mode::Load)
        } else if self.protocol == Protocol::Packet {
            Err(
                "--protocol packet needs --clients N (a load test) or --interactive (chat by \
                 hand); the lecture's client speaks raw bytes"
                    .into(),
            )
        } else {
            Ok(Mode::Lecture)
        }
    }

    fn interactive_config(&self) -> InteractiveConfig {
        InteractiveConfig {
            addr: self.addr.clone(),
            room: self.room,
            name: self.name.clone(),
            hello: self.tokens.as_ref().map(|tokens| tokens.hello(&self.name)),
        }
    }

    fn lecture_config(&self) -> LectureConfig {
        LectureConfig {
            addr: self.addr.clone(),
            interval: Duration::from_millis(self.interval_ms),
            count: self.count,
            tls: self.tls_client.clone(),
        }
    }

    /// `--auth-secret`'s tokens (packet mode): the file or GAMESERVER_AUTH_SECRET read, the
    /// secret checked.
    fn read_tokens(&self) -> Result<Option<Arc<Tokens>>, String> {
        if self.protocol != Protocol::Packet {
            return match self.auth_secret {
                Some(_) => {
                    Err("--auth-secret signs in to a packet server: add --protocol packet".into())
                }
                None => Ok(None),
            };
        }
        let file = self.auth_secret.as_deref();
        match read_secret("--auth-secret", file, SECRET_ENV)? {
            Some(secret) => Tokens::new(secret)
                .map(|tokens| Some(Arc::new(tokens)))
                .map_err(|err| format!("--auth-secret: {err}")),
            None => Ok(None),
        }
    }

    /// `--tls`'s client: the CA file read, the name checked.
    fn read_tls(&self) -> Result<Option<Arc<TlsClient>>, TlsSetupError> {
        let (true, Some(ca)) = (self.tls, &self.tls_ca) else {
            return Ok(None);
        };
        let first = self.addr.split(',').next().unwrap_or_default();
        let name = self
            .tls_name
            .as_deref()
            .unwrap_or_else(|| TlsClient::host_of(first));
        TlsClient::new(ca, name).map(|tls| Some(Arc::new(tls)))
    }
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    cli.tls_client = cli.read_tls().unwrap_or_else(|err| {
        Cli::command()
            .error(ErrorKind::ValueValidation, err.to_string())
            .exit()
    });
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal()) // no colour codes in files and pipes
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    cli.tokens = cli.read_tokens().unwrap_or_else(|msg| {
        Cli::command()
            .error(ErrorKind::ArgumentConflict, msg)
            .exit()
    });
    let mode = cli.mode().unwrap_or_else(|msg| {
        Cli::command()
            .error(ErrorKind::ArgumentConflict, msg)
            .exit()
    });
    let done = match mode {
        Mode::Compare(a, b) => return run_compare(a, b),
        Mode::Load => return run_load(&cli),
        Mode::Interactive => {
            let out = std::sync::Mutex::new(std::io::stdout());
            interactive::run(&cli.interactive_config(), std::io::stdin().lock(), &out)
        }
        Mode::Lecture => lecture::run(&cli.lecture_config(), &mut std::io::stdout()),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("dummyclient: {err}");
            ExitCode::FAILURE
        }
    }
}

/// What the command line asks for.
enum Mode<'a> {
    /// `--compare A B`.
    Compare(&'a Path, &'a Path),
    /// `--clients N` or `--load`.
    Load,
    /// `--interactive`.
    Interactive,
    /// No mode flag: the lecture's client.
    Lecture,
}

/// `--scenario arena`: the bots' run, its report, exit 2 if anything was wrong.
fn run_arena(cli: &Cli, interrupt: &AtomicBool) -> ExitCode {
    let config = ArenaLoad {
        addr: cli.addr.clone(),
        clients: cli.clients.map_or(100, |n| n as usize),
        room: cli.arena_room.unwrap_or(1),
        turn_ms: cli.turn_ms.unwrap_or(1000),
        duration: cli.duration,
        threads: cli
            .threads
            .map_or(ServiceConfig::default().threads, |n| n as usize),
        model: cli.model,
        websocket: cli.websocket,
        tls: cli.tls_client.clone(),
        connect_timeout: cli.connect_timeout,
        tokens: cli.tokens.clone(),
    };
    match arena::run(&config, interrupt) {
        Ok(report) => {
            if cli.json {
                println!("{}", report.to_json());
            } else {
                println!("{report}");
            }
            if let Some(path) = &cli.json_out {
                if let Err(err) = std::fs::write(path, report.to_json() + "\n") {
                    eprintln!("dummyclient: cannot write {}: {err}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "dummyclient: FAILED: {} errors (violations {:?}, malformed {}, refused {}, disconnects {}), {} snapshots",
                    report.errors, report.violations, report.malformed, report.refused, report.disconnects, report.snapshots
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
    if cli.scenario == ScenarioArg::Arena {
        if let Err(msg) = cli.check_scenario() {
            Cli::command()
                .error(ErrorKind::ArgumentConflict, msg)
                .exit();
        }
        return run_arena(cli, &interrupt);
    }
    let config = cli.load_config();
    if let Err(msg) = cli.check_scenario().and_then(|()| config.validate()) {
        Cli::command()
            .error(ErrorKind::ArgumentConflict, msg)
            .exit();
    }
    let mut bar = (!cli.json && std::io::stderr().is_terminal()).then(|| {
        ProgressLine::new(
            config.duration,
            config.clients as u64,
            cli.scenario == ScenarioArg::Chat,
        )
    });
    let result = load::run_observed(&config, &interrupt, &mut |progress| {
        if let Some(bar) = bar.as_mut() {
            bar.update(progress);
        }
    });
    if let Some(bar) = bar {
        bar.finish();
    }
    match result {
        Ok(report) => {
            if cli.json {
                println!("{}", report.to_json());
            } else {
                println!("{report}");
            }
            if let Err(code) = write_outputs(cli, &report) {
                return code;
            }
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "dummyclient: FAILED: {} errors (corrupt {}, out_of_order {}, duplicates {}, lost {}, disconnects {}), \
                     {} messages verified",
                    report.errors,
                    report.corrupt,
                    report.out_of_order,
                    report.duplicates,
                    report.lost,
                    report.disconnects,
                    report.messages
                );
                if let Some(resume) = report.resume.as_ref().filter(|r| r.errors() > 0) {
                    eprintln!(
                        "dummyclient: resume: {} seats lost ({}), {} violations",
                        resume.seats_lost,
                        resume.reasons_line(),
                        resume.violations
                    );
                }
                for hint in report.hints() {
                    eprintln!("dummyclient: {hint}");
                }
                ExitCode::from(2)
            }
        }
        Err(err) => {
            eprintln!("dummyclient: error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `--json-out` and `--plot`, if asked for.
fn write_outputs(cli: &Cli, report: &Report) -> Result<(), ExitCode> {
    if let Some(path) = &cli.json_out {
        if let Err(err) = std::fs::write(path, report.to_json() + "\n") {
            eprintln!("dummyclient: cannot write {}: {err}", path.display());
            return Err(ExitCode::FAILURE);
        }
    }
    if let Some(path) = &cli.plot {
        if let Err(err) = plot::write_svg(path, report) {
            eprintln!("dummyclient: cannot draw {}: {err}", path.display());
            return Err(ExitCode::FAILURE);
        }
    }
    Ok(())
}

/// `--compare A B`: prints the two reports side by side.
fn run_compare(a: &Path, b: &Path) -> ExitCode {
    match compare::compare_files(a, b) {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("dummyclient: {err}");
            ExitCode::FAILURE
        }
    }
}
