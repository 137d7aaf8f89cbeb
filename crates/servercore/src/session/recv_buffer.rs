//! [`RecvBuffer`]: the bytes a session has received but its handler has not consumed yet.

use std::fmt;

/// The bytes received on a session that the handler has not consumed yet: the tail of a
/// partial packet, or everything while the handler asks for more.
///
/// ```text
/// +-------------------+------------------+------------------+
/// | consumed (dead)   | readable bytes   | writable bytes   |
/// |                   |    (content)     |   (free space)   |
/// +-------------------+------------------+------------------+
/// 0        <=       read      <=       write     <=     capacity
/// ```
///
/// Unlike the lecture's fixed `char recvBuffer[BUFSIZE]`, the buffer owns no memory while it
/// is empty (an idle session costs nothing here), grows only as unconsumed bytes arrive, and
/// refuses to grow past a hard `limit`: a peer cannot make the server hold more than
/// `limit` bytes on its behalf. Drivers read into a per-loop scratch buffer and hand the bytes
/// to the handler directly; only what the handler leaves unconsumed is copied in here.
pub struct RecvBuffer {
    buf: Vec<u8>,
    read: usize,
    write: usize,
    limit: usize,
}

/// Appending would make the buffer hold more than its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvBufferFull {
    /// Bytes the buffer would have held.
    pub wanted: usize,
    /// The configured limit.
    pub limit: usize,
}

impl RecvBuffer {
    /// An empty buffer that will never hold more than `limit` bytes. Allocates nothing.
    pub fn new(limit: usize) -> RecvBuffer {
        RecvBuffer {
            buf: Vec::new(),
            read: 0,
            write: 0,
            limit,
        }
    }

    /// The unconsumed bytes.
    pub fn readable(&self) -> &[u8] {
        &self.buf[self.read..self.write]
    }

    /// Number of unconsumed bytes.
    pub fn len(&self) -> usize {
        self.write - self.read
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.read == self.write
    }

    #[cfg(test)]
    /// Bytes of memory the buffer holds (0 while empty).
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Appends `data` after the readable bytes, compacting or growing as needed.
    ///
    /// # Errors
    /// [`RecvBufferFull`] if the buffer would hold more than its limit; nothing is appended.
    pub fn append(&mut self, data: &[u8]) -> Result<(), RecvBufferFull> {
        self.append_within(data, self.limit)
    }

    /// As [`RecvBuffer::append`], allowing `allowance` bytes past the limit: input a
    /// completion driver had already received when reading was paused (see
    /// `Driver::read_ahead`), which the kernel cannot take back.
    pub(crate) fn append_held(
        &mut self,
        data: &[u8],
        allowance: usize,
    ) -> Result<(), RecvBufferFull> {
        self.append_within(data, self.limit.saturating_add(allowance))
    }

    fn append_within(&mut self, data: &[u8], limit: usize) -> Result<(), RecvBufferFull> {
        if data.is_empty() {
            return Ok(()); // the usual case: the handler consumed everything
        }
        let wanted = self.len() + data.len();
        if wanted > limit {
            return Err(RecvBufferFull {
                wanted,
                limit: self.limit,
            });
        }
        if self.buf.len() - self.write < data.len() {
            self.make_room(wanted);
        }
        self.buf[self.write..self.write + data.len()].copy_from_slice(data);
        self.write += data.len();
        debug_assert!(self.len() <= limit);
        self.check();
        Ok(())
    }

    /// Marks the first `n` readable bytes consumed. When the buffer becomes empty its memory
    /// is released, so idle sessions hold none.
    ///
    /// # Panics
    /// If `n` is more than [`RecvBuffer::len`]: a handler claimed bytes it was never shown.
    pub fn consume(&mut self, n: usize) {
        assert!(n <= self.len(), "consumed {n} bytes of {}", self.len());
        self.read += n;
        if self.read == self.write {
            self.clear();
        }
        self.check();
    }

    /// Drops everything and releases the memory.
    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.read = 0;
        self.write = 0;
    }

    /// Ensures `wanted` readable bytes fit: slide the content to the front if that is enough,
    /// else move it into a larger allocation (doubling, capped at the limit).
    fn make_room(&mut self, wanted: usize) {
        if wanted <= self.buf.len() {
            self.buf.copy_within(self.read..self.write, 0);
        } else {
            let capacity = wanted
                .max(self.buf.len() * 2)
                .max(256)
                .min(self.limit.max(wanted));
            let mut grown = vec![0; capacity];
            grown[..self.len()].copy_from_slice(self.readable());
            self.buf = grown;
        }
        self.write -= self.read;
        self.read = 0;
    }

    fn check(&self) {
        // The length itself is checked against the limit in force where it grows (`append`
        // or `append_held`).
        debug_assert!(self.read <= self.write && self.write <= self.buf.len());
    }
}

impl fmt::Debug for RecvBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvBuffer")
            .field("read", &self.read)
            .field("write", &self.write)
            .field("capacity", &self.buf.len())
            .field("limit", &self.limit)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(b: &RecvBuffer) -> (usize, usize, usize) {
        (b.read, b.len(), b.capacity() - b.write)
    }

    #[test]
    fn new_buffer_owns_no_memory() {
        let b = RecvBuffer::new(1024);
        assert_eq!(b.capacity(), 0);
        assert!(b.is_empty());
        assert_eq!(sizes(&b), (0, 0, 0));
    }

    #[test]
    fn append_then_consume_tracks_all_three_regions() {
        let mut b = RecvBuffer::new(1024);
        b.append(b"hello world").unwrap();
        assert_eq!(b.readable(), b"hello world");
        assert_eq!(sizes(&b), (0, 11, 256 - 11));
        b.consume(6);
        assert_eq!(b.readable(), b"world");
        assert_eq!(sizes(&b), (6, 5, 256 - 11));
        b.consume(5);
        assert_eq!(sizes(&b), (0, 0, 0), "empty buffer releases its memory");
    }

    #[test]
    fn compacts_before_growing() {
        let mut b = RecvBuffer::new(1024);
        b.append(&[1; 200]).unwrap();
        b.consume(150);
        b.append(&[2; 100]).unwrap();
        assert_eq!(b.capacity(), 256, "slid content forward instead of growing");
        assert_eq!(sizes(&b), (0, 150, 106));
        assert_eq!(&b.readable()[..50], &[1; 50]);
        assert_eq!(&b.readable()[50..], &[2; 100]);
    }

    #[test]
    fn grows_only_to_the_limit() {
        let mut b = RecvBuffer::new(1000);
        b.append(&[7; 600]).unwrap();
        b.append(&[8; 400]).unwrap();
        assert_eq!(b.len(), 1000);
        assert_eq!(b.capacity(), 1000);
        let err = b.append(&[9]).unwrap_err();
        assert_eq!(
            err,
            RecvBufferFull {
                wanted: 1001,
                limit: 1000
            }
        );
        assert_eq!(b.len(), 1000, "a refused append changes nothing");
    }

    #[test]
    #[should_panic(expected = "consumed 3 bytes of 2")]
    fn consuming_unseen_bytes_panics() {
        let mut b = RecvBuffer::new(10);
        b.append(b"ab").unwrap();
        b.consume(3);
    }
}
