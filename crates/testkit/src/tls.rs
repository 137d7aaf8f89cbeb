//! Test certificates, made at test time: a CA of the test's own and a server certificate it
//! signs for `localhost`, `127.0.0.1` and `::1`, written as PEM files the server is given
//! (`--tls-cert`, `--tls-key`) and the clients trust (`--tls-ca`, `openssl s_client -CAfile`,
//! Python's `cafile`, Chromium's SPKI pin). [`TestPki::renew`] replaces the server's key and
//! certificate in place, for reload tests.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PublicKeyData,
};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::{CertificateDer, ServerName};
use sha2::{Digest, Sha256};

/// A CA and the server certificate it signed, as files in a temporary directory.
pub struct TestPki {
    dir: tempfile::TempDir,
    ca: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
    /// The server certificate's DER and its key's SubjectPublicKeyInfo.
    server: (CertificateDer<'static>, Vec<u8>),
    /// Certificates made so far (the serial of the next).
    made: u64,
}

impl TestPki {
    /// A fresh CA and server certificate (ECDSA P-256), written to `ca.pem`, `cert.pem` and
    /// `key.pem`.
    ///
    /// # Panics
    /// If the certificates cannot be made or written.
    pub fn new() -> TestPki {
        let dir = tempfile::tempdir().expect("temporary directory");
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::default();
        // A name of its own: two test CAs never pass for each other's issuer.
        static CAS: AtomicU64 = AtomicU64::new(0);
        let serial = CAS.fetch_add(1, Ordering::Relaxed);
        let name = format!("servercore test CA {}-{serial}", std::process::id());
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = params.self_signed(&key).expect("CA certificate");
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).expect("write ca.pem");
        let mut pki = TestPki {
            dir,
            ca: Issuer::new(params, key),
            ca_der: ca_cert.der().clone(),
            server: (CertificateDer::from(Vec::new()), Vec::new()),
            made: 0,
        };
        pki.renew();
        pki
    }

    /// A new server key and certificate (the next serial), over the old files.
    ///
    /// # Panics
    /// If they cannot be made or written.
    pub fn renew(&mut self) {
        self.made += 1;
        let key = KeyPair::generate().expect("server key");
        let names = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        let mut params = CertificateParams::new(names).expect("server names");
        params.distinguished_name.push(
            DnType::CommonName,
            format!("servercore test server {}", self.made),
        );
        params.serial_number = Some(self.made.into());
        let cert = params
            .signed_by(&key, &self.ca)
            .expect("server certificate");
        // The key first, then the certificate: a reader between the two writes gets a
        // mismatch, refused (the reload keeps the old one), never a wrong pairing served.
        write_atomically(&self.key_path(), key.serialize_pem().as_bytes());
        write_atomically(&self.cert_path(), cert.pem().as_bytes());
        self.server = (cert.der().clone(), key.subject_public_key_info());
    }

    /// The server certificate's PEM file.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The server key's PEM file.
    pub fn key_path(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// The CA certificate's PEM file (what clients trust).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The directory the files are in (for more of a test's own).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The current server certificate (DER), to compare with what a client was shown.
    pub fn server_cert(&self) -> &CertificateDer<'static> {
        &self.server.0
    }

    /// Base64 of the SHA-256 of the server key's SubjectPublicKeyInfo: Chromium's
    /// `--ignore-certificate-errors-spki-list` value.
    pub fn spki_sha256_base64(&self) -> String {
        data_encoding::BASE64.encode(&Sha256::digest(&self.server.1))
    }

    /// A rustls client configuration that trusts this CA (and nothing else).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.client_config_with(rustls::DEFAULT_VERSIONS)
    }

    /// As [`TestPki::client_config`], speaking only `versions`.
    ///
    /// # Panics
    /// If rustls refuses the CA or the versions.
    pub fn client_config_with(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("CA certificate");
        #[allow(deprecated)] // the provider servercore uses (see servercore::tls)
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki")
            .field("dir", &self.dir.path())
            .field("made", &self.made)
            .finish_non_exhaustive()
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}

/// Writes `data` to `path` through a temporary file and a rename (no reader sees half).
fn write_atomically(path: &Path, data: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data).expect("write PEM");
    std::fs::rename(&tmp, path).expect("rename PEM");
}

/// A blocking TLS client over TCP.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Connects to `addr` and completes a TLS handshake as `localhost` with `config` (reads and
/// writes time out after 10 s).
///
/// # Errors
/// The connect or the handshake failed.
pub fn tls_connect(addr: SocketAddr, config: Arc<ClientConfig>) -> io::Result<TlsStream> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(10)))?;
    tls_over(tcp, config)
}

/// Completes a TLS handshake as `localhost` over `tcp`.
///
/// # Errors
/// The handshake failed.
pub fn tls_over(mut tcp: TcpStream, config: Arc<ClientConfig>) -> io::Result<TlsStream> {
    let name = ServerName::try_from("localhost").expect("a DNS name");
    let mut conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// Writes `data` and reads back as many bytes (an echo), over TLS.
///
/// # Errors
/// The stream failed or closed early.
pub fn tls_echo(stream: &mut TlsStream, data: &[u8]) -> io::Result<Vec<u8>> {
    stream.write_all(data)?;
    stream.flush()?;
    let mut back = vec![0; data.len()];
    stream.read_exact(&mut back)?;
    Ok(back)
}
