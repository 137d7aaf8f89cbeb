//! `--tls`: the clients speak TLS to the server (`gameserver --tls-cert --tls-key`), with
//! rustls and the provider servercore uses (ring), TLS 1.3 or 1.2. The server's certificate
//! is verified against `--tls-ca` (a PEM file of CA certificates) for the name `--tls-name`
//! (default: the host of `--addr`, a DNS name or an IP address): a run against the wrong
//! server, or a certificate the CA did not sign, fails at once with rustls' reason.
//!
//! ```text
//!   load mode   the first client's handshake is made blocking, as a probe (a wrong CA or a
//!               port that is not TLS is reported before anything else starts); the others
//!               are adopted with a started connection and shake hands in the client's event
//!               loops (Service::adopt_tls); with --websocket every client shakes hands
//!               blocking, then upgrades over TLS
//!   lecture     one blocking TLS stream instead of the socket
//! ```
//!
//! Everything above TLS — the messages, their verification, the report — is as over TCP.

use std::fmt;
use std::io::{self, BufRead, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use servercore::tls::rustls;

/// What a client needs to open TLS connections: the configuration and the server's name.
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    ca: PathBuf,
}

/// Why `--tls-ca` or `--tls-name` cannot be used.
#[derive(Debug)]
pub enum TlsSetupError {
    /// The CA file could not be read or is not PEM.
    Ca {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: pem::Error,
    },
    /// The CA file holds no certificate rustls accepts as a trust anchor.
    NoCa {
        /// The file.
        path: PathBuf,
    },
    /// The name is neither a DNS name nor an IP address.
    Name {
        /// The name given (or taken from `--addr`).
        name: String,
    },
}

impl fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsSetupError::Ca { path, source } => {
                write!(f, "--tls-ca {}: {source}", path.display())
            }
            TlsSetupError::NoCa { path } => write!(
                f,
                "--tls-ca {}: no CA certificate in the file (PEM, -----BEGIN CERTIFICATE-----)",
                path.display()
            ),
            TlsSetupError::Name { name } => write!(
                f,
                "--tls-name {name:?}: not a DNS name or an IP address (the name the server's \
                 certificate must carry)"
            ),
        }
    }
}

impl std::error::Error for TlsSetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsSetupError::Ca { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl TlsClient {
    /// Clients that trust the CA certificates in `ca` and expect the server to be `name`.
    ///
    /// # Errors
    /// The file cannot be read or holds no CA certificate, or `name` is not a name.
    pub fn new(ca: &Path, name: &str) -> Result<TlsClient, TlsSetupError> {
        let ca_error = |source| TlsSetupError::Ca {
            path: ca.to_path_buf(),
            source,
        };
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).map_err(ca_error)? {
            // A certificate rustls cannot use as an anchor is skipped; none at all is an error.
            let _ = roots.add(cert.map_err(ca_error)?);
        }
        if roots.is_empty() {
            return Err(TlsSetupError::NoCa {
                path: ca.to_path_buf(),
            });
        }
        let name = ServerName::try_from(name.to_owned()).map_err(|_| TlsSetupError::Name {
            name: name.to_owned(),
        })?;
        #[allow(deprecated)] // servercore's provider (see servercore::tls)
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsClient {
            config: Arc::new(config),
            name,
            ca: ca.to_path_buf(),
        })
    }

    /// The host of `addr` (`host:port`, `[v6]:port`): the default `--tls-name`.
    pub fn host_of(addr: &str) -> &str {
        let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
        host.trim_start_matches('[').trim_end_matches(']')
    }

    /// A new client connection, not started (its hello is sent by whoever drives it).
    ///
    /// # Errors
    /// rustls refused to start one (it does not with this configuration).
    pub fn connection(&self) -> io::Result<ClientConnection> {
        ClientConnection::new(self.config.clone(), self.name.clone()).map_err(io::Error::other)
    }

    /// A connection over `stream` with its handshake done, blocking up to `timeout` for each
    /// read.
    ///
    /// # Errors
    /// The socket failed or timed out, or the handshake failed (rustls' reason, and what to
    /// check).
    pub fn handshake(
        &self,
        stream: &mut TcpStream,
        timeout: Duration,
    ) -> io::Result<ClientConnection> {
        let mut conn = self.connection()?;
        stream.set_read_timeout(Some(timeout))?;
        while conn.is_handshaking() {
            conn.complete_io(stream).map_err(|err| self.explain(err))?;
        }
        stream.set_read_timeout(None)?;
        Ok(conn)
    }

    /// `stream` as a blocking TLS stream, its handshake done (the lecture mode's socket).
    ///
    /// # Errors
    /// As [`TlsClient::handshake`].
    pub fn stream(&self, mut stream: TcpStream, timeout: Duration) -> io::Result<TlsStream> {
        let conn = self.handshake(&mut stream, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        Ok(StreamOwned::new(conn, stream))
    }

    /// A handshake error with what to check.
    fn explain(&self, err: io::Error) -> io::Error {
        let hint = match err
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        {
            Some(rustls::Error::InvalidCertificate(_)) => format!(
                " (is {} the CA that signed the server's certificate, for the name {}? \
                 --tls-ca, --tls-name)",
                self.ca.display(),
                self.name.to_str()
            ),
            Some(
                rustls::Error::InvalidMessage(_)
                | rustls::Error::InappropriateMessage { .. }
                | rustls::Error::InappropriateHandshakeMessage { .. },
            )
            | None => " (is it a TLS port? gameserver --tls-cert/--tls-key)".into(),
            Some(_) => String::new(),
        };
        io::Error::new(err.kind(), format!("TLS handshake: {err}{hint}"))
    }
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("ca", &self.ca)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A blocking TLS stream over TCP.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// A TLS connection and its socket, borrowed for a blocking exchange before the event loop
/// takes them (the WebSocket upgrade over TLS): what is read is looked at before it is
/// taken, so bytes behind the upgrade's answer stay in the connection for the loop.
pub(crate) struct TlsOver<'a> {
    pub(crate) conn: &'a mut ClientConnection,
    pub(crate) sock: &'a mut TcpStream,
}

impl TlsOver<'_> {
    /// Plaintext available to look at, reading from the socket until some is (an empty slice
    /// at the end of the stream).
    ///
    /// # Errors
    /// The socket failed or timed out, or the TLS records are bad.
    fn fill(&mut self) -> io::Result<&[u8]> {
        loop {
            match self.conn.reader().fill_buf() {
                Ok(_) => break,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    if self.conn.complete_io(self.sock)? == (0, 0) {
                        return Ok(&[]); // the socket's EOF
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(&[]),
                Err(err) => return Err(err),
            }
        }
        self.conn.reader().into_first_chunk()
    }
}

impl crate::websocket::Lookahead for TlsOver<'_> {
    fn look(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let chunk = self.fill()?;
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        Ok(n)
    }

    fn take(&mut self, n: usize) -> io::Result<()> {
        self.conn.reader().consume(n);
        Ok(())
    }
}

impl Write for TlsOver<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        rustls::Stream::new(self.conn, self.sock).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        rustls::Stream::new(self.conn, self.sock).flush()
    }
}
