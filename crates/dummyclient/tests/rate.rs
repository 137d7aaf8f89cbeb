//! Open loop: `--rate` sends about the asked total, not more.

mod util;

use std::time::Duration;

use util::{count, echo_server, json_report, run_dummyclient, run_ok, stalling_server, stderr};

/// An open-loop JSON run of `clients` clients at `rate` msgs/s in total for `secs` seconds
/// on one client loop, then `extra`.
fn open_loop<'a>(
    addr: &'a str,
    clients: &'a str,
    rate: &'a str,
    secs: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "--addr",
        addr,
        "--clients",
        clients,
        "--rate",
        rate,
        "--duration",
        secs,
        "--threads",
        "1",
        "--json",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn rate_achieves_roughly_the_asked_total() {
    let server = echo_server(1);
    let addr = server.local_addr().unwrap().to_string();
    let (rate, secs) = (2000.0, 2.0);
    let args = open_loop(&addr, "10", "2000", "2", &[]);
    let output = run_ok(&args, Duration::from_secs(30));
    let report = json_report(&output);
    let messages = count(&report, "messages") as f64;
    let sent = count(&report, "sent") as f64;
    assert!(
        messages >= 0.5 * rate * secs,
        "only {messages} of {} asked: {report}",
        rate * secs
    );
    // Paced, not as fast as possible: never more than the schedule (+ slack for timing).
    let duration = report["duration_secs"].as_f64().unwrap();
    assert!(
        sent <= rate * duration * 1.05 + 10.0,
        "{sent} sent in {duration} s at {rate}/s: {report}"
    );
    assert_eq!(count(&report, "errors"), 0, "{report}");
    server.stop();
}

#[test]
fn a_stalled_server_makes_late_sends_not_a_burst() {
    // Each client owes at most max(16, its rate share for 1 s) = 500 messages; the server
    // reads nothing for 1.5 s, so about 1 s of each client's schedule is skipped as late.
    let addr = stalling_server(Duration::from_millis(1500)).to_string();
    let args = open_loop(&addr, "2", "1000", "3", &[]);
    let output = run_dummyclient(&args, Duration::from_secs(30));
    assert!(
        output.status.success(),
        "late sends are not errors; stderr:\n{}",
        stderr(&output)
    );
    let report = json_report(&output);
    let late = count(&report, "late_sends") as f64;
    let sent = count(&report, "sent") as f64;
    let scheduled = 1000.0 * report["duration_secs"].as_f64().unwrap();
    assert!(late >= 200.0, "{report}");
    assert!(
        sent <= 0.9 * scheduled,
        "the skipped sends were not sent later in a burst: {report}"
    );
    assert!(
        ((sent + late) - scheduled).abs() <= 0.05 * scheduled + 10.0,
        "every slot sent or late: {report}"
    );
    assert_eq!(count(&report, "errors"), 0, "{report}");
}

#[test]
fn send_batch_holds_due_messages_and_loses_none() {
    // 10 clients at 200/s each: a client's slots are 5 ms apart, so a 20 ms hold sends four
    // at a time, and every message waits at least 5 ms (the newest of its batch) before it
    // leaves: that is a floor, which a loaded machine can only raise.
    let server = echo_server(1);
    let addr = server.local_addr().unwrap().to_string();
    let args = open_loop(&addr, "10", "2000", "2", &["--send-batch-ms", "20"]);
    let report = json_report(&run_ok(&args, Duration::from_secs(30)));
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert_eq!(report["send_batch_ms"].as_f64(), Some(20.0), "{report}");
    assert!(count(&report, "messages") >= 1000, "{report}");
    assert!(
        count(&report, "p50_us") >= 5000,
        "messages were not held: {report}"
    );
    server.stop();
}
