//! The login bodies (ids 17-21): HELLO carries a connect token ([`crate::token`]), HELLO_OK
//! names the player, UNAUTHENTICATED says why not; SESSION_REPLACED is empty and
//! ROOM_FORBIDDEN is a room ([`crate::chat::room`]). Hand-written like [`crate::chat`];
//! `tests/codecs.rs` checks each against the schema.

use crate::token::MAX_PLAYER;

/// Reads a HELLO body: the token, UTF-8.
pub fn parse_hello(body: &[u8]) -> Option<&str> {
    std::str::from_utf8(body).ok()
}

/// The body of HELLO_OK (and of PLAYER_AWAY, PLAYER_BACK): `player: str8` (1..=64 bytes).
/// `None` for an empty or longer id.
pub fn hello_ok(player: &str) -> Option<Vec<u8>> {
    if player.is_empty() || player.len() > MAX_PLAYER {
        return None;
    }
    let mut body = Vec::with_capacity(1 + player.len());
    body.push(player.len() as u8); // at most MAX_PLAYER
    body.extend_from_slice(player.as_bytes());
    Some(body)
}

/// Reads a HELLO_OK (PLAYER_AWAY, PLAYER_BACK) body: the player id.
pub fn parse_hello_ok(body: &[u8]) -> Option<&str> {
    let (&len, rest) = body.split_first()?;
    let len = usize::from(len);
    if len == 0 || len > MAX_PLAYER || len != rest.len() {
        return None;
    }
    std::str::from_utf8(rest).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_ok_round_trips_and_refuses_bad_lengths() {
        let body = hello_ok("alice").unwrap();
        assert_eq!(body, b"\x05alice");
        assert_eq!(parse_hello_ok(&body), Some("alice"));
        assert_eq!(hello_ok(""), None);
        assert_eq!(hello_ok(&"x".repeat(MAX_PLAYER + 1)), None);
        assert_eq!(parse_hello_ok(b"\x05ali"), None);
        assert_eq!(parse_hello_ok(b"\x02al!"), None);
        assert_eq!(parse_hello_ok(b"\x00"), None);
        assert_eq!(parse_hello(b"\xff"), None);
    }
}
