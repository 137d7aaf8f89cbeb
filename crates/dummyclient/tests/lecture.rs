//! Lecture mode: the lecture's DummyClient, Hello World and its echo.

mod util;

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

#[test]
fn waits_for_a_server_that_starts_late() {
    let addr = closed_port();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let config = servercore::ServiceConfig {
            threads: 1,
            ..Default::default()
        };
        let service = servercore::Service::bind(addr, config, |_| util::Echo)
            .expect("bind the released port");
        let _ = done_rx.recv_timeout(Duration::from_secs(10));
        service.stop();
    });
    let output = run_dummyclient(
        &[
            "--addr",
            &addr.to_string(),
            "--count",
            "1",
            "--interval-ms",
            "10",
        ],
        Duration::from_secs(10),
    );
    assert!(output.status.success(), "stderr:\n{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains(&format!("Waiting for server at {addr}")),
        "{text}"
    );
    assert!(text.contains("Recv Data Len = 100: Hello World"), "{text}");
    drop(done_tx);
    server.join().unwrap();
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
