//! Load mode against a correct in-process servercore echo server: no errors, messages flow.

mod util;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dummyclient::wire::Protocol;
use util::{clean_closed_loop_run, count, echo_server, json_report, run_ok, stderr};

#[test]
fn closed_loop_against_echo_has_no_errors() {
    let server = echo_server(1);
    let report = clean_closed_loop_run(server.local_addr().unwrap(), Protocol::Raw);
    assert!(
        report.p50_us > 0 && report.p50_us <= report.max_us,
        "{report}"
    );
    // The server sees the clients' FIN a moment after the run returns.
    let until = Instant::now() + Duration::from_secs(5);
    while server.live_sessions() > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        server.live_sessions(),
        0,
        "the clients closed their connections"
    );
    server.stop();
}

#[test]
fn json_report_has_every_field_and_exit_code_zero() {
    let server = echo_server(1);
    let addr = server.local_addr().unwrap().to_string();
    let args = [
        "--addr",
        &addr,
        "--clients",
        "5",
        "--inflight",
        "2",
        "--duration",
        "0.5",
        "--threads",
        "1",
        "--json",
    ];
    let output = run_ok(&args, Duration::from_secs(20));
    let report = json_report(&output);
    for key in [
        "messages",
        "msgs_per_sec",
        "mb_per_sec",
        "p50_us",
        "p90_us",
        "p99_us",
        "p999_us",
        "max_us",
        "errors",
        "corrupt",
        "out_of_order",
        "lost",
        "disconnects",
        "connect_failures",
        "late_sends",
        "clients",
        "size",
        "duration_secs",
    ] {
        assert!(report.get(key).is_some(), "{key} missing from {report}");
    }
    assert!(count(&report, "messages") > 0, "{report}");
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert_eq!(count(&report, "clients"), 5);
    assert!(report["msgs_per_sec"].as_f64().unwrap() > 0.0);
    server.stop();
}

#[test]
fn human_report_names_its_figures() {
    let server = echo_server(1);
    let addr = server.local_addr().unwrap().to_string();
    let args = [
        "--addr",
        &addr,
        "--clients",
        "3",
        "--duration",
        "0.3",
        "--threads",
        "1",
    ];
    let output = run_ok(&args, Duration::from_secs(20));
    let text = String::from_utf8_lossy(&output.stdout);
    for word in ["msgs/s", "MB/s", "p50", "p99.9", "max", "PASS"] {
        assert!(text.contains(word), "{word:?} missing from:\n{text}");
    }
    // Error kinds are table rows: `[section] figure value`.
    for figure in ["corrupt", "lost"] {
        let value = text
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.len() >= 2 && w[w.len() - 2] == figure)
            .and_then(|w| w.last().map(|v| v.to_string()));
        assert_eq!(value.as_deref(), Some("0"), "{figure} row:\n{text}");
    }
    server.stop();
}

#[test]
#[cfg_attr(
    windows,
    ignore = "sends SIGINT with kill(1): Windows cannot send its Ctrl-C to one child process alone"
)]
fn sigint_ends_the_run_early_with_a_report() {
    let server = echo_server(1);
    let addr = server.local_addr().unwrap().to_string();
    let child = Command::new(env!("CARGO_BIN_EXE_dummyclient"))
        .args([
            "--addr",
            &addr,
            "--clients",
            "2",
            "--duration",
            "60",
            "--threads",
            "1",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(700));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let output = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("dummyclient stops after SIGINT")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(output.status.success(), "stderr:\n{}", stderr(&output));
    let report = json_report(&output);
    assert!(count(&report, "messages") > 0, "{report}");
    assert!(report["duration_secs"].as_f64().unwrap() < 5.0, "{report}");
    server.stop();
}
