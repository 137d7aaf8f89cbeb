//! Lecture mode: the lecture's DummyClient, Hello World and its echo.

mod util;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use util::{closed_port, echo_server, mangling_server, run_dummyclient, stderr, Mangle};

#[test]
fn count_two_prints_two_send_and_recv_lines() {
    let server = echo_server(1);
    let addr = server.local_addr().unwrap().to_string();
    let output = run_dummyclient(
        &["--addr", &addr, "--count", "2", "--interval-ms", "50"],
        Duration::from_secs(20),
    );
    assert!(output.status.success(), "stderr:\n{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("Connected to Server!"), "{text}");
    assert_eq!(
        text.lines().filter(|l| *l == "Send Data Len = 100").count(),
        2,
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| *l == "Recv Data Len = 100: Hello World")
            .count(),
        2,
        "{text}"
    );
    server.stop();
}

#[test]
fn an_echo_that_differs_is_an_error_even_where_the_print_hides_it() {
    // The third echo has byte 14 inverted: padding, past the greeting's terminating zero, so
    // its line still reads "Hello World".
    let addr = mangling_server(100, Mangle::FlipEvery(3)).to_string();
    let output = run_dummyclient(
        &["--addr", &addr, "--count", "5", "--interval-ms", "10"],
        Duration::from_secs(20),
    );
    assert!(!output.status.success(), "a corrupt echo was accepted");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        text.lines()
            .filter(|l| *l == "Recv Data Len = 100: Hello World")
            .count(),
        3,
        "{text}"
    );
    assert!(
        stderr(&output).contains("echo 3 differs from what was sent at byte 14: 0xff, sent 0x00"),
        "{}",
        stderr(&output)
    );
}

/// The server starts only once the client has said it waits (its first connect was
/// refused), not after a fixed delay: a client slow to start (a busy machine, Wine) would
/// otherwise find the server up already and never wait.
#[test]
fn waits_for_a_server_that_starts_late() {
    let addr = closed_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dummyclient"))
        .args([
            "--addr",
            &addr.to_string(),
            "--count",
            "1",
            "--interval-ms",
            "10",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dummyclient starts");
    let (lines_tx, lines) = mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        stdout
            .lines()
            .map_while(Result::ok)
            .try_for_each(|l| lines_tx.send(l))
    });
    let step = Duration::from_secs(20);
    let mut text = String::new();
    let mut next_line = |text: &mut String| {
        let line = lines.recv_timeout(step).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("no more output within {step:?}:\n{text}")
        });
        text.push_str(&line);
        text.push('\n');
        line
    };
    while !next_line(&mut text).starts_with(&format!("Waiting for server at {addr}")) {}
    let config = servercore::ServiceConfig {
        threads: 1,
        ..Default::default()
    };
    let service =
        servercore::Service::bind(addr, config, |_| util::Echo).expect("bind the released port");
    while next_line(&mut text) != "Recv Data Len = 100: Hello World" {}
    assert!(child.wait().unwrap().success(), "{text}");
    service.stop();
}

#[test]
fn lecture_flags_conflict_with_load_mode() {
    let output = run_dummyclient(&["--count", "2", "--clients", "3"], Duration::from_secs(10));
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("cannot be used with"),
        "{}",
        stderr(&output)
    );
}
