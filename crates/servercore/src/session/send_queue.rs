//! [`SendQueue`]: a session's outgoing buffers, flushed with one vectored write.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes};

/// Most buffers handed to one vectored write (`writev` / `sendmsg`), like the lecture's
/// `WSABUF` array. Linux allows `IOV_MAX` = 1024; 64 covers a burst of small packets
/// without making the kernel walk a long list.
pub const MAX_IOVECS: usize = 64;

/// The buffers queued for one session, oldest first.
///
/// ```text
///   front (partly written)                          back (newest)
///  +----------+--------------+------+----------+   +-----------+
///  | written  | not yet sent |  | buf 2 |  ...   |   | buf n     |
///  +----------+--------------+------+----------+   +-----------+
///             ^ the front Bytes was advanced past what the kernel took
/// ```
///
/// Buffers are [`Bytes`]: a packet written once into a shared buffer can be queued on any
/// number of sessions without copying. A partial write advances the front buffer in place
/// (no copy), so the next write resumes exactly where the kernel stopped — the lecture's
/// `sendBytes` cursor, per buffer. [`SendQueue::len`] is the number of bytes still owed to the
/// peer; the session layer bounds it (see `ServiceConfig::send_queue_limit`).
#[derive(Debug, Default)]
pub struct SendQueue {
    bufs: VecDeque<Bytes>,
    len: usize,
}

impl SendQueue {
    /// An empty queue; allocates nothing until the first push.
    pub fn new() -> SendQueue {
        SendQueue::default()
    }

    /// Bytes queued and not yet accepted by the kernel.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is owed to the peer.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of buffers queued.
    pub fn buffers(&self) -> usize {
        self.bufs.len()
    }

    /// The queued bytes, if they are exactly one buffer.
    pub fn only_buffer(&self) -> Option<&[u8]> {
        match (self.bufs.front(), self.bufs.len()) {
            (Some(buf), 1) => Some(buf),
            _ => None,
        }
    }

    /// Queues `buf` behind everything already queued. Empty buffers are ignored.
    pub fn push(&mut self, buf: Bytes) {
        if !buf.is_empty() {
            self.len += buf.len();
            self.bufs.push_back(buf);
        }
    }

    /// Fills `slices` with the oldest queued bytes, one slice per buffer; returns how many
    /// slices were filled (at most `slices.len()`).
    pub fn io_slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, buf) in slices.iter_mut().zip(&self.bufs) {
            *slot = IoSlice::new(buf);
            n += 1;
        }
        n
    }

    /// Removes up to `max` whole buffers from the front (for a driver that must own what the
    /// kernel is reading while the write is in flight). Returns them oldest first.
    pub fn take_front(&mut self, max: usize, out: &mut Vec<Bytes>) {
        for _ in 0..max {
            let Some(buf) = self.bufs.pop_front() else {
                break;
            };
            self.len -= buf.len();
            out.push(buf);
        }
    }

    /// Puts buffers back at the front, in order (the unsent rest of an in-flight write).
    pub fn restore_front(&mut self, bufs: impl DoubleEndedIterator<Item = Bytes>) {
        for buf in bufs.rev() {
            if !buf.is_empty() {
                self.len += buf.len();
                self.bufs.push_front(buf);
            }
        }
    }

    /// Records that the kernel accepted the first `n` queued bytes: whole buffers are dropped
    /// (releasing their share of a broadcast buffer) and a partly written front buffer is
    /// advanced in place.
    ///
    /// # Panics
    /// If `n` exceeds [`SendQueue::len`] (a driver bug: the kernel cannot take more than it
    /// was given).
    pub fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len, "advanced {n} bytes past {} queued", self.len);
        self.len -= n;
        while n > 0 {
            let front = self.bufs.front_mut().expect("len counts queued bytes");
            if n < front.len() {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.bufs.pop_front();
        }
    }

    /// Drops everything queued (the session is closing without a flush).
    pub fn clear(&mut self) {
        self.bufs = VecDeque::new();
        self.len = 0;
    }
}

/// Advances a list of in-flight buffers by `n` written bytes, dropping the ones fully written.
/// Used by completion drivers that hold the front buffers while a send is in flight.
pub fn advance_bufs(bufs: &mut Vec<Bytes>, mut n: usize) {
    let mut done = 0;
    for buf in bufs.iter_mut() {
        if n < buf.len() {
            buf.advance(n);
            break;
        }
        n -= buf.len();
        done += 1;
    }
    bufs.drain(..done);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(parts: &[&'static [u8]]) -> SendQueue {
        let mut q = SendQueue::new();
        for p in parts {
            q.push(Bytes::from_static(p));
        }
        q
    }

    fn contents(q: &SendQueue) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
        let n = q.io_slices(&mut slices);
        slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn push_counts_bytes_and_skips_empty() {
        let q = queue(&[b"abc", b"", b"de"]);
        assert_eq!(q.len(), 5);
        assert_eq!(q.buffers(), 2);
        assert_eq!(contents(&q), b"abcde");
    }

    #[test]
    fn only_buffer_is_the_single_queued_buffer() {
        assert_eq!(SendQueue::new().only_buffer(), None);
        let mut q = queue(&[b"abc"]);
        assert_eq!(q.only_buffer(), Some(&b"abc"[..]));
        q.push(Bytes::from_static(b"d"));
        assert_eq!(q.only_buffer(), None);
        q.advance(3);
        assert_eq!(q.only_buffer(), Some(&b"d"[..]));
    }

    #[test]
    fn partial_advance_resumes_mid_buffer() {
        let mut q = queue(&[b"abc", b"defg", b"h"]);
        q.advance(4);
        assert_eq!(q.len(), 4);
        assert_eq!(q.buffers(), 2);
        assert_eq!(contents(&q), b"efgh");
        q.advance(4);
        assert!(q.is_empty());
        assert_eq!(q.buffers(), 0);
    }

    #[test]
    fn io_slices_stop_at_the_array_size() {
        let mut q = SendQueue::new();
        for _ in 0..100 {
            q.push(Bytes::from_static(b"x"));
        }
        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
        assert_eq!(q.io_slices(&mut slices), MAX_IOVECS);
    }

    #[test]
    fn take_and_restore_keep_order_and_length() {
        let mut q = queue(&[b"ab", b"cd", b"ef"]);
        let mut taken = Vec::new();
        q.take_front(2, &mut taken);
        assert_eq!(q.len(), 2);
        q.push(Bytes::from_static(b"gh"));
        advance_bufs(&mut taken, 3);
        assert_eq!(taken, vec![Bytes::from_static(b"d")]);
        q.restore_front(taken.into_iter());
        assert_eq!(q.len(), 5);
        assert_eq!(contents(&q), b"defgh");
    }

    #[test]
    #[should_panic(expected = "advanced 4 bytes past 3 queued")]
    fn advancing_past_the_end_panics() {
        queue(&[b"abc"]).advance(4);
    }
}
