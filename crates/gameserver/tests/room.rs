//! Rooms: chat broadcast across loops is delivered exactly once and in per-sender order; a
//! member leaving mid-broadcast and a member that never reads do not disturb the others.

mod util;

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};

use game_protocol::chat::parse_room_joined;
use gameserver::protocol;
use servercore::{CloseReason, Model, ServiceConfig};
use util::*;

/// Reads `count` broadcasts, checking per-sender order; returns messages per sender.
fn receive_broadcasts(stream: &mut TcpStream, count: usize, len: usize) -> HashMap<u32, u32> {
    let mut heard = Heard::default();
    for _ in 0..count {
        heard.check(read_packet(stream).expect("broadcast"), len);
    }
    heard.0
}

/// Reads broadcasts until none arrives for 500 ms, checking per-sender order; returns
/// messages per sender.
fn receive_until_quiet(stream: &mut TcpStream, len: usize) -> HashMap<u32, u32> {
    stream
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    let mut heard = Heard::default();
    while let Ok(packet) = read_packet(stream) {
        heard.check(packet, len);
    }
    heard.0
}

fn fifty_clients_three_rooms(model: Model) {
    const CLIENTS: u32 = 50;
    const MESSAGES: u32 = 20;
    let (service, _) = game_server(model, ServiceConfig::default());
    let addr = addr(&service);
    let barrier = Arc::new(Barrier::new(CLIENTS as usize));
    let room_size = |room: u32| (0..CLIENTS).filter(|c| c % 3 == room).count();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|me| {
            let barrier = barrier.clone();
            let members = room_size(me % 3);
            std::thread::spawn(move || {
                let mut stream = connect(addr);
                join(&mut stream, me % 3);
                barrier.wait(); // everyone is in before anyone speaks
                for seq in 0..MESSAGES {
                    send_packet(&mut stream, protocol::CHAT, &chat_body(me, seq, 32));
                }
                let got = receive_broadcasts(&mut stream, members * MESSAGES as usize, 32);
                assert_eq!(got.len(), members, "client {me} heard from every member");
                assert!(got.values().all(|&n| n == MESSAGES), "client {me}: {got:?}");
                assert!(got.keys().all(|s| s % 3 == me % 3), "only its own room");
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client");
    }
    assert_live(&service, 0);
}

fn member_disconnects_mid_broadcast(model: Model) {
    let (service, _) = game_server(model, ServiceConfig::default());
    let addr = addr(&service);
    let mut leaver = connect(addr);
    join(&mut leaver, 9);
    let mut streams: Vec<_> = (0..5).map(|_| connect(addr)).collect();
    for s in &mut streams {
        join(s, 9);
    }
    // The leaver sends a burst and disconnects (with its broadcasts unread: the kernel resets
    // the connection, and whatever of its burst the server had not read yet is discarded by
    // TCP) while its chats are being broadcast.
    for seq in 0..200 {
        send_packet(&mut leaver, protocol::CHAT, &chat_body(99, seq, 64));
    }
    drop(leaver);
    for (i, s) in streams.iter_mut().enumerate() {
        send_packet(s, protocol::CHAT, &chat_body(i as u32, 0, 64));
    }
    let mut heard_from_leaver = Vec::new();
    for s in &mut streams {
        // Until the line is quiet: the 5 members' chats, and as much of the leaver's burst
        // as the server took before the reset, in order and once each (checked inside).
        let got = receive_until_quiet(s, 64);
        for member in 0..5 {
            assert_eq!(
                got.get(&member),
                Some(&1),
                "member {member}'s chat: {got:?}"
            );
        }
        heard_from_leaver.push(got.get(&99).copied().unwrap_or(0));
    }
    println!("the leaver's chats heard by each member: {heard_from_leaver:?}");
    assert!(
        heard_from_leaver.windows(2).all(|w| w[0] == w[1]),
        "every member hears the same prefix of the leaver's burst: {heard_from_leaver:?}"
    );
    assert_live(&service, 5);
}

fn never_reading_member_is_cut_at_the_cap(model: Model) {
    let limit = 64 * 1024;
    let config = ServiceConfig {
        send_queue_limit: limit,
        send_queue_pause: limit / 2,
        // The kernel's share of the sleeper's backlog, bounded: autotuning may make it 4 MiB
        // at once (after loopback traffic that left a large window in the TCP metrics
        // cache), more than the whole test sends.
        socket_send_buffer: Some(16 * 1024),
        ..Default::default()
    };
    let (service, closed) = game_server(model, config);
    let addr = addr(&service);
    // A tiny receive window set before connecting: the kernel absorbs little for the sleeper,
    // so the server's own queue for it fills.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut sleeper: TcpStream = sock.into();
    sleeper
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    join(&mut sleeper, 1);
    let mut talker = connect(addr);
    join(&mut talker, 1);
    let mut listener = connect(addr);
    join(&mut listener, 1);
    const COUNT: u32 = 3000;
    // The reading member must really keep up (a debug-build reader thread can lag by more
    // than the 64 KiB cap, and would rightly be cut too): the talker stays at most 16 chats
    // (16 KB) ahead of it.
    let heard = Arc::new(AtomicU32::new(0));
    let progress = heard.clone();
    let reader = std::thread::spawn(move || {
        let mut book = Heard::default();
        for _ in 0..COUNT {
            book.check(read_packet(&mut listener).expect("broadcast"), 1000);
            progress.fetch_add(1, Ordering::Release);
        }
        book.0
    });
    for seq in 0..COUNT {
        while heard.load(Ordering::Acquire) + 16 < seq {
            std::thread::yield_now();
        }
        send_packet(&mut talker, protocol::CHAT, &chat_body(7, seq, 1000));
        // The talker hears its own chats too: keep its queue drained.
        let (id, body) = read_packet(&mut talker).expect("own chat back");
        assert_eq!(
            (id, body),
            (protocol::CHAT_BROADCAST, chat_body(7, seq, 1000))
        );
    }
    let got = reader.join().expect("listener");
    assert_eq!(
        got.get(&7),
        Some(&COUNT),
        "the reading member got everything"
    );
    let cut_recorded = wait_until(std::time::Duration::from_secs(5), || {
        !closed.lock().unwrap().is_empty()
    });
    assert!(
        cut_recorded,
        "the server never closed the sleeper's session"
    );
    assert!(
        closed_by_server(&mut sleeper),
        "the sleeper's socket was closed: {:?}",
        closed.lock().unwrap()
    );
    let reasons = closed.lock().unwrap().clone();
    let cut: Vec<_> = reasons
        .iter()
        .filter(|r| **r != CloseReason::PeerClosed)
        .collect();
    assert!(
        matches!(cut.as_slice(), [CloseReason::SlowConsumer { limit: l, .. }] if *l == limit),
        "only the sleeper is cut, as a slow consumer: {reasons:?}"
    );
}

/// A full room answers ROOM_FULL; the refused client stays in its previous room and still
/// hears that room's chats, and a place freed by a leaver can be taken.
fn full_room_refuses_and_keeps_the_old_room(model: Model) {
    let (service, _closed) = game_server_with(model, ServiceConfig::default(), 2);
    let addr = addr(&service);
    let (mut a, mut b, mut c) = (connect(addr), connect(addr), connect(addr));
    join(&mut a, 1);
    join(&mut b, 1);
    join(&mut c, 2);
    send_packet(&mut c, protocol::ENTER_ROOM, &1u32.to_le_bytes());
    let (id, body) = read_packet(&mut c).expect("an answer");
    assert_eq!(id, protocol::ROOM_FULL);
    assert_eq!(body, protocol::room_joined(1, 2));
    // c is still in room 2: its chat comes back to it.
    send_packet(&mut c, protocol::CHAT, b"still here");
    assert_eq!(
        read_packet(&mut c).expect("own chat"),
        (protocol::CHAT_BROADCAST, b"still here".to_vec())
    );
    // b leaves room 1; now c fits.
    send_packet(&mut b, protocol::LEAVE_ROOM, &[]);
    let joined = wait_until(std::time::Duration::from_secs(5), || {
        send_packet(&mut c, protocol::ENTER_ROOM, &1u32.to_le_bytes());
        read_packet(&mut c).expect("an answer").0 == protocol::ROOM_JOINED
    });
    assert!(joined, "the freed place was never given");
    send_packet(&mut a, protocol::CHAT, b"hello");
    assert_eq!(
        read_packet(&mut c).expect("a's chat"),
        (protocol::CHAT_BROADCAST, b"hello".to_vec())
    );
}

/// A CHAT written together with its ENTER_ROOM (no wait for the answer) is said in the new
/// room, from a session on any loop to a room on any loop: each room's ROOM_JOINED comes
/// before its chats, each room's chats in order; moving on with a chat in the same write says
/// it in the next room only. (The two rooms may live on two loops: what the sender hears of
/// the first room may still arrive after the second room's ROOM_JOINED.)
fn chat_in_the_same_write_as_the_join(model: Model) {
    let (service, _) = game_server(model, ServiceConfig::default());
    let addr = addr(&service);
    let mut listeners: Vec<TcpStream> = (0..2).map(|_| connect(addr)).collect();
    for (room, listener) in listeners.iter_mut().enumerate() {
        join(listener, 10 + room as u32);
    }
    for client in 0..8u32 {
        let (first, next) = (10 + client % 2, 11 - client % 2);
        let mut stream = connect(addr);
        let mut burst = Vec::new();
        for (id, body) in [
            (protocol::ENTER_ROOM, first.to_le_bytes().to_vec()),
            (protocol::CHAT, chat_body(client, 0, 32)),
            (protocol::CHAT, chat_body(client, 1, 32)),
            (protocol::ENTER_ROOM, next.to_le_bytes().to_vec()),
            (protocol::CHAT, chat_body(client, 2, 32)),
        ] {
            burst.extend_from_slice(&servercore::packet::encode(id, &body).unwrap());
        }
        std::io::Write::write_all(&mut stream, &burst).unwrap();
        let got: Vec<(u16, Vec<u8>)> = (0..5).map(|_| read_packet(&mut stream).unwrap()).collect();
        let at = |packet: (u16, Vec<u8>)| {
            let found = got.iter().position(|p| *p == packet);
            found.unwrap_or_else(|| panic!("{packet:?} not heard in {got:?}"))
        };
        // The room only, not its member count: the previous client, closed in the room this
        // one joins first, may or may not have been removed yet when the join arrives.
        let joined = |room: u32| {
            let found = got.iter().position(|(id, body)| {
                *id == protocol::ROOM_JOINED
                    && parse_room_joined(body).map(|(r, _)| r) == Some(room)
            });
            found.unwrap_or_else(|| panic!("ROOM_JOINED {room} not heard in {got:?}"))
        };
        let (joined_first, joined_next) = (joined(first), joined(next));
        let chat = |seq| at((protocol::CHAT_BROADCAST, chat_body(client, seq, 32)));
        assert_eq!(joined_first, 0, "{got:?}");
        assert!(chat(0) < chat(1), "{got:?}");
        assert!(joined_next < chat(2), "{got:?}");
        for seq in [0, 1] {
            assert_eq!(
                read_packet(&mut listeners[(client % 2) as usize]).expect("the first room's"),
                (protocol::CHAT_BROADCAST, chat_body(client, seq, 32))
            );
        }
        assert_eq!(
            read_packet(&mut listeners[(1 - client % 2) as usize]).expect("the next room's"),
            (protocol::CHAT_BROADCAST, chat_body(client, 2, 32)),
            "the chat said after the move is in the next room only"
        );
    }
}

one_model!(fifty_in_three_rooms, fifty_clients_three_rooms);
one_model!(chat_with_join, chat_in_the_same_write_as_the_join);
one_model!(disconnect_mid_broadcast, member_disconnects_mid_broadcast);
one_model!(slow_member_cut, never_reading_member_is_cut_at_the_cap);
one_model!(room_full, full_room_refuses_and_keeps_the_old_room);
