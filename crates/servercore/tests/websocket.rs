//! `Service::listen_websocket` on both I/O models: a packet handler that knows nothing of
//! WebSocket serves browser-style clients — frames split anywhere by the network, fragments
//! with pings between them, the close handshake, and the refusals (text 1003, unmasked 1002,
//! a plain GET served the page, a bad version 426), each followed by the server closing the
//! connection.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rfc6455::{
    masked_close_frame, masked_frame, ClientHandshake, FrameEvent, MessageReader, Opcode, Role,
    WsConfig,
};
use servercore::packet::{encode, Packet, PacketContext, PacketHandler, Packets};
use servercore::{Context, Model, Service, SessionId};
use util::*;

const PAGE: &[u8] = b"<!doctype html><title>chat</title>";

/// Echoes every packet; over WebSocket each reply leaves as one binary message (packets up
/// to 3,000 bytes: small ones framed in one copied buffer, large ones header + shared buffer).
struct PacketEcho;

impl PacketHandler for PacketEcho {
    fn packet(&mut self, ctx: &mut Context<'_>, id: SessionId, packet: Packet<'_>) {
        let _ = ctx.send_packet(id, packet.id, packet.body);
    }
}

/// A packet echo server with a WebSocket listener; returns it and the WebSocket address.
fn ws_server(model: Model) -> (Service<Packets<PacketEcho>>, SocketAddr) {
    let service = Service::bind(loopback(), config(model), |_| {
        Packets::new(PacketEcho, 4096)
    })
    .expect("start the server");
    let ws = WsConfig::new(4096).with_page(Bytes::from_static(PAGE));
    let addr = service
        .listen_websocket(loopback(), ws)
        .expect("listen for websocket");
    (service, addr)
}

/// What a test client got.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Message(Vec<u8>),
    Ping(Vec<u8>),
    Close(Option<u16>, String),
}

/// A blocking client: handshake, masked frames out, server frames in.
struct Client {
    stream: TcpStream,
    reader: MessageReader,
    buffer: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let mut stream = connect(addr);
        let buffer = ClientHandshake::new()
            .perform(&mut stream, &addr.to_string(), "/")
            .expect("a 101");
        Client {
            stream,
            reader: MessageReader::new(Role::Client, 1 << 16),
            buffer,
        }
    }

    fn next(&mut self) -> Got {
        loop {
            let (used, event) = self.reader.read(&self.buffer).expect("valid server frames");
            let got = event.map(|event| match event {
                FrameEvent::Message(m) => Got::Message(m.to_vec()),
                FrameEvent::Ping(p) => Got::Ping(p.to_vec()),
                FrameEvent::Close { code, reason } => Got::Close(code, reason.to_owned()),
            });
            self.buffer.drain(..used);
            match got {
                Some(got) => return got,
                None => read_more(&mut self.stream, &mut self.buffer),
            }
        }
    }

    /// Reads to EOF: the server closed after its last word.
    fn assert_closed(&mut self) {
        let rest = read_to_eof(&mut self.stream).expect("EOF, not an error");
        assert!(rest.is_empty(), "{} bytes after the close", rest.len());
    }
}

fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) {
    let mut chunk = [0; 4096];
    let n = loop {
        match stream.read(&mut chunk) {
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            read => break read.expect("read"),
        }
    };
    assert!(n > 0, "server closed early");
    buffer.extend_from_slice(&chunk[..n]);
}

/// Client frames for `packets`: some in two fragments with a ping between them.
fn frames(rng: &mut impl Rng, packets: &[Bytes]) -> (Vec<u8>, usize) {
    let (mut out, mut pings) = (Vec::new(), 0);
    for packet in packets {
        let mask = rng.gen();
        if rng.gen_bool(0.3) && packet.len() > 1 {
            let (first, last) = packet.split_at(packet.len() / 2);
            let mut head = masked_frame(Opcode::Binary, first, mask).to_vec();
            head[0] &= 0x7f; // no FIN
            out.extend(head);
            out.extend(masked_frame(Opcode::Ping, b"between", mask));
            let mut tail = masked_frame(Opcode::Binary, last, mask).to_vec();
            tail[0] &= 0xf0; // continuation, FIN kept
            out.extend(tail);
            pings += 1;
        } else {
            out.extend(masked_frame(Opcode::Binary, packet, mask));
        }
    }
    (out, pings)
}

fn echo_with_random_splits(model: Model) {
    let (service, addr) = ws_server(model);
    let clients: Vec<_> = (0..12u64)
        .map(|seed| {
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                let packets: Vec<Bytes> = (0..40)
                    .map(|k| encode(1, &pattern(seed * 100 + k, rng.gen_range(0..3000))).unwrap())
                    .collect();
                let (stream, pings) = frames(&mut rng, &packets);
                let mut client = Client::connect(addr);
                let mut splits = Vec::new();
                let mut left = stream.len();
                while left > 0 {
                    let n = rng.gen_range(1..=left.min(97));
                    splits.push(n);
                    left -= n;
                }
                write_chunks(&mut client.stream, &stream, &splits).expect("write");
                let mut echoed = Vec::new();
                while echoed.len() < packets.len() {
                    match client.next() {
                        Got::Message(m) => echoed.push(m),
                        other => panic!("client {seed}: unexpected {other:?}"),
                    }
                }
                let want: Vec<Vec<u8>> = packets.iter().map(|p| p.to_vec()).collect();
                assert_eq!(echoed, want, "client {seed}");
                // Each pong left before the echo of the packet its ping interrupted.
                assert_eq!(client.reader.pongs(), pings as u64, "client {seed}");
                client
                    .stream
                    .write_all(&masked_close_frame(Some(1000), "bye", rng.gen()))
                    .unwrap();
                assert_eq!(client.next(), Got::Close(Some(1000), String::new()));
                client.assert_closed();
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client thread");
    }
    assert_live(&service, 0);
}

one_model!(websocket_echo_random_splits, echo_with_random_splits);

/// Sends `bytes` on a fresh connection (after a handshake if `upgrade`), returns the client.
fn send_raw(addr: SocketAddr, upgrade: bool, bytes: &[u8]) -> Client {
    let mut client = match upgrade {
        true => Client::connect(addr),
        false => Client {
            stream: connect(addr),
            reader: MessageReader::new(Role::Client, 1 << 16),
            buffer: Vec::new(),
        },
    };
    client.stream.write_all(bytes).unwrap();
    client
}

fn refusals_answer_then_close(model: Model) {
    let (service, addr) = ws_server(model);
    let mut text_frame = masked_frame(Opcode::Binary, b"hello", [1, 2, 3, 4]).to_vec();
    text_frame[0] = 0x81; // FIN + text
    let mut unmasked = vec![0x82, 3];
    unmasked.extend_from_slice(b"abc");
    for (frame, code) in [(text_frame, 1003), (unmasked, 1002)] {
        let mut client = send_raw(addr, true, &frame);
        assert!(
            matches!(client.next(), Got::Close(Some(c), _) if c == code),
            "close code {code}"
        );
        client.assert_closed();
    }

    let mut page = send_raw(addr, false, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let response = read_to_eof(&mut page.stream).unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(response.ends_with(PAGE));

    let request = ClientHandshake::new()
        .request("x", "/")
        .replace("Version: 13", "Version: 7");
    let mut old = send_raw(addr, false, request.as_bytes());
    let response = read_to_eof(&mut old.stream).unwrap();
    assert!(
        response.starts_with(b"HTTP/1.1 426 "),
        "{}",
        String::from_utf8_lossy(&response)
    );
    assert_live(&service, 0);
}

one_model!(websocket_refusals, refusals_answer_then_close);
