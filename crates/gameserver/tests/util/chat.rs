//! Chat bodies that say who sent them and in which order, and the book that checks them on
//! arrival: exactly once and in per-sender order.

use std::collections::HashMap;

use gameserver::protocol;

/// A chat body: sender index + sequence number, padded to `len`.
pub fn chat_body(sender: u32, seq: u32, len: usize) -> Vec<u8> {
    let mut body = vec![0xC5; len.max(8)];
    body[..4].copy_from_slice(&sender.to_le_bytes());
    body[4..8].copy_from_slice(&seq.to_le_bytes());
    body
}

/// Per-sender order book: each sender's sequence numbers must arrive as 0, 1, 2, ... with no
/// gap or repeat (or, with [`Heard::check_increasing`], rising with gaps allowed), and every
/// body must be the one that sender built.
#[derive(Debug, Default)]
pub struct Heard(pub HashMap<u32, u32>);

impl Heard {
    /// Checks one packet: the next of its sender, no gap. Returns (sender, seq).
    pub fn check(&mut self, packet: (u16, Vec<u8>), len: usize) -> (u32, u32) {
        let (sender, seq) = Self::parse(packet, len);
        let expected = self.0.entry(sender).or_insert(0);
        assert_eq!(
            seq, *expected,
            "sender {sender}: out of order or duplicated"
        );
        *expected += 1;
        (sender, seq)
    }

    /// Checks one packet: later than anything heard from its sender (chats may be missing,
    /// never repeated or reordered). Returns (sender, seq).
    pub fn check_increasing(&mut self, packet: (u16, Vec<u8>), len: usize) -> (u32, u32) {
        let (sender, seq) = Self::parse(packet, len);
        let next = self.0.entry(sender).or_insert(0);
        assert!(
            seq >= *next,
            "sender {sender}: {seq} after {} (repeat or reorder)",
            *next
        );
        *next = seq + 1;
        (sender, seq)
    }

    fn parse((id, body): (u16, Vec<u8>), len: usize) -> (u32, u32) {
        assert_eq!(id, protocol::CHAT_BROADCAST);
        let sender = u32::from_le_bytes(body[..4].try_into().unwrap());
        let seq = u32::from_le_bytes(body[4..8].try_into().unwrap());
        assert_eq!(
            body,
            chat_body(sender, seq, len),
            "broadcast body corrupted"
        );
        (sender, seq)
    }
}
