//! [`SendBufferPool`]: carve many small outgoing buffers out of one shared allocation.

use bytes::{Bytes, BytesMut};

/// Default size of one chunk (the course's `SendBufferChunk`).
pub(crate) const CHUNK_SIZE: usize = 64 * 1024;

/// Writes outgoing messages into large shared chunks and hands each one out as a [`Bytes`]
/// that can be queued on one session or on every member of a room without copying.
///
/// This is the course's `SendBufferManager` / `SendBufferChunk`: instead of one heap
/// allocation per message, each loop keeps a 64 KiB chunk and carves messages off its front;
/// a chunk is freed when the last message carved from it has been sent by every recipient
/// (reference counting is done by `bytes`). A message larger than a quarter chunk gets its own
/// allocation so it does not waste the rest of a chunk.
#[derive(Debug)]
pub struct SendBufferPool {
    chunk: BytesMut,
    chunk_size: usize,
}

impl Default for SendBufferPool {
    fn default() -> Self {
        SendBufferPool::new(CHUNK_SIZE)
    }
}

impl SendBufferPool {
    /// A pool that allocates chunks of `chunk_size` bytes (lazily).
    pub fn new(chunk_size: usize) -> SendBufferPool {
        SendBufferPool {
            chunk: BytesMut::new(),
            chunk_size,
        }
    }

    /// Copies `data` into the pool and returns it as a shareable buffer.
    pub fn copy(&mut self, data: &[u8]) -> Bytes {
        self.write(data.len(), |buf| buf.extend_from_slice(data))
    }

    /// Lets `fill` append one message of about `len_hint` bytes, then returns exactly what it
    /// appended as a shareable buffer. `fill` may append more than the hint (the pool grows).
    pub fn write(&mut self, len_hint: usize, fill: impl FnOnce(&mut BytesMut)) -> Bytes {
        if len_hint > self.chunk_size / 4 {
            let mut own = BytesMut::with_capacity(len_hint);
            fill(&mut own);
            return own.freeze();
        }
        if self.chunk.capacity() - self.chunk.len() < len_hint {
            self.chunk = BytesMut::with_capacity(self.chunk_size);
        }
        debug_assert!(self.chunk.is_empty());
        fill(&mut self.chunk);
        self.chunk.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_messages_share_one_chunk() {
        let mut pool = SendBufferPool::new(1024);
        let a = pool.copy(b"hello");
        let b = pool.copy(b"world");
        assert_eq!(&a[..], b"hello");
        assert_eq!(&b[..], b"world");
        // Carved from the same allocation: b starts right after a.
        assert_eq!(a.as_ptr().wrapping_add(a.len()), b.as_ptr());
    }

    #[test]
    fn a_full_chunk_is_replaced() {
        let mut pool = SendBufferPool::new(64);
        let a = pool.copy(&[1; 16]);
        let _ = pool.copy(&[2; 16]);
        let _ = pool.copy(&[3; 16]);
        let _ = pool.copy(&[4; 16]);
        let e = pool.copy(&[5; 16]);
        assert_eq!(&a[..], &[1; 16]);
        assert_eq!(&e[..], &[5; 16]);
        assert_ne!(a.as_ptr().wrapping_add(64), e.as_ptr());
    }

    #[test]
    fn large_messages_get_their_own_buffer() {
        let mut pool = SendBufferPool::new(64);
        let big = pool.copy(&[9; 100]);
        assert_eq!(big.len(), 100);
        let small = pool.copy(b"x");
        assert_eq!(&small[..], b"x");
    }

    #[test]
    fn fill_may_exceed_the_hint() {
        let mut pool = SendBufferPool::new(64);
        let m = pool.write(2, |b| b.extend_from_slice(&[7; 40]));
        assert_eq!(&m[..], &[7; 40]);
    }
}
