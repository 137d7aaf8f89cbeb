//! `--websocket`: the echo and chat scenarios over WebSocket, verified as over TCP, against a
//! test server built on `servercore::websocket` (tests/ws_server). The server pings every
//! client and fragments every third packet around a ping, so the client's handshake, masked
//! frames, fragment reassembly and pongs are all exercised.

mod util;
mod ws_server;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use dummyclient::load::{self, LoadConfig, LoadError, Pacing};
use dummyclient::wire::Protocol;
use util::{count, json_report, run_dummyclient, run_ok, stderr};
use ws_server::WsTestServer;

const PAGE: &[u8] = b"<!doctype html><title>test</title>";

fn ws_config(config: LoadConfig) -> LoadConfig {
    LoadConfig {
        websocket: true,
        duration: Duration::from_millis(800),
        threads: 2,
        connect_timeout: Duration::from_secs(30),
        ..config
    }
}

#[test]
fn echo_over_websocket_verifies_every_packet() {
    let server = WsTestServer::start(PAGE);
    let config = ws_config(LoadConfig {
        protocol: Protocol::Packet,
        pacing: Pacing::Closed { inflight: 2 },
        ..LoadConfig::new(server.addr().to_string(), 6)
    });
    let report = load::run(&config, &AtomicBool::new(false)).expect("run completes");
    assert!(report.passed(), "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert!(report.messages > 0, "{report}");
    assert_eq!(report.info.protocol, "websocket", "{report}");
    assert_eq!(server.handshakes(), 6);
    assert_eq!(server.refused(), 0, "the server saw no protocol error");
    server.stop();
}

#[test]
fn chat_over_websocket_delivers_every_chat_once() {
    let server = WsTestServer::start(PAGE);
    let config = ws_config(LoadConfig::chat(server.addr().to_string(), 12, 2, 20));
    let report = load::run(&config, &AtomicBool::new(false)).expect("run completes");
    assert!(report.passed(), "{report}");
    assert_eq!(report.errors, 0, "{report}");
    // Each chat reaches the 6 members of its room, its sender included.
    assert_eq!(report.deliveries, report.sent * 6, "{report}");
    assert_eq!(report.lost, 0, "{report}");
    assert_eq!(server.refused(), 0);
    // Every client answered the server's ping after the handshake and those between
    // fragments; the pongs arrive asynchronously, so wait for them (generously).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.pongs() < 12 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(server.pongs() >= 12, "pongs: {}", server.pongs());
    server.stop();
}

#[test]
fn a_server_that_refuses_the_upgrade_fails_the_run_with_a_clear_error() {
    // A plain TCP echo server answers the request with the request itself: not a 101.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let echo = std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut reader = stream.try_clone().unwrap();
            let _ = std::io::copy(&mut reader, &mut stream);
        }
    });
    let config = ws_config(LoadConfig {
        protocol: Protocol::Packet,
        connect_timeout: Duration::from_secs(30),
        ..LoadConfig::new(addr.to_string(), 1)
    });
    let err = load::run(&config, &AtomicBool::new(false)).unwrap_err();
    assert!(matches!(err, LoadError::Handshake(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("handshake"), "{err}");
    assert!(text.contains("echoed back: a raw echo server"), "{err}");
    assert!(text.contains("Is this the WebSocket port?"), "{err}");
    drop(echo); // ends when the client's socket closes
}

#[test]
fn websocket_against_the_game_port_says_it_is_not_the_websocket_port() {
    // gameserver's packet port closes an HTTP request as a bad packet, without an answer.
    let server = util::game_server(1);
    let addr = server.local_addr().unwrap().to_string();
    let args = [
        "--addr",
        &addr,
        "--protocol",
        "packet",
        "--websocket",
        "--clients",
        "1",
        "--duration",
        "0.2",
    ];
    let output = run_dummyclient(&args, Duration::from_secs(30));
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("closed the connection without answering the upgrade request"),
        "{stderr}"
    );
    assert!(stderr.contains("Is this the WebSocket port?"), "{stderr}");
    server.stop();
}

#[test]
fn websocket_needs_the_packet_protocol() {
    let config = LoadConfig {
        websocket: true,
        ..LoadConfig::new("127.0.0.1:9", 1)
    };
    let err = config.validate().unwrap_err();
    assert!(err.contains("--websocket needs --protocol packet"), "{err}");
}

#[test]
fn the_websocket_flag_runs_chat_from_the_command_line() {
    let server = WsTestServer::start(PAGE);
    let addr = server.addr().to_string();
    let args = [
        "--addr",
        &addr,
        "--protocol",
        "packet",
        "--websocket",
        "--scenario",
        "chat",
        "--clients",
        "4",
        "--rooms",
        "1",
        "--duration",
        "0.5",
        "--threads",
        "1",
        "--json",
    ];
    let report = json_report(&run_ok(&args, Duration::from_secs(60)));
    assert_eq!(report["protocol"], "websocket", "{report}");
    // No error, and each chat reached all 4 members.
    let (errors, deliveries) = (count(&report, "errors"), count(&report, "deliveries"));
    assert_eq!(
        (errors, deliveries),
        (0, count(&report, "sent") * 4),
        "{report}"
    );
    server.stop();

    let raw = run_dummyclient(&["--websocket", "--clients", "1"], Duration::from_secs(60));
    assert_eq!(raw.status.code(), Some(2), "a usage error");
    assert!(
        stderr(&raw).contains("--websocket needs --protocol packet"),
        "{}",
        stderr(&raw)
    );
}

/// The chat scenario over WebSocket against gameserver's own rooms and its real WebSocket
/// listener (`Service::listen_websocket`): every member gets every chat of its room once,
/// as over TCP.
#[test]
fn chat_over_websocket_against_gameserver() {
    let server = util::game_server(2);
    let ws_addr = server
        .listen_websocket(
            "127.0.0.1:0".parse().unwrap(),
            servercore::websocket::WsConfig::new(4096),
        )
        .unwrap();
    let config = ws_config(LoadConfig {
        duration: Duration::from_secs(1),
        ..LoadConfig::chat(ws_addr.to_string(), 30, 3, 10)
    });
    let report = load::run(&config, &AtomicBool::new(false)).expect("run completes");
    assert!(report.passed(), "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert!(report.sent > 0, "{report}");
    assert_eq!(report.deliveries, report.sent * 10, "{report}");
    assert_eq!(report.lost, 0, "{report}");
    server.stop();
}
