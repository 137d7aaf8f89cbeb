//! [`TlsConfig`]: a server's certificate chain and key, read from PEM files, in a rustls
//! configuration whose certificate can be swapped while the service runs.
//!
//! ```text
//!   from_pem_files(cert, key) ─> load ─> CertifiedKey ─┐
//!   reload()                  ─> load ─> CertifiedKey ─┴─> Certificate.current (RwLock<Arc<_>>)
//!   each new handshake: ResolvesServerCert::resolve ─> the current one (sessions keep theirs)
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// TLS for a service's listeners: the certificate chain and private key of
/// [`TlsConfig::from_pem_files`], TLS 1.3 and 1.2, no client certificates, resumption by
/// stateless tickets. Clones share the certificate: [`TlsConfig::reload`] on any of them
/// changes it for all.
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<ServerConfig>,
    certificate: Arc<Certificate>,
}

/// Why TLS could not be configured (at start-up) or its certificate reloaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or is not PEM.
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: pem::Error,
    },
    /// The certificate file holds no certificate.
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key (PKCS#8, PKCS#1 or SEC1 PEM).
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// The key cannot be used: not a key the provider signs with (RSA, ECDSA P-256/P-384,
    /// Ed25519), or not the certificate's.
    Key {
        /// The key file.
        path: PathBuf,
        /// rustls' reason.
        source: rustls::Error,
    },
    /// rustls refused the configuration.
    Config(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Pem { path, source } => write!(f, "{}: {source}", path.display()),
            TlsError::NoCertificate { path } => {
                write!(f, "{}: no CERTIFICATE in the file", path.display())
            }
            TlsError::NoKey { path } => write!(
                f,
                "{}: no PRIVATE KEY (PKCS#8, RSA or EC) in the file",
                path.display()
            ),
            TlsError::Key { path, source } => write!(f, "{}: {source}", path.display()),
            TlsError::Config(err) => write!(f, "TLS configuration: {err}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Pem { source, .. } => Some(source),
            TlsError::Key { source, .. } | TlsError::Config(source) => Some(source),
            TlsError::NoCertificate { .. } | TlsError::NoKey { .. } => None,
        }
    }
}

impl TlsConfig {
    /// TLS with the certificate chain in `cert` (PEM, the server's certificate first, then
    /// its intermediates) and the private key in `key` (PEM).
    ///
    /// # Errors
    /// A file that cannot be read or holds no certificate or key, a key that does not
    /// match the certificate or that the provider cannot sign with.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsConfig, TlsError> {
        // ring: it builds with a plain C compiler for every platform this crate runs or is
        // checked on (Linux, Windows/mingw, macOS), where aws-lc-rs wants CMake or NASM.
        // rustls 0.23.48 deprecated it for lacking the post-quantum key exchange
        // (X25519MLKEM768); X25519, P-256 and P-384 are offered. See docs/tls.md.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certificate = Arc::new(Certificate::load(
            cert.as_ref(),
            key.as_ref(),
            provider.clone(),
        )?);
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(certificate.clone());
        // Stateless resumption: a reconnecting client (a network blip, a storm of them)
        // skips the certificate and the key exchange's signature. One ticket per handshake
        // is enough for a game client's one connection.
        server.ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsError::Config)?;
        server.send_tls13_tickets = 1;
        Ok(TlsConfig {
            server: Arc::new(server),
            certificate,
        })
    }

    /// Reads the two files again and serves the new certificate from the next handshake on;
    /// running sessions keep theirs. On an error the current certificate stays.
    ///
    /// # Errors
    /// As [`TlsConfig::from_pem_files`].
    pub fn reload(&self) -> Result<(), TlsError> {
        self.certificate.reload()
    }

    /// The rustls configuration each connection is made with.
    pub(crate) fn server_config(&self) -> &Arc<ServerConfig> {
        &self.server
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("cert", &self.certificate.cert_path)
            .field("key", &self.certificate.key_path)
            .finish_non_exhaustive()
    }
}

/// The certificate new handshakes are served, and where it is read from.
#[derive(Debug)]
struct Certificate {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificate {
    fn load(
        cert: &Path,
        key: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<Certificate, TlsError> {
        let current = RwLock::new(Arc::new(read_certified_key(cert, key, &provider)?));
        Ok(Certificate {
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
            provider,
            current,
        })
    }

    fn reload(&self) -> Result<(), TlsError> {
        let fresh = read_certified_key(&self.cert_path, &self.key_path, &self.provider)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
        Ok(())
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// The chain in `cert` and the key in `key`, checked to belong together.
fn read_certified_key(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let pem_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Pem { path, source }
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(pem_error(cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error(cert))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_path_buf(),
        });
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|source| match source {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: key.to_path_buf(),
        },
        source => pem_error(key)(source),
    })?;
    CertifiedKey::from_der(chain, private, provider).map_err(|source| TlsError::Key {
        path: key.to_path_buf(),
        source,
    })
}
