//! Packet ids and body layouts of the game protocol (see `docs/protocol.md`).
//!
//! Every packet is `PacketHeader { size: u16, id: u16 }` (little-endian, `size` counts the
//! header) followed by the body below.

use servercore::packet::RateLimit;

/// Client -> server -> client: the server sends the same packet back.
pub const ECHO: u16 = 1;
/// Client -> server: join a room. Body: `room: u32 LE`. Leaves the current room first.
pub const ENTER_ROOM: u16 = 2;
/// Client -> server: leave the current room. Empty body.
pub const LEAVE_ROOM: u16 = 3;
/// Client -> server: say something to the room. Body: any bytes (up to the packet maximum).
pub const CHAT: u16 = 4;
/// Server -> every member of the sender's room, the sender included: the CHAT body unchanged.
pub const CHAT_BROADCAST: u16 = 5;
/// Server -> client: answer to ENTER_ROOM. Body: `room: u32 LE, members: u32 LE` (members
/// counted after the join).
pub const ROOM_JOINED: u16 = 6;

/// Server -> client, then close: the server refuses the connection (session caps). Body:
/// UTF-8 reason.
pub const SERVER_FULL: u16 = 7;

/// Server -> client: answer to ENTER_ROOM when the room has no place left. Body: `room: u32
/// LE, capacity: u32 LE`. The client stays in the room it was in, if any.
pub const ROOM_FULL: u16 = 8;

/// Server -> client, then close: the session sent more packets than the per-session rate
/// limit allows (`--rate-limit`, `--rate-burst`). Body: `per_sec: u32 LE, burst: u32 LE`, the
/// limit it broke. The replies to the packets before it were sent first; then the FIN.
pub const RATE_LIMITED: u16 = 9;

/// The SERVER_FULL packet written to refused connections.
pub fn server_full() -> bytes::Bytes {
    servercore::packet::encode(SERVER_FULL, b"server full").expect("a short packet")
}

/// Reads the ENTER_ROOM body.
pub fn parse_room(body: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(body.try_into().ok()?))
}

/// Builds the ROOM_JOINED body (`members` after the join) or the ROOM_FULL body (`members`:
/// the room's capacity).
pub fn room_joined(room: u32, members: u32) -> [u8; 8] {
    let mut body = [0; 8];
    body[..4].copy_from_slice(&room.to_le_bytes());
    body[4..].copy_from_slice(&members.to_le_bytes());
    body
}

/// Builds the RATE_LIMITED body.
pub fn rate_limited(limit: RateLimit) -> [u8; 8] {
    let mut body = [0; 8];
    body[..4].copy_from_slice(&limit.per_sec.to_le_bytes());
    body[4..].copy_from_slice(&limit.burst.to_le_bytes());
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_body_round_trips_and_rejects_wrong_lengths() {
        assert_eq!(parse_room(&7u32.to_le_bytes()), Some(7));
        assert_eq!(parse_room(&[1, 2, 3]), None);
        assert_eq!(parse_room(&[1, 2, 3, 4, 5]), None);
        let joined = room_joined(7, 3);
        assert_eq!(parse_room(&joined[..4]), Some(7));
        assert_eq!(u32::from_le_bytes(joined[4..].try_into().unwrap()), 3);
    }

    #[test]
    fn rate_limited_carries_the_limit() {
        let body = rate_limited(RateLimit {
            per_sec: 200,
            burst: 400,
        });
        assert_eq!(u32::from_le_bytes(body[..4].try_into().unwrap()), 200);
        assert_eq!(u32::from_le_bytes(body[4..].try_into().unwrap()), 400);
    }

    #[test]
    fn server_full_is_one_whole_packet() {
        let packet = server_full();
        let header = servercore::packet::PacketHeader::decode(&packet).unwrap();
        assert_eq!(
            (header.size as usize, header.id),
            (packet.len(), SERVER_FULL)
        );
        assert_eq!(&packet[4..], b"server full");
    }
}
