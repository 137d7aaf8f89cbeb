//! tokio_chat speaks docs/protocol.md: ROOM_JOINED with the member count, CHAT_BROADCAST to
//! every member (the sender included) in order, ECHO, the protocol violations that close a
//! connection, and a member that does not read is dropped while the room goes on.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use support::Server;

const ECHO: u16 = 1;
const ENTER_ROOM: u16 = 2;
const CHAT: u16 = 4;
const CHAT_BROADCAST: u16 = 5;
const ROOM_JOINED: u16 = 6;

fn packet(id: u16, body: &[u8]) -> Vec<u8> {
    let mut out = ((4 + body.len()) as u16).to_le_bytes().to_vec();
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(body);
    out
}

fn send(stream: &mut TcpStream, id: u16, body: &[u8]) {
    stream.write_all(&packet(id, body)).unwrap();
}

fn recv(stream: &mut TcpStream) -> (u16, Vec<u8>) {
    let mut header = [0; 4];
    stream.read_exact(&mut header).unwrap();
    let size = usize::from(u16::from_le_bytes([header[0], header[1]]));
    let mut body = vec![0; size - 4];
    stream.read_exact(&mut body).unwrap();
    (u16::from_le_bytes([header[2], header[3]]), body)
}

/// Joins `room`; returns the member count ROOM_JOINED reports.
fn join(stream: &mut TcpStream, room: u32) -> u32 {
    send(stream, ENTER_ROOM, &room.to_le_bytes());
    let (id, body) = recv(stream);
    assert_eq!(id, ROOM_JOINED);
    assert_eq!(body.len(), 8);
    assert_eq!(body[..4], room.to_le_bytes());
    u32::from_le_bytes(body[4..].try_into().unwrap())
}

/// True once the server has closed `stream` (EOF or reset), reading past anything queued.
fn is_closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false, // timed out: still open
        }
    }
}

#[test]
fn room_joined_counts_members_and_chat_reaches_everyone_in_order() {
    let server = Server::start(env!("CARGO_BIN_EXE_tokio_chat"), &[]);
    let mut a = server.connect();
    let mut b = server.connect();
    let mut other = server.connect();
    assert_eq!(join(&mut a, 7), 1);
    assert_eq!(join(&mut b, 7), 2);
    assert_eq!(join(&mut other, 8), 1);
    for seq in 0u8..20 {
        send(&mut a, CHAT, &[seq; 10]);
    }
    for member in [&mut a, &mut b] {
        for seq in 0u8..20 {
            assert_eq!(
                recv(member),
                (CHAT_BROADCAST, vec![seq; 10]),
                "the sender too"
            );
        }
    }
    send(&mut other, ECHO, b"only mine");
    assert_eq!(
        recv(&mut other),
        (ECHO, b"only mine".to_vec()),
        "room 8 got no chat"
    );
    // Moving rooms leaves the old one.
    assert_eq!(join(&mut b, 8), 2);
    send(&mut a, CHAT, b"alone");
    assert_eq!(recv(&mut a), (CHAT_BROADCAST, b"alone".to_vec()));
}

#[test]
fn protocol_violations_close_the_connection() {
    let server = Server::start(env!("CARGO_BIN_EXE_tokio_chat"), &[]);
    let violations: [Vec<u8>; 5] = [
        packet(CHAT, b"outside a room"),
        packet(ENTER_ROOM, &[1, 2, 3]),
        packet(99, b""),
        vec![2, 0, 1, 0],              // size below the header
        [0x88u8, 0x13, 1, 0].to_vec(), // size 5000 > 4096, refused from the header
    ];
    for bytes in violations {
        let mut stream = server.connect();
        stream.write_all(&bytes).unwrap();
        assert!(
            is_closed(&mut stream),
            "{bytes:?} did not close the connection"
        );
    }
}

#[test]
fn a_member_that_does_not_read_is_dropped_and_the_room_goes_on() {
    let server = Server::start(
        env!("CARGO_BIN_EXE_tokio_chat"),
        &["--send-queue-limit", "65536"],
    );
    let mut talker = server.connect();
    let mut sleeper = server.connect();
    join(&mut talker, 1);
    join(&mut sleeper, 1);
    // 20 MB of chat: more than both socket buffers of the sleeper hold, so its inbox fills.
    // The talker takes each of its own chats back before the next (on a busy machine a
    // reader thread could fall behind and make the talker a slow consumer too).
    const CHATS: usize = 5000;
    let own = (0..CHATS)
        .filter(|_| {
            send(&mut talker, CHAT, &[0xab; 4000]);
            recv(&mut talker) == (CHAT_BROADCAST, vec![0xab; 4000])
        })
        .count();
    assert_eq!(own, CHATS, "the talker got every one of its chats");
    assert!(
        is_closed(&mut sleeper),
        "the slow consumer was disconnected"
    );
}
