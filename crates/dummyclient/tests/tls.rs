//! `--tls`: the load generator and the lecture client over TLS, against servercore servers
//! with a certificate made at test time. Every byte is verified as over TCP; a run against a
//! certificate the given CA did not sign, for another name, or against a port that is not
//! TLS fails at once with the reason.

mod util;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use gameserver::chat_room::DEFAULT_ROOM_CAPACITY;
use gameserver::chat_service::bind_chat;
use gameserver::game::Game;
use servercore::packet::{Packets, DEFAULT_MAX_PACKET};
use servercore::tls::TlsConfig;
use servercore::websocket::WsConfig;
use servercore::{Model, Service, ServiceConfig};
use testkit::both_models;
use testkit::tls::TestPki;
use util::{count, json_report, run_dummyclient, run_ok, stderr, Echo};

const RUN: Duration = Duration::from_secs(60);

fn tls_config(model: Model, pki: &TestPki) -> ServiceConfig {
    ServiceConfig {
        threads: 2,
        model,
        tls: Some(TlsConfig::from_pem_files(pki.cert_path(), pki.key_path()).unwrap()),
        ..ServiceConfig::default()
    }
}

fn ca(pki: &TestPki) -> String {
    pki.ca_path().display().to_string()
}

/// dummyclient's flags for the server at `addr`, over TLS trusting `ca`, then `more`.
fn tls_args<'a>(addr: &'a str, ca: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--addr", addr, "--tls", "--tls-ca", ca];
    args.extend_from_slice(more);
    args
}

/// A TLS echo server on `model` with `pki`'s certificate; its address.
fn tls_echo_server(model: Model, pki: &TestPki) -> (Service<Echo>, String) {
    let server = Service::bind(loopback(), tls_config(model, pki), |_| Echo).unwrap();
    let addr = server.local_addr().unwrap().to_string();
    (server, addr)
}

/// The client's and the server's loops on `model`: the handshakes the client starts in its
/// loops and the server's stage both run on it.
fn echo_over_tls_verifies_every_byte(model: Model) {
    let pki = TestPki::new();
    let (_server, addr) = tls_echo_server(model, &pki);
    let ca = ca(&pki);
    let model = model.to_string();
    let output = run_ok(
        &tls_args(
            &addr,
            &ca,
            &[
                "--clients",
                "20",
                "--inflight",
                "4",
                "--size",
                "3000",
                "--duration",
                "1",
                "--threads",
                "2",
                "--model",
                &model,
                "--json",
            ],
        ),
        RUN,
    );
    let report = json_report(&output);
    assert_eq!(report["tls"], true, "{report}");
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert!(count(&report, "messages") > 0, "{report}");
    assert_eq!(
        count(&report, "messages"),
        count(&report, "sent"),
        "{report}"
    );
}

both_models!(echo, echo_over_tls_verifies_every_byte);

fn game_server(pki: &TestPki) -> Service<Packets<Game>> {
    let config = tls_config(Model::Auto, pki);
    bind_chat(loopback(), config, DEFAULT_ROOM_CAPACITY, None, |game| {
        Packets::new(game, DEFAULT_MAX_PACKET)
    })
    .unwrap()
    .0
}

#[test]
fn chat_over_tls_and_over_wss_verifies_every_delivery() {
    let pki = TestPki::new();
    let server = game_server(&pki);
    let page = WsConfig::new(DEFAULT_MAX_PACKET).with_page(Bytes::from_static(b"<p>hi</p>"));
    let wss = server.listen_websocket(loopback(), page).unwrap();
    let ca = ca(&pki);
    for (addr, websocket) in [(server.local_addr().unwrap(), false), (wss, true)] {
        let addr = addr.to_string();
        let mut args = vec![
            "--addr",
            &addr,
            "--tls",
            "--tls-ca",
            &ca,
            "--protocol",
            "packet",
            "--scenario",
            "chat",
            "--rooms",
            "3",
            "--clients",
            "12",
            "--duration",
            "1",
            "--threads",
            "2",
            "--json",
        ];
        if websocket {
            args.push("--websocket");
        }
        let report = json_report(&run_ok(&args, RUN));
        assert_eq!(report["tls"], true, "{report}");
        assert_eq!(count(&report, "errors"), 0, "{report}");
        assert!(count(&report, "deliveries") > 0, "{report}");
    }
}

#[test]
fn the_lecture_client_speaks_tls_too() {
    let pki = TestPki::new();
    let (_server, addr) = tls_echo_server(Model::Auto, &pki);
    let ca = ca(&pki);
    let output = run_ok(
        &tls_args(&addr, &ca, &["--count", "2", "--interval-ms", "10"]),
        RUN,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.matches("Recv Data Len = 100: Hello World").count(),
        2,
        "{stdout}"
    );
}

/// Runs dummyclient with `args` and checks it exited with `code`; what it said on stderr.
fn fails(args: &[&str], code: i32) -> String {
    let output = run_dummyclient(args, RUN);
    let said = stderr(&output);
    assert_eq!(output.status.code(), Some(code), "{args:?}: {said}");
    said
}

#[test]
fn a_certificate_that_does_not_verify_fails_the_run_with_the_reason() {
    let pki = TestPki::new();
    let (_server, addr) = tls_echo_server(Model::Auto, &pki);
    let stranger = TestPki::new();
    let cases = [
        (ca(&stranger), "localhost", "UnknownIssuer"),
        (ca(&pki), "game.example", "not valid for name"),
    ];
    for (ca, name, reason) in cases {
        let said = fails(
            &[
                "--addr",
                &addr,
                "--tls",
                "--tls-ca",
                &ca,
                "--tls-name",
                name,
                "--clients",
                "4",
            ],
            1,
        );
        assert!(said.contains(reason), "{said}");
        assert!(said.contains("--tls-ca"), "says what to check: {said}");
    }
}

#[test]
fn tls_to_a_plain_port_or_without_a_ca_is_refused_clearly() {
    let pki = TestPki::new();
    let plain = util::echo_server(1);
    let addr = plain.local_addr().unwrap().to_string();
    let ca = ca(&pki);
    let said = fails(
        &["--addr", &addr, "--tls", "--tls-ca", &ca, "--clients", "2"],
        1,
    );
    assert!(said.contains("TLS port"), "{said}");
    let said = fails(&["--addr", &addr, "--tls", "--clients", "2"], 2);
    assert!(said.contains("--tls-ca"), "a usage error: {said}");
    let nowhere = pki.dir().join("no-such-ca.pem").display().to_string();
    let said = fails(
        &[
            "--addr",
            &addr,
            "--tls",
            "--tls-ca",
            &nowhere,
            "--clients",
            "2",
        ],
        2,
    );
    assert!(said.contains("no-such-ca.pem"), "{said}");
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}
