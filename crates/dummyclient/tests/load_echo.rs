//! Load mode against a correct in-process servercore echo server: no errors, messages flow.

mod util;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use dummyclient::load::{self, LoadConfig, Pacing};
use util::{count, echo_server, json_report, run_dummyclient, stderr};

#[test]
fn closed_loop_against_echo_has_no_errors() {
    let server = echo_server(1);
    let config = LoadConfig {
        size: 100,
        pacing: Pacing::Closed { inflight: 4 },
        duration: Duration::from_secs(1),
        threads: 1,
        connect_timeout: Duration::from_secs(5),
        ..LoadConfig::new(server.local_addr().unwrap().to_string(), 20)
    };
    let report = load::run(&config, &AtomicBool::new(false)).expect("run completes");
    assert!(report.passed(), "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert!(report.messages > 1000, "{report}");
    assert_eq!(
        report.messages, report.sent,
        "every message sent was echoed: {report}"
    );
    assert!(
        report.p50_us > 0 && report.p50_us <= report.max_us,
        "{report}"
    );
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
    let output = run_dummyclient(&args, Duration::from_secs(20));
    assert!(
        output.status.success(),
        "status {:?}, stderr:\n{}",
        output.status,
        stderr(&output)
    );
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
    let output = run_dummyclient(&args, Duration::from_secs(20));
    assert!(output.status.success(), "stderr:\n{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    for word in [
        "msgs/s",
        "MB/s",
        "p50",
        "p99.9",
        "max",
        "corrupt 0",
        "lost 0",
        "PASS",
    ] {
        assert!(text.contains(word), "{word:?} missing from:\n{text}");
    }
    server.stop();
}
