//! Echo over packets (`--protocol packet`) against gameserver's packet game, in process: every
//! ECHO packet comes back verified, in closed and in open loop.

mod util;

use std::time::Duration;

use dummyclient::wire::Protocol;
use util::{clean_closed_loop_run, count, game_server, json_report, run_ok};

#[test]
fn closed_loop_packet_echo_has_no_errors() {
    let server = game_server(1);
    let report = clean_closed_loop_run(server.local_addr().unwrap(), Protocol::Packet);
    assert_eq!(report.deliveries, report.messages, "{report}");
    assert_eq!(report.info.protocol, "packet");
    server.stop();
}

#[test]
fn open_loop_packet_echo_over_the_cli() {
    let server = game_server(1);
    let addr = server.local_addr().unwrap().to_string();
    let args = [
        "--addr",
        &addr,
        "--protocol",
        "packet",
        "--clients",
        "10",
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
    let output = run_ok(&args, Duration::from_secs(20));
    let report = json_report(&output);
    assert_eq!(report["protocol"], "packet", "{report}");
    assert_eq!(report["scenario"], "echo", "{report}");
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert!(count(&report, "messages") >= 1000, "{report}");
    assert_eq!(
        count(&report, "messages"),
        count(&report, "sent"),
        "{report}"
    );
    server.stop();
}
