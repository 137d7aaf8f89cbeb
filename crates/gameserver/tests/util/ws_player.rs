//! [`WsPlayer`]: a blocking WebSocket player over any stream (TCP, or TLS for `wss://`):
//! the handshake, masked packets out, packets from binary messages in.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use rfc6455::{masked_frame, ClientHandshake, FrameEvent, MessageReader, Opcode, Role};
use servercore::packet::{encode, PacketHeader, HEADER_LEN};

/// A WebSocket player on `S`.
pub struct WsPlayer<S = TcpStream> {
    pub stream: S,
    reader: MessageReader,
    wire: Vec<u8>,
    packets: Vec<u8>,
}

impl WsPlayer<TcpStream> {
    /// Connects to `addr` and upgrades.
    pub fn connect(addr: SocketAddr) -> WsPlayer<TcpStream> {
        WsPlayer::over(testkit::connect(addr), &addr.to_string())
    }
}

impl<S: Read + Write> WsPlayer<S> {
    /// Upgrades `stream` (connected, and with TLS already shaken hands) as host `host`.
    pub fn over(mut stream: S, host: &str) -> WsPlayer<S> {
        let wire = ClientHandshake::new()
            .perform(&mut stream, host, "/")
            .expect("101");
        WsPlayer {
            stream,
            reader: MessageReader::new(Role::Client, 1 << 16),
            wire,
            packets: Vec::new(),
        }
    }

    pub fn send(&mut self, id: u16, body: &[u8]) {
        let packet = encode(id, body).unwrap();
        let frame = masked_frame(Opcode::Binary, &packet, [9, 8, 7, 6]);
        self.stream.write_all(&frame).unwrap();
        self.stream.flush().unwrap();
    }

    /// The next packet from the server (messages may carry one packet each).
    pub fn recv(&mut self) -> (u16, Vec<u8>) {
        loop {
            if let Some(packet) = self.packet() {
                return packet;
            }
            let message = self.message();
            if let Some(m) = message {
                self.packets.extend(m);
            }
        }
    }

    /// The next binary message from the server, whole.
    pub fn message(&mut self) -> Option<Vec<u8>> {
        let (used, event) = self.reader.read(&self.wire).expect("valid frames");
        let message = match event {
            Some(FrameEvent::Message(m)) => Some(m.to_vec()),
            Some(FrameEvent::Ping(_)) => None,
            Some(FrameEvent::Close { code, .. }) => panic!("closed: {code:?}"),
            None => None,
        };
        self.wire.drain(..used);
        if message.is_none() && used == 0 {
            read_more(&mut self.stream, &mut self.wire);
        }
        message
    }

    /// A whole packet from what the messages brought, if there is one.
    fn packet(&mut self) -> Option<(u16, Vec<u8>)> {
        if self.packets.len() < HEADER_LEN {
            return None;
        }
        let header = PacketHeader::decode(&self.packets).unwrap();
        let size = usize::from(header.size);
        if self.packets.len() < size {
            return None;
        }
        let body = self.packets[HEADER_LEN..size].to_vec();
        self.packets.drain(..size);
        Some((header.id, body))
    }
}

fn read_more(stream: &mut impl Read, buffer: &mut Vec<u8>) {
    let mut chunk = [0; 4096];
    let n = stream.read(&mut chunk).expect("read");
    assert!(n > 0, "server closed early");
    buffer.extend_from_slice(&chunk[..n]);
}
