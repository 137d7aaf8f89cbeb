//! The pattern that fills every load-test message after its header: shared by the echo
//! message ([`crate::message`]) and the chat body ([`crate::chat`]).
//!
//! The byte at message offset `o` is byte `o % 8` (little endian) of [`word`]`(seed, o / 8)`,
//! where `seed` is mixed from every header field. Any change to a header field changes the
//! whole pattern, and any change to a body byte breaks it, so one check of the pattern
//! catches both (a header field change slips through only if the new pattern happens to match
//! the body: a chance of 2^-(8 × pattern length)).
//!
//! Headers are a multiple of 8 bytes long, so the pattern starts on a word boundary.

use bytes::{BufMut, BytesMut};

/// SplitMix64's finalizer: a cheap, well-mixing bijection on `u64`.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The 8 pattern bytes of word `index` (message offsets `8 * index ..`) of a message.
pub fn word(seed: u64, index: usize) -> [u8; 8] {
    mix_at(seed, index).to_le_bytes()
}

/// Word `index` of a message's pattern as a number (its bytes are [`word`]).
fn mix_at(seed: u64, index: usize) -> u64 {
    mix(seed.wrapping_add((index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)))
}

/// Appends the pattern bytes of message offsets `from..len` to `out`.
///
/// # Panics
/// If `from` is not a multiple of 8 (a header length).
pub fn put(out: &mut BytesMut, seed: u64, from: usize, len: usize) {
    assert_eq!(from % 8, 0, "the pattern starts on a word boundary");
    for index in from / 8..len.div_ceil(8) {
        let take = (len - index * 8).min(8);
        out.put_slice(&word(seed, index)[..take]);
    }
}

/// Compares `msg[from..]` with the pattern; returns the offset (within `msg`) of the first
/// byte that differs, or `None` if all match.
///
/// # Panics
/// If `from` is not a multiple of 8, or beyond `msg`.
pub fn mismatch(msg: &[u8], seed: u64, from: usize) -> Option<usize> {
    assert_eq!(from % 8, 0, "the pattern starts on a word boundary");
    // Whole words are compared as one `u64` each (the load generator checks every byte it
    // receives, millions a second); the byte is looked for only once a word differs.
    let (words, tail) = msg[from..].as_chunks::<8>();
    let first = from / 8;
    let differs = |i: usize, chunk: &[u8]| {
        let expected = word(seed, first + i);
        let within = chunk.iter().zip(expected).position(|(a, b)| *a != b)?;
        Some((first + i) * 8 + within)
    };
    for (i, chunk) in words.iter().enumerate() {
        if u64::from_le_bytes(*chunk) != mix_at(seed, first + i) {
            return differs(i, chunk);
        }
    }
    differs(words.len(), tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_then_check_round_trips_at_any_length() {
        for len in [17, 23, 24, 64, 100] {
            let mut out = BytesMut::from(&[0u8; 16][..]);
            put(&mut out, 42, 16, len);
            assert_eq!(out.len(), len);
            assert_eq!(mismatch(&out, 42, 16), None, "len {len}");
            assert_eq!(mismatch(&out, 43, 16), Some(16), "another seed, len {len}");
        }
        let mut header_only = BytesMut::from(&[0u8; 16][..]);
        put(&mut header_only, 42, 16, 16);
        assert_eq!(header_only.len(), 16, "no pattern bytes");
    }

    #[test]
    fn mismatch_names_the_first_wrong_byte() {
        let mut out = BytesMut::from(&[0u8; 8][..]);
        put(&mut out, 7, 8, 40);
        out[29] ^= 1;
        out[33] ^= 1;
        assert_eq!(mismatch(&out, 7, 8), Some(29));
    }

    #[test]
    fn mismatch_finds_a_wrong_byte_in_a_partial_last_word() {
        let mut out = BytesMut::from(&[0u8; 8][..]);
        put(&mut out, 7, 8, 45);
        assert_eq!(mismatch(&out, 7, 8), None);
        out[43] ^= 0x80;
        assert_eq!(mismatch(&out, 7, 8), Some(43));
        assert_eq!(mismatch(&out[..43], 7, 8), None, "the flipped byte cut off");
    }
}
