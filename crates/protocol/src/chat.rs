//! The chat rooms' bodies (ids 1-9): ENTER_ROOM, ROOM_JOINED / ROOM_FULL, RATE_LIMITED,
//! SERVER_FULL, and the NAMED_CHAT convention of the web page. Hand-written for the servers'
//! and clients' hot paths; `tests/codecs.rs` checks each against the schema.

/// The body of ENTER_ROOM and ROOM_UNAVAILABLE: `room: u32`.
pub fn room(room: u32) -> [u8; 4] {
    room.to_le_bytes()
}

/// Reads an ENTER_ROOM (or ROOM_UNAVAILABLE) body: exactly 4 bytes.
pub fn parse_room(body: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(body.try_into().ok()?))
}

/// The body of ROOM_JOINED (`members` after the join) or ROOM_FULL (`members`: the room's
/// capacity): `room: u32, members: u32`.
pub fn room_joined(room: u32, members: u32) -> [u8; 8] {
    two_u32(room, members)
}

/// Reads a ROOM_JOINED or ROOM_FULL body: (room, members or capacity).
pub fn parse_room_joined(body: &[u8]) -> Option<(u32, u32)> {
    let body: &[u8; 8] = body.try_into().ok()?;
    let (a, b) = body.split_at(4);
    Some((
        u32::from_le_bytes(a.try_into().ok()?),
        u32::from_le_bytes(b.try_into().ok()?),
    ))
}

/// The body of RATE_LIMITED: `per_sec: u32, burst: u32`.
pub fn rate_limited(per_sec: u32, burst: u32) -> [u8; 8] {
    two_u32(per_sec, burst)
}

/// The body of SERVER_FULL.
pub const SERVER_FULL_REASON: &[u8] = b"server full";

fn two_u32(a: u32, b: u32) -> [u8; 8] {
    let mut body = [0; 8];
    body[..4].copy_from_slice(&a.to_le_bytes());
    body[4..].copy_from_slice(&b.to_le_bytes());
    body
}

/// Longest sender name of a NAMED_CHAT body, in bytes.
pub const MAX_NAME: usize = 32;

/// A NAMED_CHAT body: `name_len: u8, name (1..=32 bytes of UTF-8), text (the rest, UTF-8)`.
/// `None` if the name is empty or too long.
pub fn named_chat(name: &str, text: &str) -> Option<Vec<u8>> {
    if name.is_empty() || name.len() > MAX_NAME {
        return None;
    }
    let mut body = Vec::with_capacity(1 + name.len() + text.len());
    body.push(name.len() as u8); // at most MAX_NAME
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(text.as_bytes());
    Some(body)
}

/// Reads a NAMED_CHAT body: (name, text), or `None` if it is not one (a load generator's
/// binary chat).
pub fn parse_named_chat(body: &[u8]) -> Option<(&str, &str)> {
    let (&len, rest) = body.split_first()?;
    let len = usize::from(len);
    if len == 0 || len > MAX_NAME || len > rest.len() {
        return None;
    }
    let (name, text) = rest.split_at(len);
    Some((
        std::str::from_utf8(name).ok()?,
        std::str::from_utf8(text).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_bodies_round_trip_and_refuse_wrong_lengths() {
        assert_eq!(parse_room(&room(7)), Some(7));
        assert_eq!(parse_room(&[1, 2, 3]), None);
        assert_eq!(parse_room(&[1, 2, 3, 4, 5]), None);
        assert_eq!(parse_room_joined(&room_joined(7, 3)), Some((7, 3)));
        assert_eq!(parse_room_joined(&[0; 7]), None);
        assert_eq!(parse_room_joined(&rate_limited(200, 400)), Some((200, 400)));
    }

    #[test]
    fn named_chats() {
        let body = named_chat("bob", "hi").unwrap();
        assert_eq!(body, b"\x03bobhi");
        assert_eq!(parse_named_chat(&body), Some(("bob", "hi")));
        assert_eq!(named_chat("", "x"), None);
        assert_eq!(named_chat(&"x".repeat(33), "x"), None);
        assert_eq!(parse_named_chat(b"\x05ab"), None);
        assert_eq!(parse_named_chat(b"\x00ab"), None);
        assert_eq!(parse_named_chat(b"\x01\xff"), None);
    }
}
