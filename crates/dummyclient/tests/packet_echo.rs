//! Echo over packets (`--protocol packet`) against gameserver's packet game, in process: every
//! ECHO packet comes back verified, in closed and in open loop.

mod util;

use std::time::Duration;

use dummyclient::wire::{self, Protocol};
use util::{clean_closed_loop_run, count, game_server, json_report, run_ok};

#[test]
fn packet_ids_match_the_gameserver() {
    use gameserver::protocol;
    assert_eq!(wire::ECHO, protocol::ECHO);
    assert_eq!(wire::ENTER_ROOM, protocol::ENTER_ROOM);
    assert_eq!(wire::LEAVE_ROOM, protocol::LEAVE_ROOM);
    assert_eq!(wire::CHAT, protocol::CHAT);
    assert_eq!(wire::CHAT_BROADCAST, protocol::CHAT_BROADCAST);
    assert_eq!(wire::ROOM_JOINED, protocol::ROOM_JOINED);
    assert_eq!(wire::SERVER_FULL, protocol::SERVER_FULL);
    assert_eq!(wire::ROOM_FULL, protocol::ROOM_FULL);
    assert_eq!(wire::RATE_LIMITED, protocol::RATE_LIMITED);
    assert_eq!(wire::ROOM_JOINED_LEN, protocol::room_joined(0, 0).len());
}

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
