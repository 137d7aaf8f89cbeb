//! [`Framer`]: cuts a received byte stream into [`Packet`]s, and encodes packets.
//!
//! Decoding is zero-copy: a [`Packet`] borrows its body from the caller's
//! receive buffer. The caller keeps the bytes [`Framer::decode`] did not
//! consume (a partial packet) and calls again once more bytes arrive:
//!
//! ```text
//!  receive buffer:  | pkt | pkt | pkt | partial... |
//!                   |<--- consumed ---->|<- tail -->|   tail < max_packet
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use super::error::PacketError;
use super::header::{PacketHeader, HEADER_LEN};

/// Default largest accepted packet, header included.
pub const DEFAULT_MAX_PACKET: usize = 4096;

/// Largest packet the `u16` size field can describe, header included.
pub const MAX_WIRE_PACKET: usize = u16::MAX as usize;

/// Largest body [`encode_into`] accepts: [`MAX_WIRE_PACKET`] minus the header.
pub const MAX_BODY: usize = MAX_WIRE_PACKET - HEADER_LEN;

/// One whole packet, borrowing its body from the buffer it was decoded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The header's `id` field.
    pub id: u16,
    /// The `size - 4` bytes after the header.
    pub body: &'a [u8],
}

impl Packet<'_> {
    /// Total wire length: header plus body, i.e. the header's `size` field.
    // Never empty (it always holds its header); `is_empty` would only mislead.
    #[allow(clippy::len_without_is_empty)]
    #[must_use]
    pub fn len(&self) -> usize {
        HEADER_LEN + self.body.len()
    }
}

/// Splits a byte stream into packets and rejects malformed headers early.
///
/// A header is validated as soon as its 4 bytes are present, before any of
/// the body has arrived: `size < 4` is [`PacketError::TooSmall`] and
/// `size > max_packet` is [`PacketError::TooLarge`]. So a peer can never make
/// the receiver loop without progress, nor make it buffer more than
/// `max_packet - 1` bytes of a packet that will not be accepted.
///
/// # Examples
///
/// ```
/// use servercore::packet::{encode, Framer};
///
/// let mut wire = encode(1, b"hi").unwrap().to_vec();
/// wire.extend_from_slice(&encode(2, b"").unwrap());
/// wire.extend_from_slice(&[9, 0, 3]); // the start of a third packet
///
/// let mut got = Vec::new();
/// let consumed = Framer::default()
///     .decode(&wire, |p| got.push((p.id, p.body.to_vec())))
///     .unwrap();
/// assert_eq!(got, [(1, b"hi".to_vec()), (2, Vec::new())]);
/// assert_eq!(consumed, 6 + 4); // the 3-byte tail stays with the caller
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framer {
    /// Invariant: `HEADER_LEN <= max_packet <= MAX_WIRE_PACKET`.
    max_packet: usize,
}

impl Default for Framer {
    /// A framer accepting packets up to [`DEFAULT_MAX_PACKET`] bytes.
    fn default() -> Self {
        Framer::new(DEFAULT_MAX_PACKET)
    }
}

impl Framer {
    /// Creates a framer accepting packets of up to `max_packet` bytes, header
    /// included. `max_packet` is clamped to `4..=65535`: below 4 not even an
    /// empty packet fits, above 65535 the `u16` size field cannot reach.
    #[must_use]
    pub fn new(max_packet: usize) -> Self {
        Framer {
            max_packet: max_packet.clamp(HEADER_LEN, MAX_WIRE_PACKET),
        }
    }

    /// Largest accepted packet length in bytes, header included.
    #[must_use]
    pub const fn max_packet(&self) -> usize {
        self.max_packet
    }

    /// Checks a received header's `size` against `4..=max_packet`.
    ///
    /// # Errors
    ///
    /// [`PacketError::TooSmall`] if `size < 4`, [`PacketError::TooLarge`] if
    /// `size > max_packet`.
    pub fn validate(&self, header: PacketHeader) -> Result<(), PacketError> {
        let size = usize::from(header.size);
        if size < HEADER_LEN {
            Err(PacketError::TooSmall { size: header.size })
        } else if size > self.max_packet {
            Err(PacketError::TooLarge {
                size: header.size,
                max: self.max_packet,
            })
        } else {
            Ok(())
        }
    }

    /// Returns the first whole packet at the start of `buf`, or `Ok(None)` if
    /// `buf` holds only part of one (including an empty `buf`).
    ///
    /// # Errors
    ///
    /// As soon as `buf` holds 4 bytes, the header is checked by
    /// [`validate`](Self::validate); a bad size is reported even though its
    /// body has not arrived. The stream cannot be resynchronised after that.
    pub fn next<'a>(&self, buf: &'a [u8]) -> Result<Option<Packet<'a>>, PacketError> {
        let Some(header) = PacketHeader::decode(buf) else {
            return Ok(None);
        };
        self.validate(header)?;
        let (id, size) = (header.id, usize::from(header.size));
        Ok(buf.get(HEADER_LEN..size).map(|body| Packet { id, body }))
    }

    /// Hands every whole packet in `buf` to `f`, in order, and returns the
    /// number of bytes they occupy.
    ///
    /// The caller keeps `buf[consumed..]`, a partial packet, and presents it
    /// again with more bytes appended. That tail is always shorter than
    /// [`max_packet`](Self::max_packet): either under 4 bytes, or a valid
    /// header whose `size <= max_packet` has not fully arrived.
    ///
    /// # Errors
    ///
    /// The first malformed header stops decoding (see [`next`](Self::next)).
    /// Packets before it have already been passed to `f`; the connection
    /// should then be closed, since the rest of the stream cannot be framed.
    pub fn decode<'a, F: FnMut(Packet<'a>)>(
        &self,
        buf: &'a [u8],
        mut f: F,
    ) -> Result<usize, PacketError> {
        let mut consumed = 0;
        while let Some(packet) = self.next(buf.get(consumed..).unwrap_or_default())? {
            consumed += packet.len();
            f(packet);
        }
        Ok(consumed)
    }
}

/// Appends one packet (header, then `body`) to `out`, reserving room first so
/// `body` is copied exactly once, straight into `out`.
///
/// # Errors
///
/// [`PacketError::BodyTooLarge`] if `body.len() + 4 > 65535`; `out` is left
/// untouched.
pub fn encode_into(out: &mut BytesMut, id: u16, body: &[u8]) -> Result<(), PacketError> {
    let too_large = PacketError::BodyTooLarge {
        len: body.len(),
        max: MAX_BODY,
    };
    // A slice is at most `isize::MAX` bytes long, so `+ 4` cannot overflow.
    let size = u16::try_from(body.len() + HEADER_LEN).map_err(|_| too_large)?;
    out.reserve(usize::from(size));
    out.put_slice(&PacketHeader { size, id }.encode());
    out.put_slice(body);
    Ok(())
}

/// Encodes one packet into a new, exactly-sized [`Bytes`].
///
/// # Errors
///
/// [`PacketError::BodyTooLarge`] if `body.len() + 4 > 65535`.
pub fn encode(id: u16, body: &[u8]) -> Result<Bytes, PacketError> {
    let mut out = BytesMut::with_capacity(HEADER_LEN + body.len().min(MAX_BODY));
    encode_into(&mut out, id, body)?;
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Owned = Vec<(u16, Vec<u8>)>;

    fn wire(packets: &[(u16, Vec<u8>)]) -> BytesMut {
        let mut out = BytesMut::new();
        for (id, body) in packets {
            encode_into(&mut out, *id, body).unwrap();
        }
        out
    }

    /// Feeds `chunks` through a session-style accumulator (append, decode,
    /// drain the consumed prefix), checking the tail bound after each call.
    fn feed<'c>(
        framer: Framer,
        chunks: impl IntoIterator<Item = &'c [u8]>,
    ) -> Result<(Owned, usize), PacketError> {
        let (mut acc, mut got) = (Vec::new(), Vec::new());
        for chunk in chunks {
            acc.extend_from_slice(chunk);
            let n = framer.decode(&acc, |p| got.push((p.id, p.body.to_vec())))?;
            acc.drain(..n);
            assert!(acc.len() < framer.max_packet(), "tail {}", acc.len());
        }
        Ok((got, acc.len()))
    }

    #[test]
    fn new_clamps_max_to_u16_range() {
        assert_eq!(Framer::new(0).max_packet(), 4);
        assert_eq!(Framer::new(3).max_packet(), 4);
        assert_eq!(Framer::new(100).max_packet(), 100);
        assert_eq!(Framer::new(1 << 20).max_packet(), 65535);
        assert_eq!(Framer::default().max_packet(), DEFAULT_MAX_PACKET);
    }

    #[test]
    fn encode_then_next_round_trips() {
        for body in [&b""[..], b"x", &[0xAB; 300]] {
            let bytes = encode(0xBEEF, body).unwrap();
            assert_eq!(bytes.len(), 4 + body.len());
            let packet = Framer::default().next(&bytes).unwrap().unwrap();
            assert_eq!(
                (packet.id, packet.body, packet.len()),
                (0xBEEF, body, bytes.len())
            );
        }
    }

    #[test]
    fn empty_buffer_and_partial_header_are_incomplete() {
        let bytes = encode(1, b"abc").unwrap();
        for len in 0..bytes.len() {
            assert_eq!(Framer::default().next(&bytes[..len]), Ok(None), "len {len}");
        }
    }

    #[test]
    fn every_size_below_header_is_rejected() {
        for size in 0..4u16 {
            let header = PacketHeader { size, id: 7 }.encode();
            let want = PacketError::TooSmall { size };
            assert_eq!(Framer::default().next(&header), Err(want));
            assert_eq!(Framer::default().decode(&header, |_| panic!()), Err(want));
            let mut more = header.to_vec();
            more.extend_from_slice(&[0; 16]);
            assert_eq!(Framer::default().next(&more), Err(want));
        }
    }

    #[test]
    fn size_above_max_rejected_from_header_alone() {
        for (max, size) in [(100, 101u16), (4096, 4097), (4096, u16::MAX), (4, 5)] {
            let header = PacketHeader { size, id: 1 }.encode();
            let want = Err(PacketError::TooLarge { size, max });
            assert_eq!(Framer::new(max).next(&header), want.map(|()| None));
            assert_eq!(
                Framer::new(max).decode(&header, |_| panic!()),
                want.map(|()| 0)
            );
        }
    }

    #[test]
    fn exact_max_accepted() {
        let framer = Framer::new(100);
        let bytes = encode(3, &[5; 96]).unwrap();
        assert_eq!(framer.next(&bytes).unwrap().unwrap().len(), 100);
        let bytes = encode(3, &[5; MAX_BODY]).unwrap();
        assert_eq!(
            Framer::new(MAX_WIRE_PACKET).decode(&bytes, |_| {}),
            Ok(65535)
        );
    }

    #[test]
    fn header_followed_by_nothing_consumes_nothing() {
        let header = PacketHeader { size: 10, id: 2 }.encode();
        assert_eq!(Framer::default().next(&header), Ok(None));
        assert_eq!(Framer::default().decode(&header, |_| panic!()), Ok(0));
    }

    #[test]
    fn header_split_byte_by_byte() {
        let packets = vec![(9, b"hello".to_vec()), (10, Vec::new())];
        let bytes = wire(&packets);
        let (got, tail) = feed(Framer::default(), bytes.chunks(1)).unwrap();
        assert_eq!((got, tail), (packets, 0));
    }

    #[test]
    fn many_packets_merged_in_one_buffer() {
        let packets: Owned = (0..200u16)
            .map(|i| (i, vec![i as u8; usize::from(i % 37)]))
            .collect();
        let mut bytes = wire(&packets);
        bytes.extend_from_slice(&PacketHeader { size: 8, id: 0 }.encode());
        let mut got = Vec::new();
        let n = Framer::default()
            .decode(&bytes, |p| got.push((p.id, p.body.to_vec())))
            .unwrap();
        assert_eq!((got, n), (packets, bytes.len() - 4));
    }

    #[test]
    fn packets_before_bad_header_are_delivered() {
        let mut bytes = wire(&[(1, b"ok".to_vec())]);
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        let mut ids = Vec::new();
        let result = Framer::default().decode(&bytes, |p| ids.push(p.id));
        let want = (Err(PacketError::TooSmall { size: 0 }), vec![1]);
        assert_eq!((result, ids), want);
    }

    #[test]
    fn encode_rejects_body_over_u16_and_leaves_out_untouched() {
        let mut out = BytesMut::from(&b"keep"[..]);
        let body = vec![0; MAX_BODY + 1];
        let want = PacketError::BodyTooLarge {
            len: MAX_BODY + 1,
            max: MAX_BODY,
        };
        assert_eq!(encode_into(&mut out, 1, &body), Err(want));
        assert_eq!(&out[..], b"keep");
        assert_eq!(encode(1, &body), Err(want));
        assert_eq!(encode(1, &body[1..]).unwrap().len(), MAX_WIRE_PACKET);
    }

    #[test]
    fn encode_into_appends_after_existing_bytes() {
        let mut out = BytesMut::from(&b"xy"[..]);
        encode_into(&mut out, 0x0201, b"z").unwrap();
        assert_eq!(&out[..], &[b'x', b'y', 5, 0, 1, 2, b'z']);
    }

    /// A max packet size plus packets that fit it.
    fn packets_and_max() -> impl Strategy<Value = (usize, Owned)> {
        (4usize..=2048).prop_flat_map(|max| {
            let packet = (
                any::<u16>(),
                prop::collection::vec(any::<u8>(), 0..=max - 4),
            );
            (Just(max), prop::collection::vec(packet, 0..12))
        })
    }

    /// Cuts `bytes` at the given points (as indexes into its length).
    fn cut(bytes: &[u8], points: &[prop::sample::Index]) -> Vec<Vec<u8>> {
        let mut at: Vec<usize> = points.iter().map(|i| i.index(bytes.len() + 1)).collect();
        at.extend([0, bytes.len()]);
        at.sort_unstable();
        at.windows(2).map(|w| bytes[w[0]..w[1]].to_vec()).collect()
    }

    proptest! {
        #[test]
        fn prop_cut_stream_decodes_to_same_packets(
            (max, packets) in packets_and_max(),
            points in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
        ) {
            let bytes = wire(&packets);
            let chunks = cut(&bytes, &points);
            let (got, tail) = feed(Framer::new(max), chunks.iter().map(Vec::as_slice)).unwrap();
            prop_assert_eq!(tail, 0);
            prop_assert_eq!(got, packets);
        }

        #[test]
        fn prop_random_bytes_never_panic_and_tail_is_bounded(
            max in prop_oneof![4usize..=64, 4usize..=65535],
            bytes in prop::collection::vec(any::<u8>(), 0..4096),
            points in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
        ) {
            let chunks = cut(&bytes, &points);
            // `feed` asserts the tail bound after every successful decode;
            // an error is a legitimate outcome for garbage input.
            if let Ok((got, tail)) = feed(Framer::new(max), chunks.iter().map(Vec::as_slice)) {
                let framed: usize = got.iter().map(|(_, body)| 4 + body.len()).sum();
                prop_assert_eq!(framed + tail, bytes.len());
            }
        }
    }
}
