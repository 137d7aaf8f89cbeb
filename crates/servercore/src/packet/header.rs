//! [`PacketHeader`]: the 4-byte prefix of every packet on the wire.
//!
//! ```text
//!  byte:   0        1        2        3        4 ..              size-1
//!        +--------+--------+--------+--------+--------------------------+
//!        | size lo| size hi|  id lo |  id hi |  body (size - 4 bytes)   |
//!        +--------+--------+--------+--------+--------------------------+
//!        |<--- u16 LE ---->|<--- u16 LE ---->|
//!        |<------------------------- size ----------------------------->|
//! ```
//!
//! `size` counts the whole packet, header included, so the smallest meaningful
//! value is [`HEADER_LEN`] (a packet with an empty body). This file only
//! converts between bytes and the struct; whether a size is *acceptable* is the
//! [`Framer`](super::Framer)'s decision.

/// Length in bytes of the encoded [`PacketHeader`]: `u16 size` + `u16 id`.
pub const HEADER_LEN: usize = 4;

/// The header that starts every packet: `struct PacketHeader { uint16 size; uint16 id; }`,
/// both fields little-endian.
///
/// ```text
/// +----------------+----------------+
/// | size: u16 (LE) |  id: u16 (LE)  |  then size - 4 body bytes
/// +----------------+----------------+
/// ```
///
/// A decoded header is untrusted peer input: `size` may be anything from 0 to
/// 65535. [`Framer`](super::Framer) validates it before any body is read.
///
/// # Examples
///
/// ```
/// use servercore::packet::PacketHeader;
///
/// let header = PacketHeader { size: 6, id: 0x0102 };
/// let bytes = header.encode();
/// assert_eq!(bytes, [6, 0, 0x02, 0x01]);
/// assert_eq!(PacketHeader::decode(&bytes), Some(header));
/// assert_eq!(header.body_len(), 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketHeader {
    /// Total packet length in bytes, this 4-byte header included.
    pub size: u16,
    /// Application-defined packet type; the framing layer never interprets it.
    pub id: u16,
}

impl PacketHeader {
    /// Encodes the header as 4 little-endian bytes: `size` then `id`.
    #[must_use]
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let [s0, s1] = self.size.to_le_bytes();
        let [i0, i1] = self.id.to_le_bytes();
        [s0, s1, i0, i1]
    }

    /// Decodes a header from the first 4 bytes of `buf`.
    ///
    /// Returns `None` if `buf` holds fewer than [`HEADER_LEN`] bytes; bytes past
    /// the header are ignored. Any 4 bytes decode: the result is not validated.
    #[must_use]
    pub fn decode(buf: &[u8]) -> Option<PacketHeader> {
        match buf {
            [s0, s1, i0, i1, ..] => Some(PacketHeader {
                size: u16::from_le_bytes([*s0, *s1]),
                id: u16::from_le_bytes([*i0, *i1]),
            }),
            _ => None,
        }
    }

    /// Number of body bytes that follow the header: `size - 4`.
    ///
    /// Saturates to 0 for the invalid sizes 0..=3 (which the
    /// [`Framer`](super::Framer) rejects), so it never underflows.
    #[must_use]
    pub fn body_len(&self) -> usize {
        usize::from(self.size).saturating_sub(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_is_little_endian_size_then_id() {
        let header = PacketHeader {
            size: 0x1234,
            id: 0xABCD,
        };
        assert_eq!(header.encode(), [0x34, 0x12, 0xCD, 0xAB]);
    }

    #[test]
    fn decode_reads_little_endian_size_then_id() {
        let header = PacketHeader::decode(&[0x34, 0x12, 0xCD, 0xAB]);
        assert_eq!(
            header,
            Some(PacketHeader {
                size: 0x1234,
                id: 0xABCD
            })
        );
    }

    #[test]
    fn round_trip_extremes() {
        for size in [0, 1, 3, 4, 5, 255, 256, 4096, u16::MAX] {
            for id in [0, 1, 0x00FF, 0xFF00, u16::MAX] {
                let header = PacketHeader { size, id };
                assert_eq!(PacketHeader::decode(&header.encode()), Some(header));
            }
        }
    }

    #[test]
    fn decode_needs_four_bytes() {
        let bytes = [9u8, 0, 1, 0];
        for len in 0..HEADER_LEN {
            assert_eq!(PacketHeader::decode(&bytes[..len]), None, "len {len}");
        }
        assert!(PacketHeader::decode(&bytes).is_some());
    }

    #[test]
    fn decode_ignores_bytes_after_header() {
        let header = PacketHeader::decode(&[5, 0, 7, 0, 0xEE, 0xFF]);
        assert_eq!(header, Some(PacketHeader { size: 5, id: 7 }));
    }

    #[test]
    fn body_len_is_size_minus_header() {
        assert_eq!(PacketHeader { size: 4, id: 0 }.body_len(), 0);
        assert_eq!(PacketHeader { size: 5, id: 0 }.body_len(), 1);
        assert_eq!(
            PacketHeader {
                size: u16::MAX,
                id: 0
            }
            .body_len(),
            65531
        );
    }

    #[test]
    fn body_len_saturates_for_sizes_below_header() {
        for size in 0..4u16 {
            assert_eq!(PacketHeader { size, id: 0 }.body_len(), 0, "size {size}");
        }
    }
}
