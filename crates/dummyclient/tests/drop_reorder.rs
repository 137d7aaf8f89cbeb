//! The verifier catches a server that drops or reorders messages.

mod util;

use std::time::Duration;

use util::{count, json_report, mangling_server, run_dummyclient, Mangle};

#[test]
fn dropped_messages_are_lost_and_out_of_order() {
    let addr = mangling_server(48, Mangle::DropEvery(20)).to_string();
    // Open loop, so a dropped message does not stall its client.
    let args = [
        "--addr",
        &addr,
        "--clients",
        "4",
        "--rate",
        "2000",
        "--size",
        "48",
        "--duration",
        "1",
        "--threads",
        "1",
        "--json",
    ];
    let output = run_dummyclient(&args, Duration::from_secs(20));
    let report = json_report(&output);
    assert_eq!(output.status.code(), Some(2), "{report}");
    let lost = count(&report, "lost");
    assert!(lost > 0, "{report}");
    assert!(
        count(&report, "out_of_order") > 0,
        "a gap is out of order: {report}"
    );
    assert_eq!(
        count(&report, "corrupt"),
        0,
        "dropping corrupts nothing: {report}"
    );
    // About one in 20 of the messages sent.
    let sent = count(&report, "sent");
    assert!(
        lost * 10 < sent && lost * 40 > sent,
        "lost {lost} of {sent}: {report}"
    );
}

#[test]
fn swapped_messages_are_out_of_order() {
    let addr = mangling_server(32, Mangle::SwapPairs).to_string();
    let args = [
        "--addr",
        &addr,
        "--clients",
        "2",
        "--inflight",
        "4",
        "--size",
        "32",
        "--duration",
        "0.5",
        "--threads",
        "1",
        "--json",
    ];
    let output = run_dummyclient(&args, Duration::from_secs(20));
    let report = json_report(&output);
    assert_eq!(output.status.code(), Some(2), "{report}");
    assert!(count(&report, "out_of_order") > 0, "{report}");
    assert_eq!(count(&report, "corrupt"), 0, "{report}");
    assert!(count(&report, "messages") > 0, "{report}");
}
