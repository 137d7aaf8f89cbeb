//! Unit tests of the `--websocket` glue.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use rfc6455::{binary_header, WsConfig, WsConnection, WsEvent};
use servercore::packet::encode;

use super::*;
use crate::wire::{Protocol, CHAT, ECHO};

/// Reads what a server role reader makes of `frames`: the messages, in order.
fn server_reads(frames: &[u8]) -> Vec<Vec<u8>> {
    let mut reader = MessageReader::new(Role::Server, 1 << 16);
    let (mut at, mut messages) = (0, Vec::new());
    loop {
        let (used, event) = reader.read(&frames[at..]).expect("valid client frames");
        at += used;
        match event {
            Some(FrameEvent::Message(m)) => messages.push(m.to_vec()),
            Some(other) => panic!("unexpected {other:?}"),
            None => break,
        }
    }
    assert_eq!(at, frames.len());
    messages
}

#[test]
fn framed_packets_are_masked_frames_a_server_reads_back() {
    let wire = Wire::new(Protocol::Packet, 30).with_websocket(true);
    let plain = Wire::new(Protocol::Packet, 30);
    assert_eq!(wire.framed_len(), plain.framed_len() + 2 + 4);
    let mut out = BytesMut::new();
    wire.frame(&mut out, ECHO, |out| out.put_slice(&[7; 30]));
    wire.frame(&mut out, CHAT, |out| out.put_slice(&[9; 30]));
    assert_eq!(out.len(), 2 * wire.framed_len());
    assert_eq!(out[1] & 0x80, 0x80, "masked");
    let expected = [
        encode(ECHO, &[7; 30]).unwrap(),
        encode(CHAT, &[9; 30]).unwrap(),
    ];
    assert_eq!(server_reads(&out), expected.map(|p| p.to_vec()));
    // A packet encoded elsewhere (ENTER_ROOM) is wrapped the same way; TCP leaves it alone.
    let packet = encode(2, &5u32.to_le_bytes()).unwrap();
    assert_eq!(server_reads(&wire.wrap(packet.clone())), [packet.to_vec()]);
    assert_eq!(plain.wrap(packet.clone()), packet);
}

#[test]
fn masks_change_from_frame_to_frame() {
    let masks: std::collections::HashSet<[u8; 4]> = (0..100).map(|_| next_mask()).collect();
    assert_eq!(masks.len(), 100);
}

#[test]
fn packets_may_span_messages_and_share_them() {
    let wire = Wire::new(Protocol::Packet, 8);
    let packets: Vec<Bytes> = (0..3u8).map(|k| encode(CHAT, &[k; 8]).unwrap()).collect();
    let stream: Vec<u8> = packets.iter().flat_map(|p| p.to_vec()).collect();
    // Messages cut the stream at 5 (inside packet 0) and 20 (inside packet 1).
    let mut pending = Vec::new();
    let mut got = Vec::new();
    for message in [&stream[..5], &stream[5..20], &stream[20..]] {
        split_message(&mut pending, &wire, message, &mut |p: Packet<'_>| {
            got.push((p.id, p.body.to_vec()))
        })
        .unwrap();
    }
    let expected: Vec<(u16, Vec<u8>)> = (0..3u8).map(|k| (CHAT, vec![k; 8])).collect();
    assert_eq!(got, expected);
    assert!(pending.is_empty());
    let bad = split_message(&mut pending, &wire, &[1, 0, 1, 0], &mut |_: Packet<'_>| {});
    assert!(matches!(bad, Err(InboundError::Packets(_))), "{bad:?}");
}

/// A one-connection server on the state machine: answers the handshake, then writes `after`.
fn handshake_server(after: &'static [u8]) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut ws = WsConnection::new(WsConfig::new(4096));
        let (mut buffer, mut chunk) = (Vec::new(), [0; 1024]);
        loop {
            let n = match stream.read(&mut chunk) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                read => read.unwrap(),
            };
            assert!(n > 0, "client closed during the handshake");
            buffer.extend_from_slice(&chunk[..n]);
            if let Some(WsEvent::Handshake {
                response,
                subprotocol,
            }) = ws.advance(&buffer).event
            {
                assert!(subprotocol, "the client offers servercore.packet.v1");
                stream.write_all(&[&response[..], after].concat()).unwrap();
                return;
            }
        }
    });
    (addr, server)
}

#[test]
fn handshake_reads_exactly_the_response_and_leaves_frames_in_the_socket() {
    let frame = [binary_header(3).as_bytes(), &[1, 2, 3]].concat();
    let frame: &'static [u8] = frame.leak();
    let (addr, server) = handshake_server(frame);
    let mut stream = TcpStream::connect(addr).unwrap();
    handshake(&mut stream, Duration::from_secs(30)).expect("handshake succeeds");
    server.join().unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert_eq!(
        rest, frame,
        "the frame after the 101 is still there for the event loop"
    );
}

#[test]
fn handshake_refused_by_a_plain_http_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let _ = stream.read(&mut [0; 1024]);
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    });
    let mut stream = TcpStream::connect(addr).unwrap();
    let err = handshake(&mut stream, Duration::from_secs(30)).unwrap_err();
    assert!(err.to_string().contains("status 404"), "{err}");
    server.join().unwrap();
}
