//! `--auth-secret` against gameserver's login (issue 26): every client signs in with a token
//! of its own (player dummy-N) and the load run verifies every byte as without tokens; a run
//! without the secret fails naming UNAUTHENTICATED and the flag to add; `--interactive` signs
//! in as `--name`.

mod util;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use gameserver::game::Game;
use gameserver::login::{Gate, Login};
use servercore::packet::Packets;
use servercore::Service;
use util::{count, gated_chat, json_report, run_dummyclient, run_ok, stderr};

const SECRET: &[u8] = b"the load test's token secret, 32+ bytes";

/// gameserver's chat behind a login checking tokens signed with [`SECRET`].
fn auth_server() -> (Service<Packets<Gate<Game>>>, Arc<Login>) {
    gated_chat(SECRET, 1, None)
}

fn secret_file(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.secret"));
    std::fs::write(&path, SECRET).expect("write the secret");
    path
}

fn load_args<'a>(addr: &'a str, scenario: &'a str) -> Vec<&'a str> {
    vec![
        "--addr",
        addr,
        "--protocol",
        "packet",
        "--scenario",
        scenario,
        "--clients",
        "6",
        "--duration",
        "1",
        "--threads",
        "1",
        "--json",
    ]
}

#[test]
fn every_client_signs_in_and_every_byte_is_verified() {
    let (server, login) = auth_server();
    let addr = server.local_addr().unwrap().to_string();
    let secret = secret_file("load-auth");
    for (scenario, ok) in [("echo", 6), ("chat", 12)] {
        let mut args = load_args(&addr, scenario);
        args.extend(["--auth-secret", secret.to_str().unwrap()]);
        let report = json_report(&run_ok(&args, Duration::from_secs(60)));
        assert_eq!(count(&report, "errors"), 0, "{scenario}: {report}");
        assert!(count(&report, "messages") > 0, "{scenario}: {report}");
        assert_eq!(
            login.stats().get("ok"),
            ok,
            "{scenario}: one login per client"
        );
    }
    assert_eq!(
        login.stats().get("replaced"),
        0,
        "each client its own player"
    );
    server.stop();
}

#[test]
fn without_the_secret_the_run_fails_saying_which_flag() {
    let (server, login) = auth_server();
    let addr = server.local_addr().unwrap().to_string();
    let output = run_dummyclient(&load_args(&addr, "chat"), Duration::from_secs(60));
    let report = json_report(&output);
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(
        report["disconnect_reasons"]["unauthenticated"], 6,
        "{report}"
    );
    assert!(stderr.contains("--auth-secret"), "{stderr}");
    assert_eq!(login.stats().get("not_hello_first"), 6);
    server.stop();
}

#[test]
fn interactive_signs_in_as_its_name() {
    let (server, _login) = auth_server();
    let addr = server.local_addr().unwrap().to_string();
    let secret = secret_file("interactive-auth");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dummyclient"))
        .args(["--addr", &addr, "--protocol", "packet", "--interactive"])
        .args(["--name", "alice", "--room", "2", "--auth-secret"])
        .arg(&secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dummyclient starts");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "hello").unwrap();
    drop(stdin); // end of input: the client half-closes and prints the rest
    let output = child.wait_with_output().expect("dummyclient ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", stderr(&output));
    let lines: Vec<&str> = stdout.lines().collect();
    for want in [
        "* signed in as alice",
        "* joined room 2 (1 members)",
        "<alice> hello",
    ] {
        assert!(lines.contains(&want), "{want:?} in {stdout}");
    }
    server.stop();
}
