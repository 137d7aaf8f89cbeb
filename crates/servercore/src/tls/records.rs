//! [`Records`]: where the peer is in its stream of TLS records, so the session layer can hold
//! a half-sent record to the partial-message deadline (a slowloris that trickles one record
//! a byte at a time is cut like one that trickles a packet).
//!
//! ```text
//!   record = type (1) | version (2) | length (2) | body (length bytes)
//!   advance(bytes): header bytes one by one, bodies skipped whole; mid-record while a
//!                   header or a body is unfinished
//! ```
//!
//! Only the framing is read here; rustls decides what the records mean.

/// The TLS record header's size.
const HEADER_LEN: usize = 5;

/// A position in a stream of TLS records.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Records {
    /// Header bytes of the current record seen so far (0 between records).
    header_seen: usize,
    /// The length field's high byte, once seen.
    length_high: u8,
    /// Body bytes of the current record still to come.
    body_left: usize,
}

impl Records {
    /// Follows `bytes` of the stream.
    pub(crate) fn advance(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let take = self.body_left.min(bytes.len());
                self.body_left -= take;
                bytes = &bytes[take..];
                continue;
            }
            let byte = bytes[0];
            bytes = &bytes[1..];
            match self.header_seen {
                3 => self.length_high = byte,
                4 => self.body_left = usize::from(u16::from_be_bytes([self.length_high, byte])),
                _ => {}
            }
            self.header_seen = (self.header_seen + 1) % HEADER_LEN;
        }
    }

    /// True while a record is unfinished.
    pub(crate) fn is_mid_record(&self) -> bool {
        self.header_seen > 0 || self.body_left > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(body: usize) -> Vec<u8> {
        let len = u16::try_from(body).unwrap().to_be_bytes();
        let mut r = vec![23, 3, 3, len[0], len[1]];
        r.resize(HEADER_LEN + body, 0xab);
        r
    }

    #[test]
    fn whole_records_leave_nothing_unfinished() {
        let mut records = Records::default();
        let mut stream = record(300);
        stream.extend(record(0));
        stream.extend(record(16_384));
        records.advance(&stream);
        assert!(!records.is_mid_record());
    }

    #[test]
    fn every_split_of_a_stream_is_followed() {
        let mut stream = record(40);
        stream.extend(record(7));
        stream.extend(record(1000));
        for cut in 0..=stream.len() {
            let mut records = Records::default();
            records.advance(&stream[..cut]);
            let boundary = [0, 45, 57, stream.len()].contains(&cut);
            assert_eq!(records.is_mid_record(), !boundary, "cut at {cut}");
            records.advance(&stream[cut..]);
            assert!(!records.is_mid_record(), "cut at {cut}");
        }
    }

    #[test]
    fn a_trickled_header_is_unfinished_until_its_body_arrives() {
        let mut records = Records::default();
        for byte in record(2).iter().take(HEADER_LEN) {
            records.advance(&[*byte]);
            assert!(records.is_mid_record());
        }
        records.advance(&[1]);
        assert!(records.is_mid_record());
        records.advance(&[2]);
        assert!(!records.is_mid_record());
    }
}
