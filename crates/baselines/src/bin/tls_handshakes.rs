//! Handshake rate: `--threads` threads (default 2), each in a loop for `--duration` seconds:
//! connect, a full TLS 1.3 handshake, one 32-byte echo verified, `close_notify`, and the
//! server's EOF awaited before the next connect (so the server's close is part of the work
//! measured, not left for after the run). With `--resume` every thread shares one client
//! configuration and its session cache, so each connection after the first presents the
//! ticket the previous one received (TLS 1.3 resumption with a fresh key exchange: no
//! certificate, no signature, but a key exchange still). `--kx` picks the group the client
//! offers: by default the provider's list as it is, which in rustls 0.23.48's ring provider
//! starts with P-384 (what `dummyclient --tls` and any client on that provider send), or one
//! group alone (X25519 is what browsers, OpenSSL and Go offer first). Prints one JSON line:
//! handshakes, resumed (how many of them used a ticket), the group negotiated, seconds, rate,
//! failures, and the latency of a whole connection (connect to verified echo) as p50/p99 in µs. Exits 2 when any connection failed (the report is still
//! printed), like `dummyclient`. Used by `bench/tls.sh`; it talks to any TLS echo server
//! (`gameserver --tls-cert`, `tokio_tls_echo`).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use rustls::client::Resumption;
use rustls::crypto::ring::kx_group;
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

/// How long one connection may wait for the server at any step.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The echoed message's size.
const MESSAGE_LEN: usize = 32;

#[derive(Debug, Parser)]
#[command(about = "TLS handshakes per second against a TLS echo server")]
struct Args {
    /// Server address, host:port.
    #[arg(long, default_value = "127.0.0.1:7777")]
    addr: String,
    /// Connecting threads, each one connection at a time.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// CA certificate(s) to trust, PEM.
    #[arg(long)]
    tls_ca: PathBuf,
    /// Server name to verify (default: the host of --addr).
    #[arg(long)]
    tls_name: Option<String>,
    /// Resume with the tickets the server sends (one session cache for all threads).
    #[arg(long)]
    resume: bool,
    /// Key-exchange group to offer: the provider's default list, or one group alone.
    #[arg(long, value_enum, default_value_t = Kx::Default)]
    kx: Kx,
}

/// `--kx`: which key-exchange groups the client offers (its key share is the first one's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kx {
    /// The ring provider's list (rustls 0.23.48: P-384, X25519, P-256).
    Default,
    X25519,
    P256,
    P384,
}

/// What one thread did.
#[derive(Debug, Default)]
struct Tally {
    handshakes: u64,
    resumed: u64,
    failures: u64,
    latencies_us: Vec<u64>,
    first_error: Option<String>,
    /// The key-exchange group of the first handshake.
    group: Option<String>,
}

impl Tally {
    fn merge(mut self, other: Tally) -> Tally {
        self.handshakes += other.handshakes;
        self.resumed += other.resumed;
        self.failures += other.failures;
        self.latencies_us.extend(other.latencies_us);
        self.first_error = self.first_error.or(other.first_error);
        self.group = self.group.or(other.group);
        self
    }
}

/// Where to connect and what to present.
#[derive(Debug)]
struct Target {
    addr: SocketAddr,
    name: ServerName<'static>,
    config: Arc<ClientConfig>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.threads > 0, "--threads must be at least 1");
    let target = Target {
        addr: args
            .addr
            .to_socket_addrs()
            .with_context(|| format!("--addr {}", args.addr))?
            .next()
            .with_context(|| format!("--addr {}: no address", args.addr))?,
        name: server_name(&args)?,
        config: Arc::new(client_config(&args.tls_ca, args.resume, args.kx)?),
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let tally = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..args.threads)
            .map(|_| scope.spawn(|| connect_until(&target, deadline)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a handshake thread panicked"))
            .fold(Tally::default(), Tally::merge)
    });
    let seconds = started.elapsed().as_secs_f64();
    report(tally, seconds)
}

/// `--tls-name`, or the host part of `--addr`.
fn server_name(args: &Args) -> anyhow::Result<ServerName<'static>> {
    let host = match &args.tls_name {
        Some(name) => name.as_str(),
        None => args
            .addr
            .rsplit_once(':')
            .map_or(args.addr.as_str(), |(host, _)| host),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).with_context(|| format!("server name {host:?}"))
}

/// TLS 1.3 only, trusting the CA in `ca`, with the ring provider as servercore and
/// dummyclient use it (rustls 0.23.48 deprecated it for lacking the post-quantum key exchange)
/// and the groups of `kx`. Without `resume` no session is cached: every handshake is a full
/// one.
fn client_config(ca: &Path, resume: bool, kx: Kx) -> anyhow::Result<ClientConfig> {
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    let only = match kx {
        Kx::Default => None,
        Kx::X25519 => Some(kx_group::X25519),
        Kx::P256 => Some(kx_group::SECP256R1),
        Kx::P384 => Some(kx_group::SECP384R1),
    };
    if let Some(group) = only {
        provider.kx_groups = vec![group];
    }
    let provider = Arc::new(provider);
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).with_context(|| ca.display().to_string())? {
        roots.add(cert.with_context(|| ca.display().to_string())?)?;
    }
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    if !resume {
        config.resumption = Resumption::disabled();
    }
    Ok(config)
}

/// One thread's loop until `deadline`.
fn connect_until(target: &Target, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut seq = 0u64;
    while Instant::now() < deadline {
        seq += 1;
        let t0 = Instant::now();
        match connection(target, seq) {
            Ok((resumed, group)) => {
                tally.handshakes += 1;
                tally.resumed += u64::from(resumed);
                tally.group.get_or_insert(group);
                tally
                    .latencies_us
                    .push(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
            Err(e) => {
                tally.failures += 1;
                tally.first_error.get_or_insert_with(|| format!("{e:#}"));
                // A server that is gone must not turn this loop into a busy one.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    tally
}

/// One connection: handshake, echo verified, orderly close. Returns whether the handshake
/// was resumed, and the key-exchange group.
fn connection(target: &Target, seq: u64) -> anyhow::Result<(bool, String)> {
    let mut sock = TcpStream::connect_timeout(&target.addr, IO_TIMEOUT).context("connect")?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(IO_TIMEOUT))?;
    sock.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut conn = ClientConnection::new(target.config.clone(), target.name.clone())?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).context("handshake")?;
    }
    let resumed = conn.handshake_kind() == Some(HandshakeKind::Resumed);
    let group = conn
        .negotiated_key_exchange_group()
        .map_or_else(|| "none".to_owned(), |g| format!("{:?}", g.name()));
    let message = pattern(seq);
    let mut echoed = [0u8; MESSAGE_LEN];
    {
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        tls.write_all(&message).context("send")?;
        tls.read_exact(&mut echoed).context("echo")?;
    }
    anyhow::ensure!(echoed == message, "echo differs from what was sent");
    conn.send_close_notify();
    while conn.wants_write() {
        conn.write_tls(&mut sock).context("close_notify")?;
    }
    sock.shutdown(Shutdown::Write).context("shutdown")?;
    // The server's close (EOF, or its close_notify then EOF) ends the connection's work.
    io::copy(&mut sock, &mut io::sink()).context("waiting for the server's close")?;
    Ok((resumed, group))
}

/// The 32 bytes of connection `seq`: its number, then a pattern derived from it.
fn pattern(seq: u64) -> [u8; MESSAGE_LEN] {
    let mut out = [0u8; MESSAGE_LEN];
    out[..8].copy_from_slice(&seq.to_le_bytes());
    for (i, byte) in out.iter_mut().enumerate().skip(8) {
        // Truncation intended: a byte pattern that differs per connection and position.
        *byte = (seq as u8).wrapping_mul(31).wrapping_add(i as u8);
    }
    out
}

/// Prints the JSON line (and the first error on stderr); exit status 2 on failures.
fn report(mut tally: Tally, seconds: f64) -> anyhow::Result<()> {
    tally.latencies_us.sort_unstable();
    let percentile = |p: f64| -> String {
        if tally.latencies_us.is_empty() {
            return "null".to_owned();
        }
        // Nearest rank: truncation of a non-negative index intended.
        let rank = ((p * tally.latencies_us.len() as f64).ceil() as usize).max(1);
        tally.latencies_us[rank - 1].to_string()
    };
    println!(
        "{{\"handshakes\": {}, \"resumed\": {}, \"kx_group\": \"{}\", \"seconds\": {seconds:.3}, \
         \"rate\": {:.1}, \"failures\": {}, \"p50_us\": {}, \"p99_us\": {}}}",
        tally.handshakes,
        tally.resumed,
        tally.group.as_deref().unwrap_or("none"),
        tally.handshakes as f64 / seconds,
        tally.failures,
        percentile(0.50),
        percentile(0.99),
    );
    if let Some(error) = &tally.first_error {
        eprintln!(
            "tls_handshakes: {} failures, the first: {error}",
            tally.failures
        );
    }
    if tally.failures > 0 {
        std::process::exit(2);
    }
    Ok(())
}
