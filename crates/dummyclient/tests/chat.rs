//! The chat scenario (`--scenario chat`) against gameserver's rooms, in process: every member
//! gets every chat of its room exactly once, in per-sender order; and the flags and the
//! barrier refuse what cannot work.

mod util;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use dummyclient::load::{self, LoadConfig};
use util::{count, echo_server, game_server, json_report, run_dummyclient, run_ok, stderr};

#[test]
fn thirty_clients_in_three_rooms_get_every_chat_once() {
    let server = game_server(2);
    let config = LoadConfig {
        duration: Duration::from_secs(1),
        threads: 2, // members of one room on both loops
        connect_timeout: Duration::from_secs(5),
        ..LoadConfig::chat(server.local_addr().unwrap().to_string(), 30, 3, 10)
    };
    let report = load::run(&config, &AtomicBool::new(false)).expect("run completes");
    assert!(report.passed(), "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert!(report.sent >= 240, "about 300 chats in 1 s: {report}");
    // After the drain every delivery owed has arrived: each chat to all 10 of its room.
    assert_eq!(report.deliveries, report.sent * 10, "{report}");
    assert_eq!(report.messages, report.deliveries, "{report}");
    assert_eq!(report.lost, 0, "{report}");
    assert!(
        report.p50_us <= report.p99_us && report.p99_us <= report.max_us,
        "{report}"
    );
    server.stop();
}

#[test]
fn chat_json_names_the_scenario_and_its_figures() {
    let server = game_server(1);
    let addr = server.local_addr().unwrap().to_string();
    let args = [
        "--addr",
        &addr,
        "--protocol",
        "packet",
        "--scenario",
        "chat",
        "--clients",
        "8",
        "--rooms",
        "2",
        "--chat-rate",
        "20",
        "--duration",
        "0.5",
        "--threads",
        "1",
        "--json",
    ];
    let output = run_ok(&args, Duration::from_secs(20));
    let report = json_report(&output);
    assert_eq!(report["scenario"], "chat", "{report}");
    assert_eq!(count(&report, "rooms"), 2, "{report}");
    for key in ["deliveries_per_sec", "sends_per_sec", "p999_us"] {
        assert!(report[key].is_number(), "{key} missing from {report}");
    }
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert_eq!(
        count(&report, "deliveries"),
        count(&report, "sent") * 4,
        "{report}"
    );
    server.stop();
}

#[test]
fn human_chat_report_names_deliveries_and_fan_out() {
    let server = game_server(1);
    let addr = server.local_addr().unwrap().to_string();
    let args = [
        "--addr",
        &addr,
        "--protocol",
        "packet",
        "--scenario",
        "chat",
        "--clients",
        "4",
        "--duration",
        "0.3",
        "--threads",
        "1",
    ];
    let output = run_ok(&args, Duration::from_secs(20));
    let text = String::from_utf8_lossy(&output.stdout);
    for word in ["1 rooms", "deliveries/s", "sends/s", "fan-out µs", "PASS"] {
        assert!(text.contains(word), "{word:?} missing from:\n{text}");
    }
    let row = |figure: &str| {
        text.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.len() >= 2 && w[w.len() - 2] == figure)
            .and_then(|w| w.last().map(|v| v.to_string()))
    };
    assert_eq!(row("duplicates").as_deref(), Some("0"), "{text}");
    server.stop();
}

#[test]
fn chat_against_a_raw_echo_server_never_gets_into_a_room() {
    let server = echo_server(1);
    let addr = server.local_addr().unwrap().to_string();
    let args = [
        "--addr",
        &addr,
        "--protocol",
        "packet",
        "--scenario",
        "chat",
        "--clients",
        "2",
        "--duration",
        "0.3",
        "--threads",
        "1",
        "--connect-timeout",
        "0.5",
    ];
    let output = run_dummyclient(&args, Duration::from_secs(20));
    assert_eq!(
        output.status.code(),
        Some(1),
        "stderr:\n{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("ROOM_JOINED"),
        "{}",
        stderr(&output)
    );
    server.stop();
}

#[test]
fn chat_flags_belong_to_the_chat_scenario() {
    let bad: [&[&str]; 4] = [
        &["--clients", "2", "--rooms", "3"],
        &["--clients", "2", "--scenario", "chat"],
        &[
            "--clients",
            "2",
            "--protocol",
            "packet",
            "--scenario",
            "chat",
            "--inflight",
            "2",
        ],
        &[
            "--clients",
            "2",
            "--protocol",
            "packet",
            "--scenario",
            "chat",
            "--size",
            "70000",
        ],
    ];
    for args in bad {
        let output = run_dummyclient(args, Duration::from_secs(20));
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}
