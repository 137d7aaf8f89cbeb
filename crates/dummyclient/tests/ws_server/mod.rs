//! A tiny WebSocket game server for tests, on `servercore::websocket`'s state machine: std
//! sockets, one thread per connection. It speaks docs/protocol.md's ECHO, ENTER_ROOM and CHAT
//! like gameserver (ids and layouts from `game-protocol`), and exercises a client's frame
//! reader the way a browser-facing server may: it pings every client after the handshake and
//! sends every third packet in two fragments with a ping between them.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use game_protocol::chat::{parse_room, room_joined};
use game_protocol::ids::{CHAT, CHAT_BROADCAST, ECHO, ENTER_ROOM, ROOM_JOINED};
use rfc6455::{binary_header, idle_ping, WsConfig, WsConnection, WsEvent};
use servercore::packet::{encode, Framer};

type Writer = Arc<Mutex<TcpStream>>;

/// What the connections share.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// Room -> (connection number, writer) of its members.
    rooms: Mutex<HashMap<u32, Vec<(u64, Writer)>>>,
    /// Pongs the clients sent (answers to the server's pings).
    pongs: AtomicU64,
    /// Handshakes completed.
    handshakes: AtomicU64,
    /// Protocol errors seen (a client broke RFC 6455 or the packet framing).
    refused: AtomicU64,
    next_connection: AtomicU64,
    /// Packets sent, over all connections: every third goes in two fragments.
    packets: AtomicU64,
}

/// The running server; [`WsTestServer::stop`] ends it.
pub struct WsTestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl WsTestServer {
    /// Listens on a free loopback port, serving `page` at `/`.
    pub fn start(page: &'static [u8]) -> WsTestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let acceptor = {
            let shared = shared.clone();
            std::thread::spawn(move || accept(listener, shared, page))
        };
        WsTestServer {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pongs(&self) -> u64 {
        self.shared.pongs.load(Ordering::Acquire)
    }

    pub fn handshakes(&self) -> u64 {
        self.shared.handshakes.load(Ordering::Acquire)
    }

    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Acquire)
    }

    /// Stops accepting; connection threads end when their clients close.
    pub fn stop(mut self) {
        self.shared.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr); // wakes the blocking accept
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.join().expect("acceptor thread");
        }
    }
}

fn accept(listener: TcpListener, shared: Arc<Shared>, page: &'static [u8]) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let shared = shared.clone();
        std::thread::spawn(move || serve(stream, &shared, page));
    }
}

/// One connection: read, advance the state machine, answer, until it is done or closed.
fn serve(stream: TcpStream, shared: &Shared, page: &'static [u8]) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let number = shared.next_connection.fetch_add(1, Ordering::AcqRel);
    let writer: Writer = Arc::new(Mutex::new(stream.try_clone().expect("clone the socket")));
    let mut reader = stream;
    let mut ws = WsConnection::new(WsConfig::new(4096).with_page(Bytes::from_static(page)));
    let mut room = None;
    let (mut buffer, mut chunk) = (Vec::new(), vec![0; 16 * 1024]);
    while !ws.is_done() && !shared.stop.load(Ordering::Acquire) {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if retry(err.kind()) => continue,
            Err(_) => break,
        };
        buffer.extend_from_slice(&chunk[..n]);
        let mut consumed = 0;
        loop {
            let pongs_before = ws.pongs();
            let step = ws.advance(&buffer[consumed..]);
            consumed += step.consumed;
            let Some(event) = step.event else {
                let pongs = ws.pongs().saturating_sub(pongs_before);
                shared.pongs.fetch_add(pongs, Ordering::AcqRel);
                break;
            };
            match event {
                WsEvent::Handshake { response, .. } => {
                    shared.handshakes.fetch_add(1, Ordering::AcqRel);
                    write(&writer, &[&response, &idle_ping()]);
                }
                WsEvent::Message(packets) => {
                    let packets = packets.to_vec();
                    let mut out = Vec::new();
                    let framed = Framer::new(4096).decode(&packets, |packet| {
                        out.push((packet.id, packet.body.to_vec()));
                    });
                    if framed != Ok(packets.len()) {
                        shared.refused.fetch_add(1, Ordering::AcqRel);
                        return;
                    }
                    for (id, body) in out {
                        handle(shared, number, &writer, &mut room, id, &body);
                    }
                }
                WsEvent::Reply(pong) => write(&writer, &[&pong]),
                WsEvent::Page { response }
                | WsEvent::Closed {
                    reply: response, ..
                } => {
                    write(&writer, &[&response]);
                }
                WsEvent::Refused { reply, .. } => {
                    shared.refused.fetch_add(1, Ordering::AcqRel);
                    write(&writer, &[&reply]);
                }
            }
        }
        buffer.drain(..consumed);
    }
    leave(shared, number, room);
    let _ = writer.lock().unwrap().shutdown(Shutdown::Both);
}

/// A read that found nothing yet (the timeout that lets the thread see `stop`) or was
/// interrupted by a signal: read again.
fn retry(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::{Interrupted, TimedOut, WouldBlock};
    matches!(kind, WouldBlock | TimedOut | Interrupted)
}

/// One packet from connection `number`.
fn handle(
    shared: &Shared,
    number: u64,
    writer: &Writer,
    room: &mut Option<u32>,
    id: u16,
    body: &[u8],
) {
    match id {
        ECHO => send_packet(shared, writer, ECHO, body),
        ENTER_ROOM => {
            let joined = parse_room(body).expect("a 4-byte room");
            leave(shared, number, room.take());
            let members = {
                let mut rooms = shared.rooms.lock().unwrap();
                let members = rooms.entry(joined).or_default();
                members.push((number, writer.clone()));
                members.len() as u32
            };
            *room = Some(joined);
            send_packet(shared, writer, ROOM_JOINED, &room_joined(joined, members));
        }
        CHAT => {
            let Some(joined) = room else { return };
            let members = shared
                .rooms
                .lock()
                .unwrap()
                .get(joined)
                .cloned()
                .unwrap_or_default();
            for (_, member) in members {
                send_packet(shared, &member, CHAT_BROADCAST, body);
            }
        }
        _ => {}
    }
}

fn leave(shared: &Shared, number: u64, room: Option<u32>) {
    if let Some(room) = room {
        if let Some(members) = shared.rooms.lock().unwrap().get_mut(&room) {
            members.retain(|(n, _)| *n != number);
        }
    }
}

/// Sends a packet in one binary frame, or (every third packet) in two fragments with a
/// ping between them.
fn send_packet(shared: &Shared, writer: &Writer, id: u16, body: &[u8]) {
    let packet = encode(id, body).expect("a small packet");
    if shared.packets.fetch_add(1, Ordering::AcqRel) % 3 != 2 {
        write(writer, &[binary_header(packet.len()).as_bytes(), &packet]);
        return;
    }
    let (first, last) = packet.split_at(packet.len() / 2);
    let first_head = frame_head(0x02, first.len()); // binary, no FIN
    let last_head = frame_head(0x80, last.len()); // continuation, FIN
    write(
        writer,
        &[&first_head, first, &idle_ping(), &last_head, last],
    );
}

/// An unmasked frame header: `first` byte (FIN and opcode), then the payload length.
fn frame_head(first: u8, len: usize) -> Vec<u8> {
    match len {
        0..=125 => vec![first, len as u8],
        _ => [&[first, 126][..], &(len as u16).to_be_bytes()].concat(),
    }
}

/// Writes the pieces under the connection's write lock (one member's frames never interleave).
fn write(writer: &Writer, pieces: &[&[u8]]) {
    let mut stream = writer.lock().unwrap();
    for piece in pieces {
        if stream.write_all(piece).is_err() {
            return;
        }
    }
}
