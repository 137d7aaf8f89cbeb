//! [`Args`]: `gameserver`'s command line, the range of values each flag accepts, and the
//! [`ServiceConfig`] and packet handler the flags make.
//!
//! A value that would be accepted and then misbehave is refused at start-up instead, with a
//! usage error naming the flag (exit status 2), in two steps:
//! - one flag at a time, by clap value parsers with ranges: a count that must not be 0
//!   (`--threads 0` used to run one loop, `--rate-burst 0` a burst of one), a packet size the
//!   framing can honour, and durations of at most an hour or a day (a deadline computed from
//!   `--shutdown-drain 18446744073709551615` overflowed an `Instant`);
//! - flags against each other, by [`Args::check`] after parsing: `--send-queue-pause` must
//!   leave one read's echo of room below `--send-queue-limit`; then the files they name
//!   (`--tls-cert`, `--tls-key`, the cluster secret) are read.
//!
//! docs/limits.md lists every flag with its default and its range.

use std::ffi::OsString;
use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use clap::builder::RangedU64ValueParser;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use gameserver::arena::ArenaArgs;
use gameserver::chat_room::DEFAULT_ROOM_CAPACITY;
use gameserver::cluster::ClusterArgs;
use gameserver::login::{Gate, Login, LoginArgs, Presence, AUTH_SECRET_ENV};
use servercore::packet::{
    PacketHandler, Packets, RateLimit, DEFAULT_MAX_PACKET, HEADER_LEN, MAX_WIRE_PACKET,
};
use servercore::tls::TlsConfig;
use servercore::websocket::WsConfig;
use servercore::{AddressList, Model, ProxyProtocol, ServiceConfig};

/// The browser chat page, served at `/` on the WebSocket port (`--game chat`).
const CHAT_PAGE: &[u8] = include_bytes!("../../../web/chat.html");

/// The browser arena page, served at `/` on the WebSocket port (`--game arena`).
const ARENA_PAGE: &[u8] = include_bytes!("../../../web/arena.html");

/// Most event loops: far beyond any machine's cores, below where threads, listening sockets
/// and rings become a resource problem of their own.
const MAX_THREADS: u64 = 1024;

/// Smallest `--max-packet`: a header plus the 4-byte room of ENTER_ROOM, the largest body of
/// fixed size a client must be able to send (smaller, no client could join a room).
const MIN_MAX_PACKET: u64 = (HEADER_LEN + 4) as u64;

/// Smallest `--send-queue-limit` and `--mailbox-limit`: 64 KiB, the most one read takes
/// (`ServiceConfig::read_chunk`; its echo goes into one send queue) and more than the
/// largest packet (65535 bytes; one chat fans out to another loop through its mailbox).
const MIN_QUEUE: usize = 64 * 1024;

/// Seconds a session has for its HELLO when --partial-timeout is 0 (off).
const DEFAULT_HELLO_SECS: u64 = 10;

/// One hour, in seconds: the most a slowloris or shutdown deadline may be.
const HOUR: u64 = 3600;

/// One day, in seconds: the most an idle timeout or a stats interval may be.
const DAY: u64 = 24 * HOUR;

/// The longest send tick, in milliseconds: a second of added latency is no game's tick.
const MAX_FLUSH_MS: u64 = 1000;

/// A value parser for a number of at least `min` and no maximum (clap's ranges would print
/// the open end as `1..18446744073709551615`).
fn at_least<T>(min: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync + 'static,
    T::Err: Display,
{
    move |text| match text.parse::<T>() {
        Ok(value) if value >= min => Ok(value),
        Ok(_) => Err(format!("must be at least {min}")),
        Err(err) => Err(err.to_string()),
    }
}

/// Echo server for the game-server networking lecture, on servercore.
#[derive(Debug, Parser)]
#[command(version, about)]
pub(crate) struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub(crate) bind: IpAddr,
    /// Port to listen on (0: any free port; the `ready` log line tells which).
    #[arg(long, default_value_t = 7777)]
    pub(crate) port: u16,
    /// Share the port (and the --websocket one) with another gameserver started with this flag
    /// too, for a hand-over without refused connects (docs/deploy.md). Without it a port
    /// another process listens on is refused at start-up.
    #[arg(long)]
    reuse_port: bool,
    /// Event loops (threads), 1 to 1024; each session lives on one. Default: number of CPUs.
    #[arg(long, value_name = "N",
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_THREADS))]
    threads: Option<usize>,
    /// I/O model: auto (the OS's completion model if it can run: io_uring on Linux, iocp on
    /// Windows; else epoll), epoll (mio's readiness), uring (Linux only) or iocp (Windows only).
    #[arg(long, default_value = "auto")]
    model: Model,
    /// Stop reading from a session whose unsent echo reaches this many bytes, until it drains
    /// (at least 1, and at most --send-queue-limit minus 65536).
    #[arg(long, value_name = "BYTES", value_parser = at_least(1_usize),
          default_value_t = ServiceConfig::default().send_queue_pause)]
    send_queue_pause: usize,
    /// Close a session whose send queue would exceed this many bytes (slow consumer; at least
    /// 65536).
    #[arg(long, value_name = "BYTES", value_parser = at_least(MIN_QUEUE),
          default_value_t = ServiceConfig::default().send_queue_limit)]
    send_queue_limit: usize,
    /// SO_SNDBUF of every session's socket, in bytes (the kernel doubles it): bounds what the
    /// kernel holds for a slow client beyond the send queue. 0 (the default) leaves it to the
    /// kernel's autotuning (up to net.ipv4.tcp_wmem's maximum).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    socket_send_buffer: usize,
    /// Bytes of sends for other event loops' sessions that may wait in one loop's inbox;
    /// beyond it such sends are dropped (counted in mailbox_refused). At least 65536.
    #[arg(long, value_name = "BYTES", value_parser = at_least(MIN_QUEUE),
          default_value_t = ServiceConfig::default().mailbox_limit)]
    mailbox_limit: usize,
    /// raw: echo every byte (the lecture). packet: framed packets with echo and chat rooms
    /// (docs/protocol.md).
    #[arg(long, value_enum, default_value_t = Protocol::Raw)]
    pub(crate) protocol: Protocol,
    /// Packet mode: the game served: chat rooms, or the arena (players moving and playing tag,
    /// with a tick, interest management and snapshots: the --arena-* flags; docs/protocol.md
    /// "The arena").
    #[arg(long, value_enum, default_value_t = GameKind::Chat)]
    pub(crate) game: GameKind,
    /// Largest packet accepted in packet mode, header included (bytes, 8 to 65535).
    #[arg(long, value_name = "BYTES",
          value_parser = RangedU64ValueParser::<usize>::new()
              .range(MIN_MAX_PACKET..=MAX_WIRE_PACKET as u64),
          default_value_t = DEFAULT_MAX_PACKET)]
    pub(crate) max_packet: usize,
    /// Most sessions at once (at least 1); connections beyond are refused (packet mode:
    /// SERVER_FULL first).
    #[arg(long, value_name = "N", value_parser = at_least(1_usize),
          default_value_t = ServiceConfig::default().max_sessions)]
    max_sessions: usize,
    /// Most sessions from one source (IPv4 address, or IPv6 /64; at least 1); beyond it
    /// connections are refused.
    #[arg(long, value_name = "N", value_parser = at_least(1_usize),
          default_value_t = ServiceConfig::default().max_sessions_per_ip)]
    max_sessions_per_ip: usize,
    /// New sessions a second one source may open on average, in bursts of up to
    /// --max-sessions-per-ip (0: no limit). Reconnecting does not reset it.
    #[arg(long, value_name = "PER_SEC",
          default_value_t = ServiceConfig::default().connect_rate_per_ip)]
    connect_rate_per_ip: u32,
    /// Sources exempt from --max-sessions-per-ip and --connect-rate-per-ip (CIDR,CIDR,...;
    /// '' for none). --max-sessions still counts them.
    #[arg(long, value_name = "CIDRS", default_value = "127.0.0.0/8,::1")]
    trusted_sources: AddressList,
    /// Expect a PROXY protocol v1/v2 header (from a load balancer such as HAProxy with
    /// send-proxy-v2) on every connection; needs --trusted-proxies. See docs/deploy.md.
    #[arg(long, requires = "trusted_proxies")]
    proxy_protocol: bool,
    /// With --proxy-protocol: the balancers' addresses (CIDR,CIDR,...); a connection from
    /// anywhere else is closed.
    #[arg(long, value_name = "CIDRS", requires = "proxy_protocol")]
    trusted_proxies: Option<AddressList>,
    /// TLS: the certificate chain (PEM, the server's certificate first). The game port then
    /// speaks TLS 1.3/1.2, and --websocket serves wss:// and the page over https://. SIGHUP
    /// reloads the two files for new connections (Unix). Needs --tls-key. See docs/tls.md.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS: the certificate's private key (PEM: PKCS#8, RSA or EC). Needs --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The certificate and key of --tls-cert and --tls-key, read once the flags are checked.
    #[arg(skip)]
    pub(crate) tls: Option<TlsConfig>,
    /// Close a session from which nothing arrived for SECS seconds (0: never; at most 86400).
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(0..=DAY))]
    idle_timeout: u64,
    /// Close a session that started a packet and did not finish it within SECS seconds
    /// (slowloris; 0: never; at most 3600).
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=HOUR))]
    partial_timeout: u64,
    /// Packet mode: most members of one chat room (at least 1); an ENTER_ROOM beyond it gets
    /// ROOM_FULL.
    #[arg(long, value_name = "N", value_parser = at_least(1_usize),
          default_value_t = DEFAULT_ROOM_CAPACITY)]
    pub(crate) max_room_members: usize,
    /// Packet mode: packets per second a session may send on average (0: no limit).
    #[arg(long, value_name = "PER_SEC", default_value_t = RateLimit::default().per_sec)]
    rate_limit: u32,
    /// Packet mode: packets a session may send in one burst (at least 1).
    #[arg(long, value_name = "PACKETS", default_value_t = RateLimit::default().burst,
          value_parser = at_least(1_u32))]
    rate_burst: u32,
    /// Send tick in milliseconds: hold output up to this long so every message queued for a
    /// session in between leaves in one write (fewer syscalls per broadcast, up to this much
    /// added latency). 0: flush at once; at most 1000.
    #[arg(long, value_name = "MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=MAX_FLUSH_MS))]
    flush_interval_ms: u64,
    /// On stop, seconds sessions get to take what is queued for them before they are closed
    /// (at most 3600).
    #[arg(long, value_name = "SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(0..=HOUR))]
    shutdown_drain: u64,
    /// A graceful close (flush, then FIN) reads and discards the client's input until its EOF
    /// for at most SECS seconds, so unread input never resets the connection and loses what
    /// was sent (lingering close; 0: close right after the flush; at most 3600).
    #[arg(long, value_name = "SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(0..=HOUR))]
    lingering_time: u64,
    /// Most bytes a closing session's client may send to be read and thrown away; past it the
    /// session is no longer read (what it is owed still leaves) and closes at
    /// --lingering-time.
    #[arg(long, value_name = "BYTES", default_value_t = ServiceConfig::default().lingering_bytes)]
    lingering_bytes: usize,
    /// Serve Prometheus metrics on http://ADDR/metrics (e.g. 127.0.0.1:9100). Off by default.
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics: Option<SocketAddr>,
    /// Packet mode: also serve browser players over WebSocket on ADDR (e.g. 127.0.0.1:7778):
    /// the same packets in binary messages, the same rooms; `/` serves the chat page
    /// (web/chat.html). Off by default.
    #[arg(long, value_name = "ADDR")]
    pub(crate) websocket: Option<SocketAddr>,
    /// Log a stats line (totals and rates per second) every SECS seconds (1 to 86400). Off by
    /// default.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=DAY))]
    pub(crate) stats_interval: Option<u64>,
    /// Scale-out through Redis (packet mode): `--cluster URL` and its companions.
    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,
    /// The arena's rules and bounds (`--game arena`).
    #[command(flatten)]
    pub(crate) arena: ArenaArgs,
    /// Connect tokens (packet mode): `--auth-secret` and its companions.
    #[command(flatten)]
    pub(crate) login_args: LoginArgs,
    /// The login of `--auth-secret`, made once the flags are checked.
    #[arg(skip)]
    pub(crate) login: Option<Arc<Login>>,
}

/// The game of packet mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum GameKind {
    /// Chat rooms: ENTER_ROOM, CHAT, CHAT_BROADCAST (web/chat.html at `/` of --websocket).
    Chat,
    /// The arena: ARENA_JOIN, ARENA_INPUT, ARENA_SNAPSHOT (web/arena.html at `/`).
    Arena,
}

/// What the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Protocol {
    /// Echo every byte back (the lecture's server).
    Raw,
    /// Framed packets: echo, rooms, chat broadcast.
    Packet,
}

impl Args {
    /// Parses the process's command line. `--help` and `--version` print and exit 0; a bad
    /// value or contradicting flags print a usage error naming the flag and exit 2.
    pub(crate) fn parse_checked() -> Args {
        Args::try_parse_checked(std::env::args_os()).unwrap_or_else(|err| err.exit())
    }

    /// Parses `argv` (program name first) and checks the flags against each other.
    fn try_parse_checked<I, T>(argv: I) -> Result<Args, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut args = Args::try_parse_from(argv)?;
        args.check()?;
        args.tls = args.read_tls()?;
        args.login = args.read_login()?;
        Ok(args)
    }

    /// What no single flag's range can say: the send-queue pause must sit at least one read
    /// below the limit (a session stops reading only once its queue reaches the pause, so
    /// the echo of the read that crossed it, up to `read_chunk` bytes, must still fit under
    /// the limit, or the pause never protects it and it is closed as a slow consumer); and
    /// the WebSocket port must not be the game port.
    fn check(&self) -> Result<(), clap::Error> {
        let conflict =
            |message: String| Args::command().error(ErrorKind::ArgumentConflict, message);
        if self.protocol == Protocol::Raw {
            // Rooms and browser players are packet-mode things: say so rather than ignore.
            for (flag, given) in [
                ("--cluster", self.cluster.cluster.is_some()),
                ("--websocket", self.websocket.is_some()),
                ("--game arena", self.game == GameKind::Arena),
                ("--auth-secret", self.login_args.auth_secret.is_some()),
            ] {
                if given {
                    return Err(conflict(format!("{flag} needs --protocol packet")));
                }
            }
        }
        if let Some(ws) = self.websocket.filter(|ws| self.same_port(*ws)) {
            let message = format!(
                "--websocket {ws} is the game port (--bind {} --port {}): the two listeners \
                 would split the connections between them; give --websocket a port of its own \
                 (e.g. {})",
                self.bind,
                self.port,
                SocketAddr::new(ws.ip(), self.port.wrapping_add(1).max(1))
            );
            return Err(conflict(message));
        }
        if self.cluster.cluster.is_some() {
            // The shared secret (or --cluster-insecure), read now: a missing one is a usage
            // error, not a failure after the listeners are up.
            self.cluster.auth().map_err(conflict)?;
            if self.game == GameKind::Arena && self.arena.public_addr.is_none() {
                return Err(conflict(
                    "--game arena --cluster needs --public-addr HOST:PORT: where players \
                     joining this instance's arenas elsewhere are sent"
                        .into(),
                ));
            }
        }
        let read = ServiceConfig::default().read_chunk;
        let room = self.send_queue_limit.saturating_sub(read);
        if self.send_queue_pause > room {
            let message = format!(
                "--send-queue-pause ({}) must be at most --send-queue-limit ({}) minus one read \
                 ({read} bytes), i.e. at most {room}: a session stops reading at the pause, and \
                 the echo of the read that crossed it must still fit under the limit",
                self.send_queue_pause, self.send_queue_limit
            );
            return Err(conflict(message));
        }
        Ok(())
    }

    /// The certificate and key files, read and checked now: a missing file or a key that is
    /// not the certificate's is a usage error naming the file, not a failed handshake later.
    fn read_tls(&self) -> Result<Option<TlsConfig>, clap::Error> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        TlsConfig::from_pem_files(cert, key)
            .map(Some)
            .map_err(|err| {
                Args::command().error(
                    ErrorKind::ValueValidation,
                    format!("--tls-cert/--tls-key: {err}"),
                )
            })
    }

    /// The connect tokens' secret (packet mode), read and checked now: a missing file or a
    /// short secret is a usage error, not a refused player later. The HELLO is due within
    /// --partial-timeout (10 s if that is off).
    fn read_login(&self) -> Result<Option<Arc<Login>>, clap::Error> {
        if self.protocol == Protocol::Raw {
            if std::env::var_os(AUTH_SECRET_ENV).is_some_and(|v| !v.is_empty()) {
                tracing::warn!("{AUTH_SECRET_ENV} is set but ignored: connect tokens are a packet-mode thing (--protocol packet)");
            }
            return Ok(None);
        }
        let deadline = Duration::from_secs(match self.partial_timeout {
            0 => DEFAULT_HELLO_SECS,
            secs => secs,
        });
        let login = self
            .login_args
            .login(deadline)
            .map_err(|message| Args::command().error(ErrorKind::ValueValidation, message))?;
        if let Some(rules) = login.as_ref().and_then(|l| l.resume()) {
            self.check_replay_fits(rules.buffer as usize)?;
        }
        Ok(login)
    }

    /// A resume replays up to --resume-buffer bytes at once: they must fit the connection's
    /// send queue and another loop's inbox, or the resumed connection would be cut.
    fn check_replay_fits(&self, buffer: usize) -> Result<(), clap::Error> {
        let replay = buffer + self.max_packet;
        for (flag, limit) in [
            ("--send-queue-limit", self.send_queue_limit),
            ("--mailbox-limit", self.mailbox_limit),
        ] {
            if replay > limit {
                let message = format!(
                    "--resume-buffer {buffer} (+ a packet) is more than {flag} {limit}: a resume \
                     replays the buffer at once; lower it or raise {flag}"
                );
                return Err(Args::command().error(ErrorKind::ValueValidation, message));
            }
        }
        Ok(())
    }

    /// True if a listener on `other` would take connections meant for the game port (the same
    /// port, on the same or an overlapping address). Port 0 picks a free port: never the same.
    fn same_port(&self, other: SocketAddr) -> bool {
        let overlaps = |a: IpAddr, b: IpAddr| a == b || a.is_unspecified() || b.is_unspecified();
        self.port != 0 && other.port() == self.port && overlaps(self.bind, other.ip())
    }

    /// The service configuration the flags make.
    pub(crate) fn config(&self) -> ServiceConfig {
        let defaults = ServiceConfig::default();
        let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        ServiceConfig {
            threads: self.threads.unwrap_or(defaults.threads),
            model: self.model,
            reuse_port: self.reuse_port,
            send_queue_pause: self.send_queue_pause,
            send_queue_limit: self.send_queue_limit,
            socket_send_buffer: (self.socket_send_buffer > 0).then_some(self.socket_send_buffer),
            mailbox_limit: self.mailbox_limit,
            max_sessions: self.max_sessions,
            max_sessions_per_ip: self.max_sessions_per_ip,
            connect_rate_per_ip: self.connect_rate_per_ip,
            idle_timeout: secs(self.idle_timeout),
            partial_timeout: secs(self.partial_timeout),
            shutdown_drain: Duration::from_secs(self.shutdown_drain),
            lingering_time: Duration::from_secs(self.lingering_time),
            lingering_bytes: self.lingering_bytes,
            flush_interval: (self.flush_interval_ms > 0)
                .then(|| Duration::from_millis(self.flush_interval_ms)),
            trusted_sources: self.trusted_sources.clone(),
            proxy_protocol: self
                .proxy_protocol
                .then(|| self.trusted_proxies.clone())
                .flatten()
                .map(ProxyProtocol::new),
            tls: self.tls.clone(),
            ..defaults
        }
    }

    /// The WebSocket listener's settings: messages up to the packet limit, the game's page.
    pub(crate) fn websocket_config(&self) -> WsConfig {
        let page = match self.game {
            GameKind::Chat => CHAT_PAGE,
            GameKind::Arena => ARENA_PAGE,
        };
        WsConfig::new(self.max_packet).with_page(bytes::Bytes::from_static(page))
    }

    /// The packet-mode handler of one loop: the game behind the login (if any), framed,
    /// rate limited.
    pub(crate) fn packets<P: PacketHandler + Presence>(&self, game: P) -> Packets<Gate<P>> {
        let packets = Packets::new(Gate::new(game, self.login.clone()), self.max_packet);
        match self.rate_limit {
            0 => packets,
            per_sec => packets.with_rate_limit(RateLimit {
                per_sec,
                burst: self.rate_burst,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `gameserver` followed by `flags`.
    fn parse(flags: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_checked(std::iter::once("gameserver").chain(flags.iter().copied()))
    }

    /// Asserts that `flags` are refused with a usage error of `kind` that names `flag`.
    fn assert_refused(flags: &[&str], kind: ErrorKind, flag: &str) {
        let err = parse(flags).expect_err("refused");
        assert_eq!(err.kind(), kind, "{flags:?}: {err}");
        assert_eq!(err.exit_code(), 2, "{flags:?}");
        assert!(err.to_string().contains(flag), "{flags:?}: {err}");
    }

    #[test]
    fn the_command_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn at_least_takes_the_minimum_and_up_and_says_why_not() {
        let parse = at_least(3_usize);
        assert_eq!(parse("3"), Ok(3));
        assert_eq!(parse("18446744073709551615"), Ok(usize::MAX));
        assert_eq!(parse("2"), Err("must be at least 3".to_owned()));
        assert!(parse("-1").unwrap_err().contains("invalid digit"));
        assert!(parse("18446744073709551616")
            .unwrap_err()
            .contains("too large"));
        assert_eq!(at_least(1_u32)("0"), Err("must be at least 1".to_owned()));
    }

    #[test]
    fn the_defaults_are_accepted_and_make_the_library_defaults() {
        let args = parse(&[]).expect("defaults");
        let (config, defaults) = (args.config(), ServiceConfig::default());
        assert_eq!(config.send_queue_pause, defaults.send_queue_pause);
        assert_eq!(config.send_queue_limit, defaults.send_queue_limit);
        assert_eq!(config.threads, defaults.threads);
        assert_eq!(config.shutdown_drain, Duration::from_secs(5));
        assert_eq!(config.idle_timeout, Some(Duration::from_secs(60)));
        assert_eq!(config.flush_interval, None);
        assert_eq!(config.socket_send_buffer, None);
        assert_eq!(args.max_packet, DEFAULT_MAX_PACKET);
    }

    #[test]
    fn a_socket_send_buffer_is_set_only_when_given() {
        let config = parse(&["--socket-send-buffer", "65536"]).unwrap().config();
        assert_eq!(config.socket_send_buffer, Some(65536));
        let config = parse(&["--socket-send-buffer", "0"]).unwrap().config();
        assert_eq!(config.socket_send_buffer, None);
    }

    #[test]
    fn counts_that_must_not_be_zero_refuse_zero() {
        for flag in [
            "--threads",
            "--send-queue-pause",
            "--max-sessions",
            "--max-sessions-per-ip",
            "--max-room-members",
            "--rate-burst",
        ] {
            assert_refused(&[flag, "0"], ErrorKind::ValueValidation, flag);
            assert!(parse(&[flag, "1"]).is_ok(), "{flag} 1");
        }
    }

    #[test]
    fn threads_stop_at_1024() {
        assert_eq!(
            parse(&["--threads", "1024"]).unwrap().config().threads,
            1024
        );
        assert_refused(
            &["--threads", "1025"],
            ErrorKind::ValueValidation,
            "--threads",
        );
    }

    #[test]
    fn max_packet_is_what_the_framing_and_the_game_can_honour() {
        for bad in ["0", "3", "4", "7", "65536", "70000"] {
            let flags = ["--max-packet", bad];
            assert_refused(&flags, ErrorKind::ValueValidation, "--max-packet");
        }
        for good in [8, 65535] {
            let args = parse(&["--max-packet", &good.to_string()]).unwrap();
            assert_eq!(args.max_packet, good);
        }
    }

    #[test]
    fn durations_have_a_ceiling() {
        let huge = u64::MAX.to_string();
        for (flag, max) in [
            ("--shutdown-drain", HOUR),
            ("--partial-timeout", HOUR),
            ("--idle-timeout", DAY),
            ("--stats-interval", DAY),
            ("--flush-interval-ms", MAX_FLUSH_MS),
        ] {
            assert!(parse(&[flag, &max.to_string()]).is_ok(), "{flag} {max}");
            let over = (max + 1).to_string();
            assert_refused(&[flag, &over], ErrorKind::ValueValidation, flag);
            assert_refused(&[flag, &huge], ErrorKind::ValueValidation, flag);
        }
        let args = parse(&["--shutdown-drain", "3600", "--idle-timeout", "0"]).unwrap();
        assert_eq!(args.config().shutdown_drain, Duration::from_secs(HOUR));
        assert_eq!(args.config().idle_timeout, None);
    }

    #[test]
    fn queue_limits_hold_at_least_one_read() {
        for flag in ["--send-queue-limit", "--mailbox-limit"] {
            assert_refused(&[flag, "0"], ErrorKind::ValueValidation, flag);
            assert_refused(&[flag, "65535"], ErrorKind::ValueValidation, flag);
        }
        let args = parse(&["--mailbox-limit", "65536"]).unwrap();
        assert_eq!(args.config().mailbox_limit, 65536);
    }

    #[test]
    fn the_websocket_port_must_not_be_the_game_port() {
        let packet = |port: &'static str, ws: &'static str, bind: &'static str| {
            [
                "--protocol",
                "packet",
                "--port",
                port,
                "--websocket",
                ws,
                "--bind",
                bind,
            ]
        };
        for flags in [
            packet("9000", "127.0.0.1:9000", "0.0.0.0"),
            packet("9000", "0.0.0.0:9000", "127.0.0.1"),
            packet("9000", "[::]:9000", "127.0.0.1"),
        ] {
            let err = parse(&flags).expect_err("the game port");
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{err}");
            assert!(err.to_string().contains("is the game port"), "{err}");
        }
        for flags in [
            packet("9000", "127.0.0.1:9001", "0.0.0.0"),
            packet("9000", "127.0.0.2:9000", "127.0.0.1"),
            packet("0", "127.0.0.1:0", "127.0.0.1"),
        ] {
            assert!(parse(&flags).is_ok(), "{flags:?}");
        }
        assert!(!parse(&[]).unwrap().config().reuse_port);
        assert!(parse(&["--reuse-port"]).unwrap().config().reuse_port);
    }

    #[test]
    fn packet_mode_flags_need_packet_mode() {
        for flags in [
            &["--websocket", "127.0.0.1:7778"][..],
            &["--cluster", "redis://127.0.0.1:6379"],
            &["--game", "arena"],
        ] {
            let err = parse(flags).expect_err("raw mode");
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{err}");
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains("needs --protocol packet"), "{err}");
        }
    }

    #[test]
    fn arena_flags_have_ranges_and_make_the_rules() {
        let args = parse(&[
            "--protocol",
            "packet",
            "--game",
            "arena",
            "--arena-size",
            "2000",
        ])
        .unwrap();
        assert_eq!(args.game, GameKind::Arena);
        let config = args.arena.config();
        assert_eq!((config.rules.size, config.rules.tick_hz), (2000, 20));
        assert_eq!(config.rules.check(), Ok(()));
        for (flag, bad) in [
            ("--arena-size", "0"),
            ("--arena-size", "8191"),
            ("--tick-hz", "0"),
            ("--tick-hz", "1001"),
            ("--view-radius", "0"),
            ("--max-in-view", "4097"),
            ("--arena-capacity", "65536"),
        ] {
            assert_refused(&[flag, bad], ErrorKind::ValueValidation, flag);
        }
    }

    #[test]
    fn a_clustered_arena_needs_its_public_address() {
        let flags = [
            "--protocol",
            "packet",
            "--game",
            "arena",
            "--cluster",
            "redis://127.0.0.1:6379",
            "--cluster-insecure",
        ];
        let err = parse(&flags).expect_err("no --public-addr");
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--public-addr"), "{err}");
        let mut with = flags.to_vec();
        with.extend(["--public-addr", "10.0.0.1:7777"]);
        assert!(parse(&with).is_ok());
        with.extend(["--public-websocket", "ws://a b"]);
        assert_refused(&with, ErrorKind::ValueValidation, "--public-websocket");
    }

    #[test]
    fn cluster_values_say_what_they_want() {
        let err = parse(&["--protocol", "packet", "--cluster", "http://127.0.0.1:6379"])
            .expect_err("not a Redis URL");
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("redis://host:port"), "{err}");
        for (flag, bad, range) in [
            ("--cluster-queue", "0", "1..=1048576"),
            ("--cluster-queue", "1048577", "1..=1048576"),
            ("--cluster-ttl-ms", "299", "300..=3600000"),
        ] {
            let err = parse(&[flag, bad]).expect_err("out of range");
            assert_eq!(err.exit_code(), 2);
            let text = err.to_string();
            assert!(text.contains(range), "{text}");
            assert!(!text.contains("18446744073709551615"), "{text}");
        }
    }

    #[test]
    fn the_pause_must_sit_one_read_below_the_limit() {
        let read = ServiceConfig::default().read_chunk;
        let limit = (4 * read).to_string();
        let at_most = (3 * read).to_string();
        let over = (3 * read + 1).to_string();
        let ok = parse(&["--send-queue-limit", &limit, "--send-queue-pause", &at_most]);
        assert_eq!(ok.unwrap().config().send_queue_pause, 3 * read);
        for flags in [
            ["--send-queue-limit", &limit, "--send-queue-pause", &over],
            ["--send-queue-limit", "65536", "--send-queue-pause", "1"],
        ] {
            let err = parse(&flags).expect_err("pause too close to the limit");
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{err}");
            assert_eq!(err.exit_code(), 2);
            let text = err.to_string();
            assert!(text.contains("--send-queue-pause (") && text.contains("--send-queue-limit ("));
        }
        // The default pause needs a limit of at least itself plus one read.
        let pause = ServiceConfig::default().send_queue_pause;
        let just_below = (pause + read - 1).to_string();
        assert!(parse(&["--send-queue-limit", &just_below]).is_err());
    }
}
