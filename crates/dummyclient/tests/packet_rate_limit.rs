//! A packet-mode load test against a server with a per-session packet rate (issue 28): from a
//! trusted source (loopback, the default) it is not limited and passes; when the server
//! does limit it, the clients hear why (`RATE_LIMITED`, docs/protocol.md id 9) and the run
//! fails naming the limit and how to run instead.

mod util;

use std::time::Duration;

use gameserver::chat_room::DEFAULT_ROOM_CAPACITY;
use gameserver::chat_service::bind_chat;
use gameserver::game::Game;
use servercore::packet::{Packets, RateLimit, DEFAULT_MAX_PACKET};
use servercore::{AddressList, Service, ServiceConfig};
use util::{count, json_report, run_dummyclient, run_ok, stderr};

/// A limit any closed-loop client passes within its first second, however busy the machine.
const LIMIT: RateLimit = RateLimit {
    per_sec: 20,
    burst: 10,
};

/// gameserver's packet game with [`LIMIT`], trusting `trusted_sources`.
fn limited_server(trusted_sources: AddressList) -> Service<Packets<Game>> {
    let config = ServiceConfig {
        threads: 1,
        trusted_sources,
        ..Default::default()
    };
    let addr = "127.0.0.1:0".parse().unwrap();
    bind_chat(addr, config, DEFAULT_ROOM_CAPACITY, None, |game| {
        Packets::new(game, DEFAULT_MAX_PACKET).with_rate_limit(LIMIT)
    })
    .expect("game server starts")
    .0
}

fn closed_loop_args(addr: &str) -> [&str; 11] {
    [
        "--addr",
        addr,
        "--protocol",
        "packet",
        "--clients",
        "4",
        "--duration",
        "1",
        "--threads",
        "1",
        "--json",
    ]
}

#[test]
fn loopback_is_trusted_so_a_closed_loop_packet_run_passes() {
    let server = limited_server(AddressList::loopback());
    let addr = server.local_addr().unwrap().to_string();
    let output = run_ok(&closed_loop_args(&addr), Duration::from_secs(30));
    let report = json_report(&output);
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert!(
        report.get("timeline").is_none(),
        "no timeline without --json-out or --plot"
    );
    assert!(
        count(&report, "messages") > 30 * 4,
        "more than the limit would let through: {report}"
    );
    server.stop();
}

#[test]
fn a_rate_limited_run_fails_saying_why_and_how_to_run() {
    let server = limited_server(AddressList::empty());
    let addr = server.local_addr().unwrap().to_string();
    let output = run_dummyclient(&closed_loop_args(&addr), Duration::from_secs(30));
    let report = json_report(&output);
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(report["disconnect_reasons"]["rate_limited"], 4, "{report}");
    assert_eq!(count(&report, "corrupt"), 0, "{report}");
    assert!(
        stderr.contains("rate limited (20 packets/s per session, bursts of 10)"),
        "{stderr}"
    );
    assert!(stderr.contains("--rate-limit 0"), "{stderr}");
    assert!(stderr.contains("--trusted-sources"), "{stderr}");
    assert!(
        stderr.contains(" WARN "),
        "the disconnects are logged: {stderr}"
    );
    assert!(
        !stderr.contains('\x1b'),
        "colour codes in a pipe: {stderr:?}"
    );
    server.stop();
}
