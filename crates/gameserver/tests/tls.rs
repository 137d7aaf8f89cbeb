//! TLS with real clients, on both I/O models: `openssl s_client` and Python's `ssl` against
//! `gameserver --tls-cert --tls-key` (TLS 1.3 and 1.2, the certificate verified against the
//! test's CA and the name `localhost`); SIGHUP reloading the certificate under a running
//! session; and a real HAProxy in TCP mode with `send-proxy-v2` in front of `wss://` and of
//! the TLS game port, where the server must see the real client (127.0.0.2, 127.0.0.3), not
//! the balancer. The browser over `https://` and `wss://` is in `browser_chat.rs`; the
//! load generator's `--tls` in dummyclient's tests.

#![cfg(unix)] // openssl, python3, haproxy and SIGHUP: the Linux tools .ci/run installs

mod util;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use servercore::tls::TlsConfig;
use servercore::websocket::WsConfig;
use servercore::{
    AddressList, Context, Handler, Model, ProxyProtocol, Service, ServiceConfig, SessionId,
};
use testkit::haproxy::Haproxy;
use testkit::tls::{tls_connect, tls_echo, tls_over, TestPki};
use util::process::{Gameserver, STEP};
use util::ws_player::WsPlayer;
use util::*;

fn tls_flags(pki: &TestPki) -> Vec<String> {
    vec![
        "--tls-cert".into(),
        pki.cert_path().display().to_string(),
        "--tls-key".into(),
        pki.key_path().display().to_string(),
    ]
}

fn start(model: Model, pki: &TestPki) -> Gameserver {
    let flags = tls_flags(pki);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Gameserver::start(model, &flags)
}

/// `openssl s_client` at `addr` with `version` (`-tls1_3`, `-tls1_2`), verifying the chain
/// against `pki`'s CA and the name `localhost`: sends a line, waits for its echo, then ends
/// its input. Returns what it printed about the connection (stderr with `-brief`).
fn openssl_echo(addr: SocketAddr, pki: &TestPki, version: &str) -> String {
    let ca = pki.ca_path();
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-brief",
            "-verify_return_error",
            "-servername",
            "localhost",
        ])
        .args(["-verify_hostname", "localhost", version, "-connect"])
        .arg(addr.to_string())
        .arg("-CAfile")
        .arg(&ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl (Debian's openssl package)");
    let lines = testkit::read_lines(child.stdout.take().unwrap(), "openssl: ");
    let info = testkit::read_lines(child.stderr.take().unwrap(), "openssl(err): ");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"Hello World over openssl\n").unwrap();
    stdin.flush().unwrap();
    let echoed = wait_line(&lines, "Hello World over openssl");
    drop(stdin); // EOF: s_client closes and exits
    let status = child.wait().unwrap();
    let printed: Vec<String> = info.iter().collect(); // to its EOF: the process is gone
    assert!(echoed, "the echo came back; s_client said: {printed:?}");
    assert!(status.success(), "s_client: {status}; {printed:?}");
    printed.join("\n")
}

fn wait_line(lines: &mpsc::Receiver<String>, wanted: &str) -> bool {
    let deadline = std::time::Instant::now() + STEP;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(wanted) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// Python's `ssl` at `addr`, at most TLS `max` ("1.2" or "1.3"): 100 KiB echoed and checked.
/// Returns what the script printed (version, cipher).
fn python_echo(addr: SocketAddr, pki: &TestPki, max: &str) -> String {
    const SCRIPT: &str = r#"
import socket, ssl, sys
host, port, ca, top = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
ctx.maximum_version = ssl.TLSVersion.TLSv1_2 if top == "1.2" else ssl.TLSVersion.TLSv1_3
with socket.create_connection((host, port), timeout=20) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        data = bytes(range(256)) * 400
        tls.sendall(data)
        got = b""
        while len(got) < len(data):
            chunk = tls.recv(65536)
            if not chunk:
                break
            got += chunk
        assert got == data, (len(got), len(data))
        print(tls.version(), tls.cipher()[0], "echo ok", len(got))
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            SCRIPT,
            &addr.ip().to_string(),
            &addr.port().to_string(),
        ])
        .arg(pki.ca_path())
        .arg(max)
        .output()
        .expect("python3");
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python: {printed} {errors}");
    printed
}

fn openssl_and_python_echo_over_tls(model: Model) {
    let pki = TestPki::new();
    let mut server = start(model, &pki);
    let v13 = openssl_echo(server.addr, &pki, "-tls1_3");
    assert!(v13.contains("Protocol version: TLSv1.3"), "{v13}");
    assert!(v13.contains("Verification: OK"), "{v13}");
    let v12 = openssl_echo(server.addr, &pki, "-tls1_2");
    assert!(v12.contains("Protocol version: TLSv1.2"), "{v12}");
    assert!(python_echo(server.addr, &pki, "1.3").starts_with("TLSv1.3 "));
    assert!(python_echo(server.addr, &pki, "1.2").starts_with("TLSv1.2 "));
    // A client that does not trust the certificate: refused by the client, logged by the
    // server with its own close reason.
    let stranger = TestPki::new();
    let refused = tls_connect(server.addr, stranger.client_config());
    assert!(refused.is_err(), "a certificate from another CA is refused");
    let line = server.wait_for_line(&["closing", "TLS handshake failed"]);
    assert!(line.is_some(), "the refusal is logged with its reason");
    server.signal(libc::SIGTERM);
    assert!(server.wait_exit().is_some_and(|s| s.success()));
}

both_models!(openssl_and_python, openssl_and_python_echo_over_tls);

fn sighup_reloads_the_certificate(model: Model) {
    let mut pki = TestPki::new();
    let mut server = start(model, &pki);
    let mut old = tls_connect(server.addr, pki.client_config()).unwrap();
    let first = pki.server_cert().clone();
    assert_eq!(old.conn.peer_certificates().unwrap()[0], first);

    pki.renew();
    server.signal(libc::SIGHUP);
    let reloaded = server.wait_for_line(&["SIGHUP", "reloaded"]);
    assert!(reloaded.is_some(), "the reload is logged");
    let mut new = tls_connect(server.addr, pki.client_config()).unwrap();
    assert_eq!(new.conn.peer_certificates().unwrap()[0], *pki.server_cert());
    assert_eq!(
        tls_echo(&mut old, b"before").unwrap(),
        b"before",
        "not dropped"
    );
    assert_eq!(tls_echo(&mut new, b"after").unwrap(), b"after");

    std::fs::write(pki.key_path(), b"not a key").unwrap();
    server.signal(libc::SIGHUP);
    let kept = server.wait_for_line(&["SIGHUP", "not reloaded", "key.pem"]);
    assert!(
        kept.is_some(),
        "a broken file is reported and the certificate kept"
    );
    let mut third = tls_connect(server.addr, pki.client_config()).unwrap();
    assert_eq!(
        third.conn.peer_certificates().unwrap()[0],
        *pki.server_cert()
    );
    assert_eq!(tls_echo(&mut third, b"still").unwrap(), b"still");
    server.signal(libc::SIGTERM);
    assert!(server.wait_exit().is_some_and(|s| s.success()));
}

both_models!(sighup, sighup_reloads_the_certificate);

/// Tells each session, first thing, who the server thinks it is.
struct PeerTeller;

impl Handler for PeerTeller {
    fn connected(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        let peer = ctx.peer_addr(id).map(|p| p.to_string()).unwrap_or_default();
        let _ = ctx.send_copy(id, peer.as_bytes());
    }

    fn received(&mut self, _: &mut Context<'_>, _: SessionId, data: &[u8]) -> usize {
        data.len()
    }
}

/// HAProxy (TCP mode, `send-proxy-v2`, TLS passed through) in front of the `wss://`
/// listener and of the TLS game port: the PROXY prelude comes before TLS, and the session's
/// peer is the client the header names.
fn haproxy_in_front_of_wss_shows_the_real_client(model: Model) {
    let pki = TestPki::new();
    let config = ServiceConfig {
        model,
        threads: 2,
        trusted_sources: AddressList::empty(),
        proxy_protocol: Some(ProxyProtocol::new("127.0.0.1/32".parse().unwrap())),
        tls: Some(TlsConfig::from_pem_files(pki.cert_path(), pki.key_path()).unwrap()),
        ..ServiceConfig::default()
    };
    let service = Service::bind(loopback(), config, |_| PeerTeller).unwrap();
    let ws_addr = service
        .listen_websocket(loopback(), WsConfig::new(4096))
        .unwrap();
    let wss = Haproxy::start(ws_addr).expect("haproxy (installed by .ci/run)");
    let tcp = Haproxy::start(addr(&service)).expect("haproxy");

    let browser = testkit::connect_from(IpAddr::from([127, 0, 0, 2]), wss.frontend());
    let tls = tls_over(browser, pki.client_config()).expect("TLS through HAProxy");
    let mut player = WsPlayer::over(tls, "localhost");
    let told = loop {
        if let Some(message) = player.message() {
            break String::from_utf8(message).unwrap();
        }
    };
    assert!(told.starts_with("127.0.0.2:"), "the server saw {told}");

    let game = testkit::connect_from(IpAddr::from([127, 0, 0, 3]), tcp.frontend());
    let mut tls = tls_over(game, pki.client_config()).expect("TLS through HAProxy");
    let mut told = [0; 10];
    std::io::Read::read_exact(&mut tls, &mut told).unwrap();
    assert_eq!(
        &told, b"127.0.0.3:",
        "the game port saw the real client too"
    );
}

both_models!(haproxy_wss, haproxy_in_front_of_wss_shows_the_real_client);
