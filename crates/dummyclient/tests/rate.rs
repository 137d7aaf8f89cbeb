//! Open loop: `--rate` sends about the asked total, not more.

mod util;

use std::time::Duration;

use util::{count, echo_server, json_report, run_dummyclient, stderr};

#[test]
fn rate_achieves_roughly_the_asked_total() {
    let server = echo_server(1);
    let addr = server.local_addr().unwrap().to_string();
    let (rate, secs) = (2000.0, 2.0);
    let args = [
        "--addr",
        &addr,
        "--clients",
        "10",
        "--rate",
        "2000",
        "--duration",
        "2",
        "--threads",
        "1",
        "--json",
    ];
    let output = run_dummyclient(&args, Duration::from_secs(30));
    assert!(output.status.success(), "stderr:\n{}", stderr(&output));
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
