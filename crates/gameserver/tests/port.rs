//! A port is never shared silently (issue 28): a second `gameserver` on the port of a running
//! one refuses to start and says another process holds the port; `--websocket` on the game
//! port is a usage error; with `--reuse-port` on both, the second starts beside the first (a
//! hand-over) and both serve.

mod util;

use std::process::{Command, Output, Stdio};

use servercore::Model;
use testkit::{connect, pattern, read_n};
use util::process::Gameserver;

/// Runs `gameserver` with `args` to completion (it is expected to refuse to start).
fn run_refused(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gameserver"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .expect("run gameserver")
}

/// Echoes a few bytes through `server` (raw mode).
fn echoes(server: &Gameserver) {
    let mut client = connect(server.addr);
    let data = pattern(28, 100);
    std::io::Write::write_all(&mut client, &data).expect("send");
    assert_eq!(read_n(&mut client, data.len()).expect("echo"), data);
}

#[test]
fn a_second_server_on_the_port_refuses_to_start_and_names_it() {
    let first = Gameserver::start(Model::Epoll, &[]);
    let port = first.addr.port().to_string();
    // On Linux the wildcard address is refused too (BSD's SO_REUSEADDR lets a wildcard bind
    // beside a specific address).
    let binds: &[&str] = if cfg!(target_os = "linux") {
        &["127.0.0.1", "0.0.0.0"]
    } else {
        &["127.0.0.1"]
    };
    for &bind in binds {
        let output = run_refused(&["--bind", bind, "--port", &port, "--model", "epoll"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(!stdout.contains(" ready "), "{stdout}");
        assert!(stderr.contains(&format!("port {port} ")), "{stderr}");
        assert!(stderr.contains("another process"), "{stderr}");
        assert!(stderr.contains("--reuse-port"), "{stderr}");
    }
    echoes(&first); // the first is untouched
}

#[test]
fn websocket_on_the_game_port_is_a_usage_error() {
    for (bind, ws) in [
        ("0.0.0.0", "127.0.0.1:7777"),
        ("127.0.0.1", "127.0.0.1:7777"),
        ("127.0.0.1", "0.0.0.0:7777"),
    ] {
        let args = [
            "--bind",
            bind,
            "--port",
            "7777",
            "--protocol",
            "packet",
            "--websocket",
            ws,
        ];
        let output = run_refused(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: --websocket"), "{stderr}");
        assert!(stderr.contains("game port"), "{stderr}");
    }
}

#[test]
fn a_running_servers_port_is_refused_to_its_websocket_listener_too() {
    let first = Gameserver::start(Model::Epoll, &["--protocol", "packet"]);
    let ws = format!("127.0.0.1:{}", first.addr.port());
    // Another process's --websocket on the game port of the first: the library refuses it.
    let output = run_refused(&["--port", "0", "--protocol", "packet", "--websocket", &ws]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot listen for websocket"), "{stderr}");
    assert!(
        stderr.contains(&format!("port {} ", first.addr.port())),
        "{stderr}"
    );
}

#[test]
#[cfg_attr(
    windows,
    ignore = "Windows has no SO_REUSEPORT: --reuse-port is refused there (reuse_port_is_refused_on_windows)"
)]
fn reuse_port_on_both_hands_the_port_over() {
    let first = Gameserver::start(Model::Epoll, &["--reuse-port"]);
    let second = Gameserver::start_on(Model::Epoll, first.addr.port(), &["--reuse-port"]);
    assert_eq!(second.addr, first.addr);
    echoes(&second);
    drop(first); // the old one goes: the new one takes every connection
    for _ in 0..10 {
        echoes(&second);
    }
}

#[cfg(windows)]
#[test]
fn reuse_port_is_refused_on_windows() {
    let output = run_refused(&["--port", "0", "--reuse-port"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("SO_REUSEPORT"), "{stderr}");
}
