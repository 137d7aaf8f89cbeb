//! The chat verifier catches a server that drops one broadcast delivery, or sends one twice.

mod util;

use std::time::Duration;

use util::chat_server::{broken_chat_server, ChatFault};
use util::{count, json_report, run_dummyclient};

/// Runs a short chat (6 clients, 2 rooms, 20 chats/s each: about 360 deliveries a second)
/// against `addr`; returns the exit code and the JSON report.
fn chat_run(addr: &str) -> (Option<i32>, serde_json::Value) {
    let args = [
        "--addr",
        addr,
        "--protocol",
        "packet",
        "--scenario",
        "chat",
        "--clients",
        "6",
        "--rooms",
        "2",
        "--chat-rate",
        "20",
        "--duration",
        "1",
        "--threads",
        "1",
        "--json",
    ];
    let output = run_dummyclient(&args, Duration::from_secs(20));
    (output.status.code(), json_report(&output))
}

#[test]
fn a_dropped_broadcast_is_lost_and_fails_the_run() {
    let addr = broken_chat_server(ChatFault::Drop(50)).to_string();
    let (code, report) = chat_run(&addr);
    assert_eq!(code, Some(2), "{report}");
    assert_eq!(count(&report, "lost"), 1, "{report}");
    assert_eq!(
        count(&report, "out_of_order"),
        1,
        "the next one skips it: {report}"
    );
    assert_eq!(count(&report, "duplicates"), 0, "{report}");
    assert_eq!(count(&report, "corrupt"), 0, "{report}");
    assert_eq!(
        count(&report, "deliveries"),
        count(&report, "sent") * 3 - 1,
        "{report}"
    );
}

#[test]
fn a_duplicated_broadcast_is_caught_and_fails_the_run() {
    let addr = broken_chat_server(ChatFault::Duplicate(50)).to_string();
    let (code, report) = chat_run(&addr);
    assert_eq!(code, Some(2), "{report}");
    assert_eq!(count(&report, "duplicates"), 1, "{report}");
    assert_eq!(count(&report, "lost"), 0, "{report}");
    assert_eq!(count(&report, "out_of_order"), 0, "{report}");
    assert_eq!(
        count(&report, "deliveries"),
        count(&report, "sent") * 3 + 1,
        "{report}"
    );
}
