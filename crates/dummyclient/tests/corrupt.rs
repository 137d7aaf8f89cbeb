//! The verifier catches a server that corrupts its echo.

mod util;

use std::time::Duration;

use util::{count, json_report, mangling_server, run_dummyclient, Mangle};

#[test]
fn flipped_byte_is_reported_corrupt_and_fails_the_run() {
    let addr = mangling_server(64, Mangle::FlipEvery(50)).to_string();
    let args = [
        "--addr",
        &addr,
        "--clients",
        "4",
        "--inflight",
        "4",
        "--size",
        "64",
        "--duration",
        "1",
        "--threads",
        "1",
        "--json",
    ];
    let output = run_dummyclient(&args, Duration::from_secs(20));
    let report = json_report(&output);
    assert_eq!(
        output.status.code(),
        Some(2),
        "a corrupt echo fails the run: {report}"
    );
    assert!(count(&report, "corrupt") > 0, "{report}");
    assert!(
        count(&report, "errors") >= count(&report, "corrupt"),
        "{report}"
    );
    assert!(
        count(&report, "messages") > 0,
        "intact echoes still verify: {report}"
    );
}

#[test]
fn flipped_byte_fails_the_human_report_too() {
    let addr = mangling_server(40, Mangle::FlipEvery(3)).to_string();
    let args = [
        "--addr",
        &addr,
        "--clients",
        "2",
        "--size",
        "40",
        "--duration",
        "0.5",
        "--threads",
        "1",
    ];
    let output = run_dummyclient(&args, Duration::from_secs(20));
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("FAIL"), "{text}");
    assert!(
        util::stderr(&output).contains("FAILED"),
        "{}",
        util::stderr(&output)
    );
}
