//! Outgoing frames: the bytes a WebSocket endpoint writes, and the mask both sides apply.
//!
//! ```text
//!  byte 0          byte 1              then           then          then
//!  +-+-+-+-+------+-+-------------+  +------------+  +----------+  +---------+
//!  |F|R|R|R|opcode|M| len 0..=125 |  | len: u16 BE|  | mask: 4  |  | payload |
//!  |I|S|S|S| 4 bit|A| 126: u16    |  |  or u64 BE |  | (client  |  |         |
//!  |N|V|V|V|      |S| 127: u64    |  | (0, 2 or 8)|  |  only)   |  |         |
//!  +-+-+-+-+------+-+-------------+  +------------+  +----------+  +---------+
//! ```
//!
//! A server's data frame is written as a [`FrameHead`] (2, 4 or 10 bytes, on the stack) followed
//! by the payload as it is: a shared packet `Bytes` is queued after the head without a copy.
//! Control frames (close, ping, pong) are small and built whole. Clients must mask what they
//! send ([`masked_header`] + [`apply_mask`] over the payload in place).
//!
//! Headers are formatted by `tungstenite::protocol::frame::FrameHeader::format`.

use bytes::{BufMut, Bytes, BytesMut};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

/// Longest frame header: 2 bytes, an 8-byte length, a 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;

/// Largest control frame payload (RFC 6455 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The opcodes this crate writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// 0x2: a binary message (one packet, or several).
    Binary,
    /// 0x8: close, with an optional code and reason.
    Close,
    /// 0x9: ping; the peer answers with a pong carrying the same payload.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl Opcode {
    fn tungstenite(self) -> OpCode {
        match self {
            Opcode::Binary => OpCode::Data(Data::Binary),
            Opcode::Close => OpCode::Control(Control::Close),
            Opcode::Ping => OpCode::Control(Control::Ping),
            Opcode::Pong => OpCode::Control(Control::Pong),
        }
    }
}

/// A frame header on the stack: send [`as_bytes`](Self::as_bytes), then the payload.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    bytes: [u8; MAX_HEADER_LEN],
    len: u8,
}

impl FrameHead {
    fn new(opcode: Opcode, payload_len: usize, mask: Option<[u8; 4]>) -> FrameHead {
        let header = FrameHeader {
            opcode: opcode.tungstenite(),
            mask,
            ..FrameHeader::default()
        };
        let mut bytes = [0; MAX_HEADER_LEN];
        let mut out = &mut bytes[..];
        header
            .format(payload_len as u64, &mut out)
            .expect("a frame header fits in 14 bytes");
        let len = (MAX_HEADER_LEN - out.len()) as u8;
        FrameHead { bytes, len }
    }

    /// The header's bytes: 2, 4 or 10 (unmasked), 6, 8 or 14 (masked).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for FrameHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FrameHead({:02x?})", self.as_bytes())
    }
}

/// The header of a server's (unmasked, final) binary frame carrying `payload_len` bytes.
///
/// # Examples
/// A packet already serialized into a shared buffer goes out after its head, uncopied:
/// ```
/// use rfc6455::binary_header;
///
/// assert_eq!(binary_header(5).as_bytes(), [0x82, 5]);
/// assert_eq!(binary_header(300).as_bytes(), [0x82, 126, 1, 44]);
/// assert_eq!(binary_header(70_000).as_bytes().len(), 10);
/// ```
pub fn binary_header(payload_len: usize) -> FrameHead {
    FrameHead::new(Opcode::Binary, payload_len, None)
}

/// The header of a client's masked, final frame: the payload that follows must be masked
/// with the same `mask` ([`apply_mask`]).
pub fn masked_header(opcode: Opcode, payload_len: usize, mask: [u8; 4]) -> FrameHead {
    FrameHead::new(opcode, payload_len, Some(mask))
}

/// XORs `buf` with `mask`, `buf[0]` being byte `offset` of the frame's payload (so a payload
/// can be (un)masked in pieces as it arrives). Masking twice restores the bytes.
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut rotated = [0; 4];
    for (k, byte) in rotated.iter_mut().enumerate() {
        *byte = mask[(offset + k) % 4];
    }
    // Eight bytes at a time (the mask twice), then the tail byte by byte.
    let word = u64::from_ne_bytes([
        rotated[0], rotated[1], rotated[2], rotated[3], rotated[0], rotated[1], rotated[2],
        rotated[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let bytes: [u8; 8] = (&*chunk).try_into().expect("chunks of 8");
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    for (k, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= rotated[k % 4];
    }
}

/// Copies `src` to the end of `dst`, unmasked: the one copy a received payload goes through.
pub(crate) fn unmask_into(dst: &mut Vec<u8>, src: &[u8], mask: Option<[u8; 4]>, offset: usize) {
    let start = dst.len();
    dst.extend_from_slice(src);
    if let Some(mask) = mask {
        apply_mask(&mut dst[start..], mask, offset);
    }
}

/// A whole frame of `opcode` around `payload`, masked if `mask` is given.
fn whole_frame(opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>) -> Bytes {
    let head = FrameHead::new(opcode, payload.len(), mask);
    let mut out = BytesMut::with_capacity(head.as_bytes().len() + payload.len());
    out.put_slice(head.as_bytes());
    let start = out.len();
    out.put_slice(payload);
    if let Some(mask) = mask {
        apply_mask(&mut out[start..], mask, 0);
    }
    out.freeze()
}

/// The payload of a close frame: `code` (big-endian) and `reason`, cut at a character
/// boundary to fit the 125-byte control frame limit.
fn close_payload(code: Option<u16>, reason: &str) -> Vec<u8> {
    let Some(code) = code else {
        return Vec::new();
    };
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    payload
}

/// A server's close frame: `code` and `reason` (cut to fit 125 bytes at a character
/// boundary), or an empty close frame if `code` is `None`.
///
/// # Examples
/// ```
/// use rfc6455::close_frame;
///
/// assert_eq!(&close_frame(Some(1000), "bye")[..], [0x88, 5, 0x03, 0xe8, b'b', b'y', b'e']);
/// assert_eq!(&close_frame(None, "ignored")[..], [0x88, 0]);
/// assert_eq!(close_frame(Some(1002), &"x".repeat(500)).len(), 2 + 125);
/// ```
pub fn close_frame(code: Option<u16>, reason: &str) -> Bytes {
    whole_frame(Opcode::Close, &close_payload(code, reason), None)
}

/// A client's (masked) close frame.
pub fn masked_close_frame(code: Option<u16>, reason: &str, mask: [u8; 4]) -> Bytes {
    whole_frame(Opcode::Close, &close_payload(code, reason), Some(mask))
}

/// A server's pong answering a ping with `payload` (at most 125 bytes: longer is cut).
pub fn pong_frame(payload: &[u8]) -> Bytes {
    let payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
    whole_frame(Opcode::Pong, payload, None)
}

/// A client's (masked) frame of `opcode` around `payload`. Control payloads are cut to 125
/// bytes.
pub fn masked_frame(opcode: Opcode, payload: &[u8], mask: [u8; 4]) -> Bytes {
    let payload = match opcode {
        Opcode::Binary => payload,
        _ => &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)],
    };
    whole_frame(opcode, payload, Some(mask))
}

/// The server's idle ping: an empty ping frame, sent to a quiet browser so that proxies keep
/// the connection open (the browser answers with a pong, which the reader drops).
///
/// # Examples
/// ```
/// assert_eq!(&rfc6455::idle_ping()[..], [0x89, 0]);
/// ```
pub fn idle_ping() -> Bytes {
    Bytes::from_static(&[0x89, 0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_lengths_switch_at_126_and_65536() {
        assert_eq!(binary_header(0).as_bytes(), [0x82, 0]);
        assert_eq!(binary_header(125).as_bytes(), [0x82, 125]);
        assert_eq!(binary_header(126).as_bytes(), [0x82, 126, 0, 126]);
        assert_eq!(binary_header(65535).as_bytes(), [0x82, 126, 0xff, 0xff]);
        assert_eq!(
            binary_header(65536).as_bytes(),
            [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]
        );
        let masked = masked_header(Opcode::Binary, 3, [1, 2, 3, 4]);
        assert_eq!(masked.as_bytes(), [0x82, 0x83, 1, 2, 3, 4]);
    }

    #[test]
    fn close_reason_is_cut_at_a_character_boundary() {
        let reason = "é".repeat(100); // 200 bytes, 2 per character
        let frame = close_frame(Some(1009), &reason);
        assert_eq!(frame[1] as usize, frame.len() - 2);
        assert!(frame.len() - 2 <= MAX_CONTROL_PAYLOAD);
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
        assert_eq!(u16::from_be_bytes([frame[2], frame[3]]), 1009);
    }

    #[test]
    fn pong_echoes_the_ping_payload() {
        assert_eq!(&pong_frame(b"hi")[..], [0x8a, 2, b'h', b'i']);
        assert_eq!(pong_frame(&[7; 200]).len(), 2 + 125);
    }

    #[test]
    fn masked_frame_carries_the_masked_payload() {
        let frame = masked_frame(Opcode::Binary, b"abcde", [1, 2, 3, 4]);
        assert_eq!(&frame[..6], [0x82, 0x85, 1, 2, 3, 4]);
        let expected: Vec<u8> = b"abcde"
            .iter()
            .zip([1, 2, 3, 4].iter().cycle())
            .map(|(b, m)| b ^ m)
            .collect();
        assert_eq!(&frame[6..], &expected[..]);
    }

    proptest! {
        #[test]
        fn masking_in_pieces_equals_masking_at_once(
            data in proptest::collection::vec(any::<u8>(), 0..200),
            mask in any::<[u8; 4]>(),
            split in 0usize..200,
        ) {
            let mut whole = data.clone();
            apply_mask(&mut whole, mask, 0);
            let naive: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
            prop_assert_eq!(&whole, &naive);
            let split = split.min(data.len());
            let mut pieces = Vec::new();
            unmask_into(&mut pieces, &data[..split], Some(mask), 0);
            unmask_into(&mut pieces, &data[split..], Some(mask), split);
            prop_assert_eq!(&pieces, &naive);
        }
    }
}
