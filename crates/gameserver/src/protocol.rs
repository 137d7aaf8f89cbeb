//! The game protocol as the server uses it: the ids and layouts come from the one definition
//! in `game-protocol` (docs/protocol.md); this module adds what needs servercore's types.
//!
//! Every packet is `PacketHeader { size: u16, id: u16 }` (little-endian, `size` counts the
//! header) followed by its body.

use servercore::packet::RateLimit;

pub use game_protocol::chat::{parse_room, room, room_joined};
pub use game_protocol::ids::*;

/// The SERVER_FULL packet written to refused connections.
pub fn server_full() -> bytes::Bytes {
    servercore::packet::encode(SERVER_FULL, game_protocol::chat::SERVER_FULL_REASON)
        .expect("a short packet")
}

/// Builds the RATE_LIMITED body.
pub fn rate_limited(limit: RateLimit) -> [u8; 8] {
    game_protocol::chat::rate_limited(limit.per_sec, limit.burst)
}

#[cfg(test)]
mod tests {
    use super::*;

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
