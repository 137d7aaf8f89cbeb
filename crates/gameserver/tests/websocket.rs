//! Browser players: a WebSocket player and a TCP player in one room see each other's chats,
//! with the same rules (every member gets each chat once, in order), on both models.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use gameserver::protocol;
use rfc6455::{masked_frame, ClientHandshake, FrameEvent, MessageReader, Opcode, Role, WsConfig};
use servercore::packet::{encode, PacketHeader, HEADER_LEN};
use servercore::{Model, ServiceConfig};
use util::*;

/// A WebSocket player: handshake, masked packets out, packets from binary messages in.
struct WsPlayer {
    stream: TcpStream,
    reader: MessageReader,
    wire: Vec<u8>,
    packets: Vec<u8>,
}

impl WsPlayer {
    fn connect(addr: SocketAddr) -> WsPlayer {
        let mut stream = connect(addr);
        let wire = ClientHandshake::new()
            .perform(&mut stream, &addr.to_string(), "/")
            .expect("101");
        WsPlayer {
            stream,
            reader: MessageReader::new(Role::Client, 1 << 16),
            wire,
            packets: Vec::new(),
        }
    }

    fn send(&mut self, id: u16, body: &[u8]) {
        let packet = encode(id, body).unwrap();
        let frame = masked_frame(Opcode::Binary, &packet, [9, 8, 7, 6]);
        self.stream.write_all(&frame).unwrap();
    }

    /// The next packet from the server (messages may carry one packet each).
    fn recv(&mut self) -> (u16, Vec<u8>) {
        loop {
            if self.packets.len() >= HEADER_LEN {
                let header = PacketHeader::decode(&self.packets).unwrap();
                let size = usize::from(header.size);
                if self.packets.len() >= size {
                    let body = self.packets[HEADER_LEN..size].to_vec();
                    self.packets.drain(..size);
                    return (header.id, body);
                }
            }
            let (used, event) = self.reader.read(&self.wire).expect("valid frames");
            let message = match event {
                Some(FrameEvent::Message(m)) => Some(m.to_vec()),
                Some(FrameEvent::Ping(_)) => None,
                Some(FrameEvent::Close { code, .. }) => panic!("closed: {code:?}"),
                None => None,
            };
            self.wire.drain(..used);
            match message {
                Some(m) => self.packets.extend(m),
                None if used == 0 => read_more(&mut self.stream, &mut self.wire),
                None => {}
            }
        }
    }
}

fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) {
    let mut chunk = [0; 4096];
    let n = stream.read(&mut chunk).expect("read");
    assert!(n > 0, "server closed early");
    buffer.extend_from_slice(&chunk[..n]);
}

fn tcp_and_browser_players_share_a_room(model: Model) {
    let (service, _) = game_server(model, ServiceConfig::default());
    let ws_addr = service
        .listen_websocket(loopback(), WsConfig::new(4096))
        .unwrap();
    let mut tcp = connect(addr(&service));
    let mut browser = WsPlayer::connect(ws_addr);
    join(&mut tcp, 3);
    browser.send(protocol::ENTER_ROOM, &3u32.to_le_bytes());
    assert_eq!(browser.recv().0, protocol::ROOM_JOINED);
    for round in 0..20u8 {
        send_packet(&mut tcp, protocol::CHAT, &[b't', round]);
        browser.send(protocol::CHAT, &[b'w', round]);
        // Each member gets both chats; per sender, in the order sent.
        let mut from_tcp = Vec::new();
        let mut from_ws = Vec::new();
        for _ in 0..2 {
            let (id, body) = read_packet(&mut tcp).unwrap();
            assert_eq!(id, protocol::CHAT_BROADCAST);
            from_tcp.push(body);
            let (id, body) = browser.recv();
            assert_eq!(id, protocol::CHAT_BROADCAST);
            from_ws.push(body);
        }
        for got in [&mut from_tcp, &mut from_ws] {
            got.sort();
            assert_eq!(*got, vec![vec![b't', round], vec![b'w', round]]);
        }
    }
    browser.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(wait_until(Duration::from_secs(20), || service
        .live_sessions()
        == 1));
}

one_model!(
    tcp_and_browser_share_a_room,
    tcp_and_browser_players_share_a_room
);
