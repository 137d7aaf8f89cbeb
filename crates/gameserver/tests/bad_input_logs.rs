//! What the real `gameserver` tells a client it closes, and what it logs (issue 28): a flood
//! from an untrusted source gets `RATE_LIMITED` after its paid-for echoes; a packet with an
//! unknown id logs that reason only (not a "bad packet" made of the bytes after it); bytes
//! that are not packets at all are logged with what they look like.

mod util;

use std::io::Write;

use gameserver::protocol;
use servercore::packet::encode;
use servercore::Model;
use testkit::{connect, one_model, read_to_eof};
use util::process::Gameserver;
use util::{closed_by_server, read_packet};

one_model!(a_flood_is_told_rate_limited_then_closed, flood_body);

/// 1,000 ECHO packets at once from loopback made untrusted: the echoes the burst paid for,
/// then RATE_LIMITED with the limit, then EOF.
fn flood_body(model: Model) {
    let flags = ["--protocol", "packet", "--trusted-sources", ""];
    let mut server = Gameserver::start(model, &[&flags[..], &["--rate-burst", "5"]].concat());
    let mut client = connect(server.addr);
    let packet = encode(protocol::ECHO, b"tick").unwrap();
    let _ = client.write_all(&packet.repeat(1000));
    let mut echoes = 0;
    let last = loop {
        let (id, body) = read_packet(&mut client).expect("a packet before EOF");
        if id != protocol::ECHO {
            break (id, body);
        }
        echoes += 1;
    };
    assert!(
        (5..=6).contains(&echoes),
        "the burst of 5, then the cut: {echoes}"
    );
    let limit = servercore::packet::RateLimit {
        per_sec: 200,
        burst: 5,
    };
    assert_eq!(
        last,
        (
            protocol::RATE_LIMITED,
            protocol::rate_limited(limit).to_vec()
        )
    );
    assert!(read_to_eof(&mut client).unwrap_or_default().is_empty());
    let line = server.wait_for_line(&["disconnected", "rate limit"]);
    assert!(line.is_some(), "no disconnect line");
}

#[test]
fn an_unknown_id_logs_its_reason_only() {
    let mut server = Gameserver::start(Model::Epoll, &["--protocol", "packet"]);
    let mut client = connect(server.addr);
    // Packet id 999, then four zero bytes: a "header" of size 0 if anyone framed it.
    let mut bytes = encode(999, b"?").unwrap().to_vec();
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    client.write_all(&bytes).unwrap();
    assert!(closed_by_server(&mut client));
    let lines = server
        .lines_until(&["disconnected", "unknown packet id"])
        .expect("a disconnect line naming the unknown id");
    assert!(
        lines.iter().all(|l| !l.contains("bad packet")),
        "{lines:#?}"
    );
}

#[test]
fn bytes_that_are_not_packets_are_logged_with_what_they_look_like() {
    let mut server = Gameserver::start(Model::Epoll, &["--protocol", "packet"]);
    for (bytes, looks, meaning) in [
        (
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            "looks like an HTTP request",
            "WebSocket port",
        ),
        (
            &b"Hello World\0\0\0\0\0\0\0\0\0"[..],
            "looks like text",
            "raw byte client",
        ),
    ] {
        let mut client = connect(server.addr);
        client.write_all(bytes).unwrap();
        assert!(closed_by_server(&mut client));
        let line = server.wait_for_line(&["bad packet", looks, meaning]);
        assert!(line.is_some(), "no line saying {looks}");
    }
}
