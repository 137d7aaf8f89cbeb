//! The resume bodies (ids 22-27, docs/protocol.md "Resume"): a [`Ticket`], the SEAT offer,
//! ACK, RESUME and RESUMED; SEAT_ASK is empty and SEAT_LOST is a reason (text).
//! Hand-written like [`crate::login`]; `tests/codecs.rs` checks each against the schema.
//!
//! Both directions of a seated session are numbered in bytes: every packet counts its whole
//! size, header included — what the server sends after SEAT except SEAT, RESUMED and
//! SEAT_LOST ([`counts_to_client`]); what the client sends after SEAT_ASK except ACK and
//! RESUME ([`counts_to_server`]). The server's ACKs are numbered (they travel in its stream). Positions are `u32` and wrap like TCP's sequence numbers:
//! [`Position`] compares and subtracts them modulo 2^32 (a window is far below 2 GiB).

use std::fmt;

use crate::ids;
use crate::token::MAX_PLAYER;

/// Bytes of a ticket.
pub const TICKET_LEN: usize = 16;

/// A seat's single-use resume ticket: 128 random bits, written as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket(pub [u8; TICKET_LEN]);

impl Ticket {
    /// The 32 hex digits.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads 32 hex digits (either case).
    pub fn parse(text: &[u8]) -> Option<Ticket> {
        if text.len() != 2 * TICKET_LEN {
            return None;
        }
        let mut bytes = [0; TICKET_LEN];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks(2)) {
            let digits = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(digits, 16).ok()?;
        }
        Some(Ticket(bytes))
    }

    /// Compares in time independent of where the tickets differ (a guess learns nothing).
    pub fn matches(&self, other: &Ticket) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ticket(..)") // a secret: never in a log line
    }
}

/// A byte position in a numbered stream, modulo 2^32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Position(pub u32);

impl Position {
    /// The position `bytes` later.
    pub fn after(self, bytes: usize) -> Position {
        Position(self.0.wrapping_add(bytes as u32))
    }

    /// Bytes from `earlier` to `self`, if `earlier` is not after `self` (within 2 GiB).
    pub fn since(self, earlier: Position) -> Option<usize> {
        let gap = self.0.wrapping_sub(earlier.0);
        (gap <= i32::MAX as u32).then_some(gap as usize)
    }
}

/// True for the server's packets the client counts: all but SEAT, RESUMED and SEAT_LOST.
pub fn counts_to_client(id: u16) -> bool {
    !matches!(id, ids::SEAT | ids::RESUMED | ids::SEAT_LOST)
}

/// True for the client's packets the server counts: all but SEAT_ASK, ACK and RESUME.
pub fn counts_to_server(id: u16) -> bool {
    !matches!(id, ids::SEAT_ASK | ids::ACK | ids::RESUME)
}

/// The SEAT offer: the first ticket, the window and the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seat {
    /// The ticket for the first RESUME.
    pub ticket: Ticket,
    /// Seconds the seat is held after a drop.
    pub window_s: u16,
    /// Most unacknowledged bytes the server keeps for the player.
    pub buffer: u32,
}

impl Seat {
    /// The body: `ticket: str8(32) | window_s: u16 | buffer: u32`.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = ticket_field(&self.ticket);
        body.extend_from_slice(&self.window_s.to_le_bytes());
        body.extend_from_slice(&self.buffer.to_le_bytes());
        body
    }

    /// Reads a SEAT body.
    pub fn parse(body: &[u8]) -> Option<Seat> {
        let (ticket, rest) = read_ticket(body)?;
        let [w0, w1, b0, b1, b2, b3] = rest.try_into().ok()?;
        Some(Seat {
            ticket,
            window_s: u16::from_le_bytes([w0, w1]),
            buffer: u32::from_le_bytes([b0, b1, b2, b3]),
        })
    }
}

/// An ACK body: the position received so far.
pub fn ack(received: Position) -> [u8; 4] {
    received.0.to_le_bytes()
}

/// Reads an ACK body.
pub fn parse_ack(body: &[u8]) -> Option<Position> {
    Some(Position(u32::from_le_bytes(body.try_into().ok()?)))
}

/// A RESUME: whose seat, its ticket, and what the client has received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The player (the token's `sub` HELLO_OK named).
    pub player: String,
    /// The last ticket the server gave (SEAT or RESUMED).
    pub ticket: Ticket,
    /// Bytes of numbered packets the client received.
    pub received: Position,
}

impl Resume {
    /// The body: `player: str8 | ticket: str8(32) | received: u32`; `None` for a bad player id.
    pub fn encode(&self) -> Option<Vec<u8>> {
        if self.player.is_empty() || self.player.len() > MAX_PLAYER {
            return None;
        }
        let mut body = vec![self.player.len() as u8]; // at most MAX_PLAYER
        body.extend_from_slice(self.player.as_bytes());
        body.extend_from_slice(&ticket_field(&self.ticket));
        body.extend_from_slice(&self.received.0.to_le_bytes());
        Some(body)
    }

    /// Reads a RESUME body.
    pub fn parse(body: &[u8]) -> Option<Resume> {
        let (&len, rest) = body.split_first()?;
        let len = usize::from(len);
        if len == 0 || len > MAX_PLAYER || rest.len() < len {
            return None;
        }
        let (player, rest) = rest.split_at(len);
        let (ticket, rest) = read_ticket(rest)?;
        Some(Resume {
            player: std::str::from_utf8(player).ok()?.to_owned(),
            ticket,
            received: parse_ack(rest)?,
        })
    }
}

/// A RESUMED body: the next ticket, and the client's bytes the server had.
pub fn resumed(ticket: &Ticket, received: Position) -> Vec<u8> {
    let mut body = ticket_field(ticket);
    body.extend_from_slice(&received.0.to_le_bytes());
    body
}

/// Reads a RESUMED body.
pub fn parse_resumed(body: &[u8]) -> Option<(Ticket, Position)> {
    let (ticket, rest) = read_ticket(body)?;
    Some((ticket, parse_ack(rest)?))
}

fn ticket_field(ticket: &Ticket) -> Vec<u8> {
    let mut field = Vec::with_capacity(1 + 2 * TICKET_LEN + 6);
    field.push((2 * TICKET_LEN) as u8);
    field.extend_from_slice(ticket.hex().as_bytes());
    field
}

fn read_ticket(body: &[u8]) -> Option<(Ticket, &[u8])> {
    let (&len, rest) = body.split_first()?;
    if usize::from(len) != 2 * TICKET_LEN || rest.len() < 2 * TICKET_LEN {
        return None;
    }
    let (hex, rest) = rest.split_at(2 * TICKET_LEN);
    Some((Ticket::parse(hex)?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Ticket = Ticket([0xab; TICKET_LEN]);

    #[test]
    fn bodies_round_trip_and_refuse_bad_ones() {
        let seat = Seat {
            ticket: T,
            window_s: 30,
            buffer: 1 << 18,
        };
        assert_eq!(Seat::parse(&seat.encode()), Some(seat));
        let resume = Resume {
            player: "alice".into(),
            ticket: T,
            received: Position(77),
        };
        let body = resume.encode().unwrap();
        assert_eq!(Resume::parse(&body), Some(resume));
        assert_eq!(Resume::parse(&body[..body.len() - 1]), None);
        assert_eq!(
            parse_resumed(&resumed(&T, Position(9))),
            Some((T, Position(9)))
        );
        assert_eq!(parse_ack(&ack(Position(5))), Some(Position(5)));
        assert_eq!(parse_ack(b"abc"), None);
        let mut bad = seat.encode();
        bad[1] = b'g'; // not a hex digit
        assert_eq!(Seat::parse(&bad), None);
    }

    #[test]
    fn positions_wrap_like_sequence_numbers() {
        let near_end = Position(u32::MAX - 1);
        let wrapped = near_end.after(5);
        assert_eq!(wrapped, Position(3));
        assert_eq!(wrapped.since(near_end), Some(5));
        assert_eq!(near_end.since(wrapped), None);
    }

    #[test]
    fn tickets_print_as_hex_and_compare_whole() {
        assert_eq!(T.hex(), "ab".repeat(16));
        assert_eq!(Ticket::parse(T.hex().to_uppercase().as_bytes()), Some(T));
        let mut other = T;
        other.0[15] = 0;
        assert!(T.matches(&T) && !T.matches(&other));
        assert_eq!(format!("{T:?}"), "Ticket(..)");
        assert!(counts_to_client(ids::ACK) && !counts_to_client(ids::RESUMED));
        assert!(counts_to_server(ids::CHAT) && !counts_to_server(ids::ACK));
    }
}
