//! Hostile input: bad sizes, oversize packets, stalled headers, garbage, unknown ids. Each bad
//! session is closed with its reason; an honest client keeps being served throughout.

mod util;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use gameserver::protocol;
use servercore::packet::PacketError;
use servercore::{CloseReason, Model, ServiceConfig};
use util::*;

/// An honest client's echo round trip.
fn honest_echo(addr: SocketAddr, round: u64) {
    let mut s = connect(addr);
    let body = pattern(round, 300);
    send_packet(&mut s, protocol::ECHO, &body);
    assert_eq!(read_packet(&mut s).unwrap(), (protocol::ECHO, body));
}

fn expect_closed_with(reasons: &Reasons, expected: impl Fn(&CloseReason) -> bool, what: &str) {
    let ok = wait_until(Duration::from_secs(5), || {
        reasons.lock().unwrap().iter().any(&expected)
    });
    assert!(ok, "{what}: reasons seen {:?}", reasons.lock().unwrap());
}

fn bad_sizes_close_with_the_right_reason(model: Model) {
    let (service, reasons) = game_server(model, ServiceConfig::default());
    let addr = addr(&service);
    let mut honest = connect(addr);
    for size in 0u16..4 {
        let mut bad = connect(addr);
        bad.write_all(&[size.to_le_bytes()[0], 0, 1, 0]).unwrap();
        assert!(closed_by_server(&mut bad), "size {size} closed");
        let want = CloseReason::Protocol(PacketError::TooSmall { size }.into());
        expect_closed_with(&reasons, |r| *r == want, "too small");
        send_packet(&mut honest, protocol::ECHO, b"still here");
        assert_eq!(
            read_packet(&mut honest).unwrap(),
            (protocol::ECHO, b"still here".to_vec())
        );
    }
    let mut big = connect(addr);
    big.write_all(&5000u16.to_le_bytes()).unwrap();
    big.write_all(&1u16.to_le_bytes()).unwrap();
    assert!(closed_by_server(&mut big));
    let want = CloseReason::Protocol(
        PacketError::TooLarge {
            size: 5000,
            max: 4096,
        }
        .into(),
    );
    expect_closed_with(&reasons, |r| *r == want, "too large");
    honest_echo(addr, 1);
}

fn garbage_and_unknown_ids_are_refused(model: Model) {
    let (service, reasons) = game_server(model, ServiceConfig::default());
    let addr = addr(&service);
    let mut unknown = connect(addr);
    send_packet(&mut unknown, 999, b"?");
    assert!(closed_by_server(&mut unknown));
    expect_closed_with(
        &reasons,
        |r| *r == CloseReason::Invalid("unknown packet id"),
        "unknown id",
    );
    let mut chat_outside = connect(addr);
    send_packet(&mut chat_outside, protocol::CHAT, b"hello?");
    assert!(closed_by_server(&mut chat_outside));
    for seed in 0..20u64 {
        let mut garbage = connect(addr);
        let _ = garbage.write_all(&pattern(seed * 1000 + 17, 8192));
        assert!(closed_by_server(&mut garbage), "garbage {seed} closed");
        honest_echo(addr, seed);
    }
    // The honest clients left normally; every other session was refused for what it sent.
    assert_live(&service, 0);
    let all = reasons.lock().unwrap().clone();
    let refused: Vec<_> = all
        .iter()
        .filter(|r| **r != CloseReason::PeerClosed)
        .collect();
    assert_eq!(refused.len(), 22, "{all:?}");
    assert!(
        refused
            .iter()
            .all(|r| matches!(r, CloseReason::Protocol(_) | CloseReason::Invalid(_))),
        "{all:?}"
    );
}

fn stalled_header_does_not_block_others(model: Model) {
    let (service, reasons) = game_server(model, ServiceConfig::default());
    let addr = addr(&service);
    let mut stalled = connect(addr);
    stalled.write_all(&100u16.to_le_bytes()).unwrap();
    stalled.write_all(&1u16.to_le_bytes()).unwrap();
    stalled.write_all(&[0; 10]).unwrap(); // 14 of 100 bytes, then nothing
    for round in 0..50 {
        honest_echo(addr, round);
    }
    assert_live(&service, 1);
    assert!(reasons
        .lock()
        .unwrap()
        .iter()
        .all(|r| *r == CloseReason::PeerClosed));
    // The rest arrives late: the packet completes and is echoed.
    stalled.write_all(&[0; 86]).unwrap();
    assert_eq!(
        read_packet(&mut stalled).unwrap(),
        (protocol::ECHO, vec![0; 96])
    );
}

one_model!(bad_sizes, bad_sizes_close_with_the_right_reason);
one_model!(garbage, garbage_and_unknown_ids_are_refused);
one_model!(stalled_header, stalled_header_does_not_block_others);
