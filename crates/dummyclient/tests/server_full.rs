//! A server that refuses clients with `SERVER_FULL` (docs/protocol.md, id 7) fails the run,
//! and the report says why: disconnects by reason `server_full`, not corrupt messages.

mod util;

use std::time::Duration;

use dummyclient::wire::SERVER_FULL;
use gameserver::chat_room::DEFAULT_ROOM_CAPACITY;
use gameserver::chat_service::bind_chat;
use servercore::packet::{encode, Packets, DEFAULT_MAX_PACKET};
use servercore::ServiceConfig;
use util::{count, json_report, run_dummyclient};

#[test]
fn refused_clients_are_counted_as_server_full() {
    let config = ServiceConfig {
        threads: 1,
        max_sessions: 2,
        farewell: Some(encode(SERVER_FULL, b"server full").unwrap()),
        ..Default::default()
    };
    let addr = "127.0.0.1:0".parse().unwrap();
    let (server, _rooms) = bind_chat(addr, config, DEFAULT_ROOM_CAPACITY, None, |game| {
        Packets::new(game, DEFAULT_MAX_PACKET)
    })
    .unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let args = [
        "--addr",
        &addr,
        "--protocol",
        "packet",
        "--clients",
        "5",
        "--duration",
        "0.5",
        "--threads",
        "1",
        "--json",
    ];
    let output = run_dummyclient(&args, Duration::from_secs(20));
    let report = json_report(&output);
    assert_eq!(output.status.code(), Some(2), "{report}");
    assert_eq!(report["disconnect_reasons"]["server_full"], 3, "{report}");
    assert_eq!(count(&report, "corrupt"), 0, "{report}");
    assert!(
        count(&report, "messages") > 0,
        "the 2 admitted clients echo: {report}"
    );
    server.stop();
}
