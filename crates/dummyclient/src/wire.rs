//! [`Wire`]: how the load generator's messages travel, as `--protocol` says.
//!
//! ```text
//!   raw:     | message | message | message | ...            messages back to back, each
//!                                                            exactly --size bytes
//!   packet:  | size id | body | size id | body | ...        docs/protocol.md: every message is
//!            |<- 4 ->|                                       the body of one packet
//! ```
//!
//! Both directions go through here: [`Wire::frame`] puts the packet header (if any) in front
//! of a message being written, [`Wire::split`] cuts what arrived into messages. A raw message
//! is presented as an [`ECHO`] packet without its header, so the scenarios deal in packets
//! only.
//!
//! The packet ids and layouts come from `game-protocol`, the one definition of the protocol.

use bytes::{BufMut, BytesMut};
use servercore::packet::{Framer, Packet, PacketError, PacketHeader, HEADER_LEN};

pub use game_protocol::ids::{
    CHAT, CHAT_BROADCAST, ECHO, ENTER_ROOM, HELLO, HELLO_OK, LEAVE_ROOM, RATE_LIMITED, ROOM_FULL,
    ROOM_JOINED, SERVER_FULL, SESSION_REPLACED, UNAUTHENTICATED,
};

/// Length of the ROOM_JOINED body.
pub const ROOM_JOINED_LEN: usize = 8;

/// Longest body of a server's answer that is not a message (ROOM_JOINED, HELLO_OK, an
/// UNAUTHENTICATED reason: the server keeps those within 200 bytes), taken whatever the
/// message size.
pub const MAX_ANSWER: usize = 256;

/// What the server said before it closed a client: the packet it sends first
/// (docs/protocol.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Farewell {
    /// `SERVER_FULL`: refused by the session caps (`gameserver --max-sessions`, and per source).
    ServerFull,
    /// `RATE_LIMITED`: the client sent more than `per_sec` packets a second (bursts of
    /// `burst`).
    RateLimited {
        /// The server's `--rate-limit`.
        per_sec: u32,
        /// The server's `--rate-burst`.
        burst: u32,
    },
    /// `UNAUTHENTICATED`: the server wants a connect token (`gameserver --auth-secret`) and
    /// had none it took.
    Unauthenticated,
    /// `SESSION_REPLACED`: a newer login of the same player took over.
    Replaced,
}

impl Farewell {
    /// The farewell `packet` is, if it is one.
    pub fn of(packet: &Packet<'_>) -> Option<Farewell> {
        match packet.id {
            SERVER_FULL => Some(Farewell::ServerFull),
            RATE_LIMITED => {
                let u32_at = |at: usize| {
                    let bytes = packet.body.get(at..at + 4)?;
                    Some(u32::from_le_bytes(bytes.try_into().ok()?))
                };
                Some(Farewell::RateLimited {
                    per_sec: u32_at(0).unwrap_or(0),
                    burst: u32_at(4).unwrap_or(0),
                })
            }
            UNAUTHENTICATED => Some(Farewell::Unauthenticated),
            SESSION_REPLACED => Some(Farewell::Replaced),
            _ => None,
        }
    }

    /// The name the report counts its disconnects under.
    pub fn name(self) -> &'static str {
        match self {
            Farewell::ServerFull => "server_full",
            Farewell::RateLimited { .. } => "rate_limited",
            Farewell::Unauthenticated => "unauthenticated",
            Farewell::Replaced => "session_replaced",
        }
    }

    /// How to run so that it does not happen (for the end of a failed run).
    pub fn hint(self) -> String {
        match self {
            Farewell::ServerFull => "the server refused connections (SERVER_FULL): run gameserver \
                 with a higher --max-sessions, or from an address in its --trusted-sources \
                 (loopback by default) past --max-sessions-per-ip"
                .to_string(),
            Farewell::RateLimited { .. } => format!(
                "server closed clients: {self}; run gameserver with --rate-limit 0 (or a higher \
                 --rate-limit / --rate-burst), or load-test from an address in its \
                 --trusted-sources (loopback by default), which the packet rate does not apply to"
            ),
            Farewell::Unauthenticated => "the server refused the clients' sign-in \
                 (UNAUTHENTICATED): if it runs with --auth-secret, run with --auth-secret and the \
                 same secret file (each client then signs in with a token of its own); the \
                 server's log line 'login refused' says why"
                .to_string(),
            Farewell::Replaced => "two clients signed in as the same player and the second \
                 took over: give each client its own player"
                .to_string(),
        }
    }
}

impl std::fmt::Display for Farewell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Farewell::ServerFull => f.write_str("server full"),
            Farewell::RateLimited { per_sec, burst } => write!(
                f,
                "rate limited ({per_sec} packets/s per session, bursts of {burst})"
            ),
            Farewell::Unauthenticated => f.write_str("unauthenticated (no valid connect token)"),
            Farewell::Replaced => f.write_str("session replaced by a newer login"),
        }
    }
}

/// What the server speaks (`--protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Protocol {
    /// Bytes echoed as they are (the lecture's server): messages back to back.
    #[default]
    Raw,
    /// Framed packets (docs/protocol.md): `gameserver --protocol packet`.
    Packet,
}

impl Protocol {
    /// The name used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Raw => "raw",
            Protocol::Packet => "packet",
        }
    }
}

/// One side of the wire: frames outgoing messages and splits incoming bytes.
#[derive(Debug, Clone, Copy)]
pub struct Wire {
    protocol: Protocol,
    /// `--websocket`: each outgoing packet goes in a masked binary frame
    /// ([`crate::websocket`]); incoming frames are unwrapped before [`Wire::split`].
    websocket: bool,
    /// Message size: raw messages are cut at it; packet bodies are at most this long (or
    /// [`ROOM_JOINED_LEN`]) and a bigger packet is refused.
    size: usize,
    framer: Framer,
}

impl Wire {
    /// A wire for `size`-byte messages (raw) or packet bodies (packet).
    pub fn new(protocol: Protocol, size: usize) -> Wire {
        Wire {
            protocol,
            websocket: false,
            size,
            framer: Framer::new(HEADER_LEN + size.max(MAX_ANSWER)),
        }
    }

    /// The same wire with each outgoing packet in a masked WebSocket frame (`--websocket`).
    pub fn with_websocket(self, websocket: bool) -> Wire {
        Wire { websocket, ..self }
    }

    /// Bytes of one message (raw) or packet body (packet).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Bytes on the wire for one message.
    pub fn framed_len(&self) -> usize {
        let message = match self.protocol {
            Protocol::Raw => self.size,
            Protocol::Packet => HEADER_LEN + self.size,
        };
        match self.websocket {
            true => crate::websocket::header_len(message) + message,
            false => message,
        }
    }

    /// An already encoded packet as it goes on this wire (in a masked frame with
    /// `--websocket`).
    pub fn wrap(&self, packet: bytes::Bytes) -> bytes::Bytes {
        match self.websocket {
            true => crate::websocket::wrap(&packet),
            false => packet,
        }
    }

    /// Appends one message to `out`: packet `id`'s header (packet mode), then the
    /// [`size`](Self::size) bytes `body` writes. Raw mode writes the body alone.
    ///
    /// # Panics
    /// If `body` does not write exactly `size` bytes, or (packet mode) the packet does not
    /// fit the 16-bit size field (the config is validated against both).
    pub fn frame(&self, out: &mut BytesMut, id: u16, body: impl FnOnce(&mut BytesMut)) {
        let start = out.len();
        let message = Wire {
            websocket: false,
            ..*self
        };
        let write = |out: &mut BytesMut| {
            if self.protocol == Protocol::Packet {
                let size = u16::try_from(message.framed_len()).expect("packet fits its size field");
                out.put_slice(&PacketHeader { size, id }.encode());
            }
            body(out);
        };
        match self.websocket {
            true => crate::websocket::frame_masked(out, message.framed_len(), write),
            false => write(out),
        }
        assert_eq!(out.len() - start, self.framed_len(), "one framed message");
    }

    /// Hands every whole message at the front of `data` to `f`, as a packet (raw messages as
    /// [`ECHO`] packets of `size` bytes); returns the bytes they took. The rest is a partial
    /// message, to be offered again with more bytes.
    ///
    /// # Errors
    /// A packet header with a size below 4 or above the largest expected packet: the stream
    /// cannot be framed any more (the packets before it were handed over).
    pub fn split<'a>(
        &self,
        data: &'a [u8],
        mut f: impl FnMut(Packet<'a>),
    ) -> Result<usize, PacketError> {
        match self.protocol {
            Protocol::Raw => {
                let whole = data.len() / self.size * self.size;
                for body in data[..whole].chunks_exact(self.size) {
                    f(Packet { id: ECHO, body });
                }
                Ok(whole)
            }
            Protocol::Packet => self.framer.decode(data, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_all(wire: &Wire, bodies: &[&[u8]]) -> BytesMut {
        let mut out = BytesMut::new();
        for body in bodies {
            wire.frame(&mut out, CHAT, |out| out.put_slice(body));
        }
        out
    }

    #[test]
    fn raw_is_messages_back_to_back() {
        let wire = Wire::new(Protocol::Raw, 3);
        let out = frame_all(&wire, &[b"abc", b"def"]);
        assert_eq!(&out[..], b"abcdef");
        let mut got = Vec::new();
        assert_eq!(wire.split(b"abcdefgh", |p| got.push((p.id, p.body))), Ok(6));
        assert_eq!(got, [(ECHO, &b"abc"[..]), (ECHO, &b"def"[..])]);
    }

    #[test]
    fn packet_frames_and_splits_keeping_the_tail() {
        let wire = Wire::new(Protocol::Packet, 3);
        let out = frame_all(&wire, &[b"abc", b"def"]);
        assert_eq!(&out[..4], &[7, 0, CHAT as u8, 0]);
        assert_eq!(out.len(), 14);
        let mut got = Vec::new();
        assert_eq!(
            wire.split(&out[..12], |p| got.push((p.id, p.body.to_vec()))),
            Ok(7)
        );
        assert_eq!(got, [(CHAT, b"abc".to_vec())]);
    }

    #[test]
    fn farewells_are_recognised_with_their_limit() {
        let mut body = 200u32.to_le_bytes().to_vec();
        body.extend_from_slice(&400u32.to_le_bytes());
        let rate = Packet {
            id: RATE_LIMITED,
            body: &body,
        };
        let farewell = Farewell::of(&rate).expect("a farewell");
        assert_eq!(
            farewell,
            Farewell::RateLimited {
                per_sec: 200,
                burst: 400
            }
        );
        assert_eq!(farewell.name(), "rate_limited");
        assert!(farewell.hint().contains("200 packets/s"));
        assert!(farewell.hint().contains("--rate-limit 0"));
        let full = Packet {
            id: SERVER_FULL,
            body: b"server full",
        };
        assert_eq!(Farewell::of(&full), Some(Farewell::ServerFull));
        let echo = Packet {
            id: ECHO,
            body: b"",
        };
        assert_eq!(Farewell::of(&echo), None);
    }

    #[test]
    fn packet_larger_than_expected_is_refused() {
        // Messages of 16 bytes: answers up to MAX_ANSWER are taken, anything larger is not.
        let wire = Wire::new(Protocol::Packet, 16);
        let frame = |len: usize| {
            let mut out = BytesMut::new();
            Wire::new(Protocol::Packet, len).frame(&mut out, ECHO, |o| o.put_slice(&vec![0; len]));
            out
        };
        let mut seen = 0;
        assert!(wire.split(&frame(MAX_ANSWER), |_| seen += 1).is_ok());
        assert_eq!(seen, 1);
        assert!(matches!(
            wire.split(&frame(MAX_ANSWER + 1), |_| {}),
            Err(PacketError::TooLarge { .. })
        ));
        let big = Wire::new(Protocol::Packet, 1000);
        assert!(big.split(&frame(1000), |_| {}).is_ok());
    }
}
