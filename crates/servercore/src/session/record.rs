//! [`Record`]: what was sent to a session and its peer has not acknowledged yet — the tail a
//! resumed connection replays.
//!
//! A session the application asks to record ([`Context::record`](crate::Context::record))
//! keeps every buffer queued for it (the application's bytes, before any transport stage
//! frames them: a resumed connection may speak another transport), in order, until
//! [`Context::acknowledge`](crate::Context::acknowledge) says the peer has them. Buffers
//! are kept by reference (a room's broadcast costs each recording member a reference), but a
//! small buffer is a slice of a shared 64 KiB pool chunk, and holding it would hold the whole
//! chunk for as long as the peer does not acknowledge: so every [`COMPACT_EVERY`] small
//! buffers are copied into one of the record's own (one allocation, the bytes copied once),
//! and at most that many chunks are ever held by a record. Large buffers (their own
//! allocation) stay shared. The limit counts the bytes (what a peer that acknowledges by
//! bytes can count on).
//!
//! Positions count bytes since recording began (`u64`: they never wrap). The record is
//! bounded: a push that would hold more than its limit empties it and marks it
//! [`Record::overflowed`] (a peer that does not acknowledge cannot make the process hold
//! unbounded memory for it); an overflowed record records nothing more.

use std::collections::VecDeque;

use bytes::Bytes;

/// Buffers shorter than this are slices of a pool chunk (the pool gives buffers of at least a
/// quarter chunk their own allocation): kept by reference only until compacted.
const COPY_BELOW: usize = 16 * 1024;

/// Small buffers kept by reference before they are compacted into one owned copy.
pub const COMPACT_EVERY: usize = 32;

/// The unacknowledged tail of what was sent to a session (see the module docs).
#[derive(Debug, Default)]
pub struct Record {
    bufs: VecDeque<Bytes>,
    /// Position of the first byte of `bufs`.
    start: u64,
    /// Bytes in `bufs`.
    held: usize,
    limit: usize,
    overflowed: bool,
    /// The last this many entries are small shared slices, not compacted yet.
    loose: usize,
}

/// Why [`Record::acknowledge`] or [`Record::since`] refused a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrecorded {
    /// The position is past what was sent.
    Ahead,
    /// The position is before the kept tail (acknowledged already, or lost to an overflow).
    Forgotten,
}

impl std::fmt::Display for Unrecorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unrecorded::Ahead => "position past what was sent",
            Unrecorded::Forgotten => "position before what is kept",
        })
    }
}

impl std::error::Error for Unrecorded {}

impl Record {
    /// An empty record that holds at most `limit` unacknowledged bytes.
    pub fn new(limit: usize) -> Record {
        Record {
            limit,
            ..Record::default()
        }
    }

    /// Appends `buf` (a reference to it). Past the limit the record is emptied and marked
    /// overflowed; returns false then (and for every push after).
    pub fn push(&mut self, buf: Bytes) -> bool {
        if self.overflowed {
            return false;
        }
        if self.held + buf.len() > self.limit {
            self.start += self.held as u64;
            self.bufs.clear();
            self.held = 0;
            self.loose = 0;
            self.overflowed = true;
            return false;
        }
        self.held += buf.len();
        if buf.len() >= COPY_BELOW {
            self.compact(); // the slices before it, so the order stays
            self.bufs.push_back(buf);
            return true;
        }
        self.bufs.push_back(buf);
        self.loose += 1;
        if self.loose == COMPACT_EVERY {
            self.compact();
        }
        true
    }

    /// Copies the loose slices at the end into one buffer of the record's own.
    fn compact(&mut self) {
        let loose = std::mem::take(&mut self.loose).min(self.bufs.len());
        if loose < 2 {
            return;
        }
        let from = self.bufs.len() - loose;
        let len = self.bufs.range(from..).map(Bytes::len).sum();
        let mut own = bytes::BytesMut::with_capacity(len);
        for buf in self.bufs.drain(from..) {
            own.extend_from_slice(&buf);
        }
        self.bufs.push_back(own.freeze());
    }

    /// The peer has every byte before `position`: they are forgotten.
    ///
    /// # Errors
    /// A position past the end ([`Unrecorded::Ahead`]) or before the kept tail.
    pub fn acknowledge(&mut self, position: u64) -> Result<(), Unrecorded> {
        let mut drop = self.offset(position)?;
        self.start = position;
        self.held -= drop;
        while drop > 0 {
            let front = self.bufs.front_mut().expect("held bytes are in bufs");
            if front.len() <= drop {
                drop -= front.len();
                self.bufs.pop_front();
                self.loose = self.loose.min(self.bufs.len());
            } else {
                let _ = front.split_to(drop);
                drop = 0;
            }
        }
        Ok(())
    }

    /// What was sent from `position` on, in order (the first buffer cut to start there).
    ///
    /// # Errors
    /// As [`Record::acknowledge`].
    pub fn since(&self, position: u64) -> Result<Vec<Bytes>, Unrecorded> {
        let mut skip = self.offset(position)?;
        let mut tail = Vec::new();
        for buf in &self.bufs {
            if skip >= buf.len() {
                skip -= buf.len();
                continue;
            }
            tail.push(buf.slice(skip..));
            skip = 0;
        }
        Ok(tail)
    }

    /// Bytes from the kept tail's start to `position`.
    fn offset(&self, position: u64) -> Result<usize, Unrecorded> {
        if self.overflowed || position < self.start {
            return Err(Unrecorded::Forgotten);
        }
        match usize::try_from(position - self.start) {
            Ok(offset) if offset <= self.held => Ok(offset),
            _ => Err(Unrecorded::Ahead),
        }
    }

    /// Position of the first byte kept.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Position after the last byte sent (everything ever pushed).
    pub fn end(&self) -> u64 {
        self.start + self.held as u64
    }

    /// Bytes kept (sent, not acknowledged).
    pub fn held(&self) -> usize {
        self.held
    }

    /// Buffers kept.
    pub fn buffers(&self) -> usize {
        self.bufs.len()
    }

    /// The limit was passed: the record was emptied and keeps nothing more.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn joined(tail: Vec<Bytes>) -> String {
        tail.iter()
            .map(|b| std::str::from_utf8(b).unwrap())
            .collect()
    }

    #[test]
    fn keeps_the_tail_from_any_position_until_acknowledged() {
        let mut record = Record::new(1000);
        for part in ["abc", "defg", "hi"] {
            assert!(record.push(bytes(part)));
        }
        assert_eq!((record.start(), record.end(), record.held()), (0, 9, 9));
        assert_eq!(joined(record.since(0).unwrap()), "abcdefghi");
        assert_eq!(joined(record.since(5).unwrap()), "fghi");
        assert_eq!(joined(record.since(9).unwrap()), "");
        record.acknowledge(4).unwrap(); // inside "defg"
        assert_eq!((record.start(), record.held(), record.buffers()), (4, 5, 2));
        assert_eq!(joined(record.since(4).unwrap()), "efghi");
        assert_eq!(record.since(3), Err(Unrecorded::Forgotten));
        assert_eq!(record.since(10), Err(Unrecorded::Ahead));
        assert_eq!(record.acknowledge(10), Err(Unrecorded::Ahead));
        record.acknowledge(9).unwrap();
        assert_eq!((record.held(), record.buffers(), record.end()), (0, 0, 9));
    }

    #[test]
    fn passing_the_limit_empties_it_for_good() {
        let mut record = Record::new(8);
        assert!(record.push(bytes("12345")));
        assert!(!record.push(bytes("6789")));
        assert!(record.overflowed());
        assert_eq!((record.held(), record.buffers()), (0, 0));
        assert!(!record.push(bytes("x")));
        assert_eq!(record.since(5), Err(Unrecorded::Forgotten));
    }

    #[test]
    fn small_slices_are_compacted_into_one_copy_and_large_ones_shared() {
        let mut record = Record::new(1 << 20);
        let small = bytes("ab");
        for _ in 0..COMPACT_EVERY - 1 {
            record.push(small.clone());
        }
        assert_eq!(
            record.buffers(),
            COMPACT_EVERY - 1,
            "kept by reference so far"
        );
        assert_eq!(record.since(0).unwrap()[0].as_ptr(), small.as_ptr());
        record.push(small.clone());
        assert_eq!(record.buffers(), 1, "compacted");
        let kept = record.since(0).unwrap();
        assert_ne!(kept[0].as_ptr(), small.as_ptr(), "its own copy");
        assert_eq!(kept[0], "ab".repeat(COMPACT_EVERY).as_bytes());
        record.push(small.clone());
        let large = Bytes::from(vec![7u8; COPY_BELOW]);
        record.push(large.clone());
        let kept = record.since(0).unwrap();
        assert_eq!(kept.len(), 3);
        assert_eq!(kept[2].as_ptr(), large.as_ptr(), "the same allocation");
        record.acknowledge(3).unwrap(); // inside the compacted copy
        assert_eq!(
            record.since(3).unwrap().concat().len(),
            2 * COMPACT_EVERY - 3 + 2 + COPY_BELOW
        );
    }
}
