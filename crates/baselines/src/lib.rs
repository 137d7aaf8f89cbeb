//! What the baseline servers share: their `--bind`/`--port`/`--threads` arguments, the runtime
//! a `#[tokio::main]` user gets (with the worker count from `--threads`), the listening
//! socket, the echo loop of `tokio_echo` and `tokio_tls_echo`, and TLS (`--tls-cert`/`--tls-key`:
//! tokio-rustls configured as servercore configures rustls, so both do the same work per
//! handshake and per record). Each server in `src/bin/` is otherwise written as a typical
//! tokio user would write it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Where a baseline listens and with how many threads: the arguments every one of them takes
/// (the bench scripts add `--bind`, `--port` and `--threads` to any server).
#[derive(Debug, Clone, clap::Args)]
pub struct Endpoint {
    /// Address to bind.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 7777)]
    pub port: u16,
    /// Worker threads (default: number of CPUs). mio_echo runs one and ignores it.
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Equivalent to `#[tokio::main]` (multi-thread flavor), except that the worker count comes
/// from `--threads` (default: number of CPUs).
///
/// # Errors
/// If the runtime cannot start (threads or the I/O driver).
pub fn runtime(threads: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = threads {
        builder.worker_threads(n.max(1));
    }
    builder.build()
}

/// Binds `bind:port` with tokio's default backlog (1024, what a typical user gets; bursts of
/// 1,000 connects on loopback succeed) and says where `name` listens on stderr.
///
/// # Errors
/// Binding errors, naming the address.
pub async fn listen(name: &str, bind: &str, port: u16) -> anyhow::Result<TcpListener> {
    let addr = format!("{bind}:{port}");
    let listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    eprintln!("{name} listening on {}", listener.local_addr()?);
    Ok(listener)
}

/// The echo of `tokio_echo` and `tokio_tls_echo`: a 4 KiB buffer, `read` then `write_all`,
/// until the peer's EOF. The `flush` after each write is free on a `TcpStream` (it has no
/// buffer) and, over TLS, sends what rustls still holds when the socket took only part of
/// the records (tokio-rustls' `write` returns once the plaintext is taken).
///
/// # Errors
/// The stream's read and write errors (a reset, a bad TLS record).
pub async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
        stream.flush().await?;
    }
}

/// `--tls-cert FILE --tls-key FILE`: the listener speaks TLS (both or neither).
#[derive(Debug, Clone, clap::Args)]
pub struct TlsArgs {
    /// Certificate chain, PEM (the server's certificate first): serve TLS 1.3 and 1.2.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The acceptor for the two files, or `None` without them.
    ///
    /// # Errors
    /// As [`tls_acceptor`].
    pub fn acceptor(&self) -> anyhow::Result<Option<TlsAcceptor>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => tls_acceptor(cert, key).map(Some),
            _ => Ok(None),
        }
    }
}

/// A TLS acceptor with the chain in `cert` and the key in `key`, configured as servercore's
/// `TlsConfig` is: the ring provider, TLS 1.3 and 1.2, no client certificates, resumption by
/// stateless tickets with one ticket per TLS 1.3 handshake.
///
/// # Errors
/// A file that cannot be read or holds no certificate or key, a key that does not match.
pub fn tls_acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    // ring, as servercore: rustls 0.23.48 deprecated its provider for lacking the post-quantum
    // key exchange (X25519MLKEM768); both servers then offer X25519, P-256 and P-384.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("{}: certificate chain", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{}: no CERTIFICATE", cert.display());
    let private =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("{}: key", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .with_context(|| format!("{} and {}", cert.display(), key.display()))?;
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    config.send_tls13_tickets = 1;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
