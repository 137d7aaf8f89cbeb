//! The echo scenario's message format and the verifier that checks every echoed byte.
//!
//! Every message is `size` bytes: a 24-byte header, then pattern bytes. With `--protocol raw`
//! messages go back to back on the stream; with `--protocol packet` each is the body of one
//! `ECHO` packet ([`crate::wire`]).
//!
//! ```text
//!   offset  0        4                12       16                 24            size
//!           +--------+----------------+--------+------------------+--- ... -----+
//!           | client | seq            | length | sent_nanos       | pattern     |
//!           | u32 LE | u64 LE         | u32 LE | u64 LE           | bytes       |
//!           +--------+----------------+--------+------------------+--- ... -----+
//! ```
//!
//! - `client`: the sending client's id (unique within a run).
//! - `seq`: the message's number in its client's stream: 0, 1, 2, ...
//! - `length`: the whole message's length, header included (`--size`).
//! - `sent_nanos`: when it was sent, in nanoseconds since the run's base `Instant`.
//! - pattern: [`crate::pattern`], seeded from all four header fields. Any change
//!   to the header or the body therefore breaks the pattern (when there is one: a message of
//!   exactly [`HEADER_LEN`] bytes is checked against what was sent instead, see
//!   [`ClientStream::verify`]).
//!
//! An echo server must return each client's stream exactly as sent. Raw messages are cut from
//! the received stream by the configured size, not by the `length` field, so one corrupted
//! byte spoils one message and the stream stays in step.

use std::collections::VecDeque;

use bytes::{BufMut, BytesMut};

use crate::pattern::{self, mix};
use crate::stats::Verdict;

/// Bytes of header at the front of every message; also the smallest message.
pub const HEADER_LEN: usize = 24;

/// The header at the front of every message (see the [module docs](self) for the layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The sending client's id.
    pub client: u32,
    /// The message's number in its client's stream.
    pub seq: u64,
    /// Length of the whole message, header included.
    pub len: u32,
    /// Send time in nanoseconds since the run's base instant.
    pub sent_nanos: u64,
}

impl Header {
    /// Reads the header from the front of `msg`, or `None` if `msg` is shorter than a header.
    pub fn read(msg: &[u8]) -> Option<Header> {
        let head: &[u8; HEADER_LEN] = msg.get(..HEADER_LEN)?.try_into().ok()?;
        let u32_at =
            |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        let u64_at = |at: usize| {
            let mut b = [0; 8];
            b.copy_from_slice(&head[at..at + 8]);
            u64::from_le_bytes(b)
        };
        Some(Header {
            client: u32_at(0),
            seq: u64_at(4),
            len: u32_at(12),
            sent_nanos: u64_at(16),
        })
    }

    /// The seed of this message's pattern: every header field goes into it.
    fn seed(&self) -> u64 {
        let a = mix(u64::from(self.client) ^ 0x9e37_79b9_7f4a_7c15);
        let b = mix(a ^ self.seq);
        mix(b ^ self.sent_nanos ^ (u64::from(self.len) << 40))
    }
}

/// Appends one message with `header` to `out`: `header.len` bytes in all.
///
/// # Panics
/// If `header.len` is smaller than [`HEADER_LEN`] (the caller validates `--size`).
pub fn write_message(out: &mut BytesMut, header: &Header) {
    let len = header.len as usize;
    assert!(
        len >= HEADER_LEN,
        "a message is at least {HEADER_LEN} bytes, not {len}"
    );
    out.reserve(len);
    out.put_u32_le(header.client);
    out.put_u64_le(header.seq);
    out.put_u32_le(header.len);
    out.put_u64_le(header.sent_nanos);
    pattern::put(out, header.seed(), HEADER_LEN, len);
}

/// What is wrong with a message, as found by [`check_message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// Shorter than a header.
    Short {
        /// Bytes given.
        len: usize,
    },
    /// The `length` field does not match the message's size.
    Length {
        /// The `length` field.
        field: u32,
        /// The message's actual size.
        actual: usize,
    },
    /// A body byte differs from the pattern the header implies.
    Pattern {
        /// Offset of the first wrong byte within the message.
        offset: usize,
    },
}

/// Checks one whole message on its own: the `length` field must equal `msg.len()` and every
/// body byte must match the pattern its header implies. Returns the header.
///
/// A changed body byte is always caught. A changed `seq` or `sent_nanos` changes the whole
/// pattern, so it is caught unless the new pattern happens to match the body: a chance of
/// 2^-(8 * body length), for a body of under 8 bytes not negligible, which is why
/// [`ClientStream::verify`] also compares the header with what was sent.
///
/// # Errors
/// The first thing found wrong, as a [`Corruption`].
pub fn check_message(msg: &[u8]) -> Result<Header, Corruption> {
    let header = Header::read(msg).ok_or(Corruption::Short { len: msg.len() })?;
    if header.len as usize != msg.len() {
        return Err(Corruption::Length {
            field: header.len,
            actual: msg.len(),
        });
    }
    match pattern::mismatch(msg, header.seed(), HEADER_LEN) {
        Some(offset) => Err(Corruption::Pattern { offset }),
        None => Ok(header),
    }
}

/// One client's stream as seen by the verifier: what was sent and is still owed, what is
/// expected next.
///
/// ```text
///   seq:   first_outstanding                          next_seq
///          |                                           |
///   sent:  [ Some(t) | None | Some(t) | ... | Some(t) ]   Some = sent, not echoed yet
///                       ^ echoed out of order             None = echoed
/// ```
///
/// Invariants: `sent.len() == next_seq - first_outstanding`; `sent` never starts with `None`
/// (echoed entries at the front are popped); `outstanding` counts the `Some` entries.
#[derive(Debug, Clone)]
pub struct ClientStream {
    client: u32,
    size: u32,
    next_seq: u64,
    first_outstanding: u64,
    sent: VecDeque<Option<u64>>,
    outstanding: usize,
    expected: u64,
}

impl ClientStream {
    /// A new stream for client `client` sending `size`-byte messages.
    ///
    /// # Panics
    /// If `size` is smaller than [`HEADER_LEN`].
    pub fn new(client: u32, size: usize) -> ClientStream {
        assert!(
            size >= HEADER_LEN,
            "a message is at least {HEADER_LEN} bytes, not {size}"
        );
        let size = u32::try_from(size).expect("message size fits in u32");
        ClientStream {
            client,
            size,
            next_seq: 0,
            first_outstanding: 0,
            sent: VecDeque::new(),
            outstanding: 0,
            expected: 0,
        }
    }

    /// The client's id.
    pub fn client(&self) -> u32 {
        self.client
    }

    /// Messages sent and not (yet) echoed.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Messages sent so far.
    pub fn sent(&self) -> u64 {
        self.next_seq
    }

    /// Appends the stream's next message, stamped `now_nanos`, to `out`, and records it as
    /// owed.
    pub fn write_next(&mut self, out: &mut BytesMut, now_nanos: u64) {
        let header = Header {
            client: self.client,
            seq: self.next_seq,
            len: self.size,
            sent_nanos: now_nanos,
        };
        write_message(out, &header);
        self.sent.push_back(Some(now_nanos));
        self.next_seq += 1;
        self.outstanding += 1;
        debug_assert_eq!(
            self.sent.len() as u64,
            self.next_seq - self.first_outstanding
        );
    }

    /// Checks one echoed message (`size` bytes cut from the received stream, or the body of
    /// an `ECHO` packet) against what this client sent, at `now_nanos`.
    ///
    /// A message counts as this client's message `seq` only if its bytes are exactly those
    /// that were sent as `seq`: client id, length, send time (compared with the one recorded
    /// at send, which also covers messages with no body) and pattern. A corrupt message whose
    /// header is intact still settles the message it names, so one flipped body byte counts as
    /// corrupt and not also as lost. An intact message that was already echoed is a
    /// [`Verdict::Duplicate`].
    pub fn verify(&mut self, msg: &[u8], now_nanos: u64) -> Verdict {
        let header = match check_message(msg) {
            Ok(header) if header.client == self.client => header,
            _ => {
                if let Some(header) = Header::read(msg) {
                    if header.client == self.client
                        && header.len == self.size
                        && self.sent_at(header.seq) == Some(header.sent_nanos)
                    {
                        self.settle(header.seq);
                        self.expected = self.expected.max(header.seq + 1);
                    }
                }
                return Verdict::Corrupt;
            }
        };
        match self.sent_at(header.seq) {
            Some(sent) if sent == header.sent_nanos => {}
            Some(_) => return Verdict::Corrupt,
            None if header.seq < self.next_seq && !self.is_owed(header.seq) => {
                // Sent and already echoed: the server repeated it.
                return Verdict::Duplicate;
            }
            None => return Verdict::Corrupt, // never sent
        }
        self.settle(header.seq);
        let latency_nanos = now_nanos.saturating_sub(header.sent_nanos);
        let in_order = header.seq == self.expected;
        self.expected = self.expected.max(header.seq + 1);
        if in_order {
            Verdict::InOrder { latency_nanos }
        } else {
            Verdict::OutOfOrder { latency_nanos }
        }
    }

    /// The recorded send time of `seq`, if it was sent and is still owed.
    fn sent_at(&self, seq: u64) -> Option<u64> {
        let index = usize::try_from(seq.checked_sub(self.first_outstanding)?).ok()?;
        self.sent.get(index).copied().flatten()
    }

    fn is_owed(&self, seq: u64) -> bool {
        self.sent_at(seq).is_some()
    }

    /// Marks `seq` (owed) as echoed and pops echoed entries off the front.
    fn settle(&mut self, seq: u64) {
        let index = (seq - self.first_outstanding) as usize;
        debug_assert!(self.sent[index].is_some());
        self.sent[index] = None;
        self.outstanding -= 1;
        while let Some(None) = self.sent.front() {
            self.sent.pop_front();
            self.first_outstanding += 1;
        }
        debug_assert_eq!(
            self.sent.len() as u64,
            self.next_seq - self.first_outstanding
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(client: u32, seq: u64, size: usize, sent_nanos: u64) -> Vec<u8> {
        let mut out = BytesMut::new();
        let header = Header {
            client,
            seq,
            len: size as u32,
            sent_nanos,
        };
        write_message(&mut out, &header);
        out.to_vec()
    }

    #[test]
    fn encodes_the_documented_layout() {
        let msg = message(7, 0x0102_0304_0506_0708, 40, 99);
        assert_eq!(msg.len(), 40);
        assert_eq!(&msg[0..4], &7u32.to_le_bytes());
        assert_eq!(&msg[4..12], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&msg[12..16], &40u32.to_le_bytes());
        assert_eq!(&msg[16..24], &99u64.to_le_bytes());
        let header = check_message(&msg).unwrap();
        assert_eq!(
            header,
            Header {
                client: 7,
                seq: 0x0102_0304_0506_0708,
                len: 40,
                sent_nanos: 99
            }
        );
    }

    #[test]
    fn patterns_differ_between_messages() {
        let a = message(1, 5, 64, 10);
        let b = message(1, 6, 64, 10);
        let c = message(2, 5, 64, 10);
        assert_ne!(a[HEADER_LEN..], b[HEADER_LEN..]);
        assert_ne!(a[HEADER_LEN..], c[HEADER_LEN..]);
    }

    #[test]
    fn every_flipped_bit_is_caught_by_the_message_check() {
        // From 8 body bytes up a flipped header bit changes the pattern with certainty for
        // these inputs (a chance of 2^-64 in general); body bits are always caught.
        for size in [32, 33, 64, 100] {
            let good = message(3, 41, size, 123_456_789);
            for byte in 0..size {
                for bit in 0..8 {
                    let mut bad = good.clone();
                    bad[byte] ^= 1 << bit;
                    assert!(
                        check_message(&bad).is_err(),
                        "size {size}: flip of byte {byte} bit {bit} not caught"
                    );
                }
            }
        }
    }

    #[test]
    fn every_flipped_bit_is_caught_by_the_stream() {
        // HEADER_LEN has no body and 25 only one byte: the stream's record of what was sent
        // must catch what the pattern cannot.
        for size in [HEADER_LEN, 25, 40, 67] {
            let mut sender = ClientStream::new(9, size);
            let mut wire = BytesMut::new();
            for t in 0..3 {
                sender.write_next(&mut wire, 1000 + t);
            }
            for byte in 0..size * 3 {
                for bit in 0..8 {
                    let mut stream = sender.clone();
                    let mut bad = wire.to_vec();
                    bad[byte] ^= 1 << bit;
                    let verdicts: Vec<Verdict> =
                        bad.chunks(size).map(|m| stream.verify(m, 5000)).collect();
                    assert!(
                        verdicts
                            .iter()
                            .any(|v| !matches!(v, Verdict::InOrder { .. })),
                        "size {size}: flip of byte {byte} bit {bit} not caught: {verdicts:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn intact_stream_verifies_in_order() {
        let mut stream = ClientStream::new(1, 48);
        let mut wire = BytesMut::new();
        for t in 0..5 {
            stream.write_next(&mut wire, t * 10);
        }
        assert_eq!(stream.outstanding(), 5);
        for (i, msg) in wire.chunks(48).enumerate() {
            let latency_nanos = 100 - i as u64 * 10;
            assert_eq!(stream.verify(msg, 100), Verdict::InOrder { latency_nanos });
        }
        assert_eq!(stream.outstanding(), 0);
        assert_eq!(stream.sent(), 5);
    }

    #[test]
    fn corrupt_body_settles_its_message() {
        let mut stream = ClientStream::new(1, 48);
        let mut wire = BytesMut::new();
        stream.write_next(&mut wire, 1);
        stream.write_next(&mut wire, 2);
        wire[30] ^= 0x10;
        assert_eq!(stream.verify(&wire[..48], 10), Verdict::Corrupt);
        assert_eq!(
            stream.verify(&wire[48..], 10),
            Verdict::InOrder { latency_nanos: 8 }
        );
        assert_eq!(
            stream.outstanding(),
            0,
            "the corrupt message is not also lost"
        );
    }

    #[test]
    fn swapped_messages_are_out_of_order() {
        let mut stream = ClientStream::new(1, 32);
        let mut wire = BytesMut::new();
        for t in 0..3 {
            stream.write_next(&mut wire, t);
        }
        let m: Vec<&[u8]> = wire.chunks(32).collect();
        assert_eq!(
            stream.verify(m[1], 10),
            Verdict::OutOfOrder { latency_nanos: 9 }
        );
        assert_eq!(
            stream.verify(m[0], 10),
            Verdict::OutOfOrder { latency_nanos: 10 }
        );
        assert_eq!(
            stream.verify(m[2], 10),
            Verdict::InOrder { latency_nanos: 8 }
        );
        assert_eq!(stream.outstanding(), 0);
    }

    #[test]
    fn dropped_message_is_out_of_order_once_and_stays_owed() {
        let mut stream = ClientStream::new(1, 32);
        let mut wire = BytesMut::new();
        for t in 0..4 {
            stream.write_next(&mut wire, t);
        }
        let m: Vec<&[u8]> = wire.chunks(32).collect();
        assert!(matches!(stream.verify(m[0], 10), Verdict::InOrder { .. }));
        assert!(matches!(
            stream.verify(m[2], 10),
            Verdict::OutOfOrder { .. }
        ));
        assert!(matches!(stream.verify(m[3], 10), Verdict::InOrder { .. }));
        assert_eq!(stream.outstanding(), 1, "message 1 is lost");
    }

    #[test]
    fn repeated_and_foreign_messages_are_caught() {
        let mut stream = ClientStream::new(1, 32);
        let mut wire = BytesMut::new();
        stream.write_next(&mut wire, 0);
        assert!(matches!(stream.verify(&wire, 10), Verdict::InOrder { .. }));
        assert_eq!(stream.verify(&wire, 10), Verdict::Duplicate);
        assert_eq!(
            stream.verify(&message(2, 0, 32, 0), 10),
            Verdict::Corrupt,
            "another client's"
        );
        assert_eq!(
            stream.verify(&message(1, 5, 32, 0), 10),
            Verdict::Corrupt,
            "never sent"
        );
    }
}
