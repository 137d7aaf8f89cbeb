//! [`SendQueue`]: a session's outgoing buffers, flushed with one vectored write.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use super::send_buffer::CHUNK_SIZE;

/// Most buffers handed to one vectored write (`writev` / `sendmsg`), like the lecture's
/// `WSABUF` array. Linux allows `IOV_MAX` = 1024; 64 covers a burst of small packets
/// without making the kernel walk a long list.
pub(crate) const MAX_IOVECS: usize = 64;

/// Buffers up to this size queued behind a backlog are copied into the queue's own tail
/// instead of being held (see [`SendQueue::push`]). A quarter chunk: a larger message never
/// shares a pool chunk, so holding it pins no more than its own bytes.
pub const COPY_BEHIND_MAX: usize = CHUNK_SIZE / 4;

/// The buffers queued for one session, oldest first.
///
/// ```text
///   front (partly written)                                       tail (copied)
///  +----------+--------------+-------+-------+   +-----------+   +-------------+
///  | written  | not yet sent | buf 2 |  ...  |   | buf n     |   | a | b | c | |
///  +----------+--------------+-------+-------+   +-----------+   +-------------+
///             ^ the front Bytes was advanced past what the kernel took
/// ```
///
/// Buffers are [`Bytes`]: a packet written once into a shared buffer can be queued on any
/// number of sessions without copying. A partial write advances the front buffer in place
/// (no copy), so the next write resumes exactly where the kernel stopped — the lecture's
/// `sendBytes` cursor, per buffer.
///
/// Memory follows the bytes owed. A small [`Bytes`] may keep a whole 64 KiB pool chunk
/// alive, so a session whose peer stops reading could pin far more memory than it owes.
/// Therefore a small buffer (up to [`COPY_BEHIND_MAX`]) pushed while the queue already holds
/// bytes is copied into a tail the queue owns. A backlogged queue then holds its owed bytes
/// plus at most two shared buffers: the one at its front, and one in a send in flight. An
/// idle queue holds no memory.
///
/// Two counts: [`SendQueue::len`] is what is queued here; [`SendQueue::owed`] adds what a
/// completion driver took for a send still in flight (`take_front`). The session
/// layer bounds `owed` (see `ServiceConfig::send_queue_limit`).
#[derive(Debug, Default)]
pub struct SendQueue {
    bufs: VecDeque<Bytes>,
    /// Small buffers pushed behind a backlog, copied together; logically after `bufs`.
    tail: BytesMut,
    /// Bytes in `bufs` and `tail`.
    len: usize,
    /// Bytes taken by [`SendQueue::take_front`] and not yet given back.
    taken: usize,
}

impl SendQueue {
    /// An empty queue; allocates nothing until the first push.
    pub fn new() -> SendQueue {
        SendQueue::default()
    }

    #[cfg(test)]
    /// Bytes queued here, not counting those taken for a send in flight.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is queued here (a send may still be in flight: see
    /// [`SendQueue::owed`]).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes owed to the peer: queued, plus taken for a send in flight.
    pub fn owed(&self) -> usize {
        self.len + self.taken
    }

    #[cfg(test)]
    /// Number of buffers queued.
    pub fn buffers(&self) -> usize {
        self.bufs.len() + usize::from(!self.tail.is_empty())
    }

    /// The queued bytes, if they are exactly one buffer.
    pub(crate) fn only_buffer(&self) -> Option<&[u8]> {
        match (self.bufs.front(), self.bufs.len(), self.tail.is_empty()) {
            (Some(buf), 1, true) => Some(buf),
            (None, _, false) => Some(&self.tail),
            _ => None,
        }
    }

    /// Queues `buf` behind everything already queued. Empty buffers are ignored. If the queue
    /// already holds bytes and `buf` is small, its bytes are copied into the queue's tail
    /// rather than `buf` being held (see the type's docs). A send in flight alone does not
    /// count: the next buffer becomes the front, and is held.
    pub fn push(&mut self, buf: Bytes) {
        if buf.is_empty() {
            return;
        }
        if self.len == 0 {
            // Nothing queued (so no tail either): the buffer goes in as it is.
            self.len = buf.len();
            self.bufs.push_back(buf);
            return;
        }
        self.len += buf.len();
        if self.len > buf.len() && buf.len() <= COPY_BEHIND_MAX {
            if self.tail.capacity() - self.tail.len() < buf.len() {
                self.seal_tail();
                self.tail.reserve(COPY_BEHIND_MAX);
            }
            self.tail.extend_from_slice(&buf);
        } else {
            self.seal_tail();
            self.bufs.push_back(buf);
        }
    }

    /// Queues `buf` ahead of everything queued (what a driver did not take of bytes it was
    /// lent: a direct reply's rest). Empty buffers are ignored.
    pub(crate) fn push_front(&mut self, buf: Bytes) {
        if !buf.is_empty() {
            self.len += buf.len();
            self.bufs.push_front(buf);
        }
    }

    /// Fills `slices` with the oldest queued bytes, one slice per buffer; returns how many
    /// slices were filled (at most `slices.len()`).
    pub(crate) fn io_slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let tail = (!self.tail.is_empty()).then_some(&self.tail[..]);
        let bufs = self.bufs.iter().map(|b| &b[..]).chain(tail);
        let mut n = 0;
        for (slot, buf) in slices.iter_mut().zip(bufs) {
            *slot = IoSlice::new(buf);
            n += 1;
        }
        n
    }

    /// Removes up to `max` whole buffers from the front, for a driver that must own what the
    /// kernel reads while the send is in flight. Returns them oldest first; they count in
    /// [`SendQueue::owed`] until [`SendQueue::give_back`].
    #[cfg_attr(
        not(target_os = "linux"),
        allow(
            dead_code,
            reason = "only the io_uring driver (Linux) owns in-flight buffers"
        )
    )]
    pub(crate) fn take_front(&mut self, max: usize, out: &mut Vec<Bytes>) {
        self.seal_tail();
        for _ in 0..max {
            let Some(buf) = self.bufs.pop_front() else {
                break;
            };
            self.len -= buf.len();
            self.taken += buf.len();
            out.push(buf);
        }
        self.release_if_empty();
    }

    /// The send of buffers from [`SendQueue::take_front`] completed with `written` bytes taken
    /// by the kernel: what it did not take goes back to the front, in order.
    ///
    /// # Panics
    /// If `bufs` holds more than was taken or `written` exceeds `bufs` (a driver bug).
    #[cfg_attr(
        not(target_os = "linux"),
        allow(
            dead_code,
            reason = "only the io_uring driver (Linux) owns in-flight buffers"
        )
    )]
    pub(crate) fn give_back(&mut self, written: usize, bufs: &mut Vec<Bytes>) {
        let total: usize = bufs.iter().map(Bytes::len).sum();
        assert!(
            written <= total && total <= self.taken,
            "gave back {total} bytes ({written} written), {} taken",
            self.taken
        );
        self.taken -= total;
        if written == total {
            bufs.clear(); // all taken (the common case): nothing goes back
            return;
        }
        advance_bufs(bufs, written);
        for buf in bufs.drain(..).rev() {
            self.len += buf.len();
            self.bufs.push_front(buf);
        }
    }

    /// Records that the kernel accepted the first `n` queued bytes: whole buffers are dropped
    /// (releasing their share of a broadcast buffer) and a partly written front buffer is
    /// advanced in place.
    ///
    /// # Panics
    /// If `n` exceeds [`SendQueue::len`] (a driver bug: the kernel cannot take more than it
    /// was given).
    pub(crate) fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len, "advanced {n} bytes past {} queued", self.len);
        if n == self.len {
            // All of it went (the common case): no buffer is cut.
            self.len = 0;
            self.bufs.clear();
            self.tail.clear();
            self.release_if_empty();
            return;
        }
        self.len -= n;
        while n > 0 {
            let Some(front) = self.bufs.front_mut() else {
                self.tail.advance(n); // `len` covered it, so the tail holds at least `n`
                break;
            };
            if n < front.len() {
                front.advance(n);
                break;
            }
            n -= front.len();
            self.bufs.pop_front();
        }
        self.release_if_empty();
    }

    /// Drops everything queued (the session is closing without a flush). Bytes taken for a
    /// send in flight stay owed until given back.
    pub(crate) fn clear(&mut self) {
        self.bufs = VecDeque::new();
        self.tail = BytesMut::new();
        self.len = 0;
    }

    /// Moves the tail's bytes into `bufs` as one buffer (no copy); the tail keeps its spare
    /// room.
    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.bufs.push_back(self.tail.split().freeze());
        }
    }

    /// Frees the tail's spare room once nothing is queued: an idle session holds no memory.
    fn release_if_empty(&mut self) {
        if self.len == 0 && self.tail.capacity() > 0 {
            self.tail = BytesMut::new();
        }
    }
}

/// Advances a list of in-flight buffers by `n` written bytes, dropping the ones fully written.
/// Used by completion drivers that hold the front buffers while a send is in flight.
#[cfg_attr(
    not(target_os = "linux"),
    allow(
        dead_code,
        reason = "only the io_uring driver (Linux) owns in-flight buffers"
    )
)]
pub(crate) fn advance_bufs(bufs: &mut Vec<Bytes>, mut n: usize) {
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
        assert_eq!(q.buffers(), 2, "\"abc\" held, the rest copied behind it");
        q.advance(4);
        assert_eq!(q.len(), 4);
        assert_eq!(q.buffers(), 1);
        assert_eq!(contents(&q), b"efgh");
        q.advance(4);
        assert!(q.is_empty());
        assert_eq!(q.buffers(), 0);
    }

    #[test]
    fn io_slices_stop_at_the_array_size() {
        let mut q = SendQueue::new();
        let big = Bytes::from(vec![b'x'; COPY_BEHIND_MAX + 1]); // held, never copied
        for _ in 0..100 {
            q.push(big.clone());
        }
        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
        assert_eq!(q.io_slices(&mut slices), MAX_IOVECS);
    }

    #[test]
    fn take_and_restore_keep_order_and_length() {
        let mut q = queue(&[b"ab", b"cd", b"ef"]); // "ab" held, "cdef" copied
        let mut taken = Vec::new();
        q.take_front(1, &mut taken);
        assert_eq!(taken, vec![Bytes::from_static(b"ab")]);
        assert_eq!(q.len(), 4);
        assert_eq!(q.owed(), 6, "taken bytes stay owed while in flight");
        q.push(Bytes::from_static(b"gh"));
        assert_eq!(q.owed(), 8);
        q.give_back(1, &mut taken);
        assert!(taken.is_empty());
        assert_eq!(q.len(), 7);
        assert_eq!(q.owed(), 7);
        assert_eq!(contents(&q), b"bcdefgh");
    }

    #[test]
    fn small_buffers_behind_a_backlog_are_copied_not_held() {
        // A peer that stops reading while tiny echoes, each carved from a 64 KiB chunk, pile
        // up behind the first: the queue must not keep those chunks alive.
        let chunk = Bytes::from(vec![7u8; CHUNK_SIZE]);
        let mut q = SendQueue::new();
        q.push(Bytes::from(vec![7u8; 10])); // nothing owed: held as is
        for i in 1..100 {
            q.push(chunk.slice(i * 10..i * 10 + 10));
        }
        assert!(chunk.is_unique(), "no queued buffer pins the chunk");
        assert_eq!(q.len(), 1000);
        assert_eq!(q.buffers(), 2, "one held buffer, then one copied tail");
        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
        let n = q.io_slices(&mut slices);
        assert_eq!(n, 2);
        assert_eq!(slices[0].len(), 10);
        assert_eq!(slices[1].len(), 990);
        assert!(contents(&q).iter().all(|&b| b == 7));
    }

    #[test]
    fn large_buffers_are_held_and_order_is_kept() {
        let mut q = SendQueue::new();
        q.push(Bytes::from_static(b"a"));
        q.push(Bytes::from_static(b"b")); // copied into the tail
        let big = Bytes::from(vec![b'c'; COPY_BEHIND_MAX + 1]);
        q.push(big.clone()); // seals the tail, then held
        q.push(Bytes::from_static(b"d"));
        assert_eq!(q.buffers(), 4);
        let mut expected = b"ab".to_vec();
        expected.extend_from_slice(&big);
        expected.push(b'd');
        assert_eq!(contents(&q), expected);
    }

    #[test]
    fn advancing_through_the_tail_and_emptying_frees_it() {
        let mut q = queue(&[b"abc", b"de", b"fg"]);
        assert_eq!(q.buffers(), 2);
        q.advance(4);
        assert_eq!(q.only_buffer(), Some(&b"efg"[..]));
        q.advance(3);
        assert!(q.is_empty());
        assert_eq!(q.buffers(), 0);
        assert_eq!(q.tail.capacity(), 0, "an empty queue holds no tail memory");
    }

    #[test]
    fn take_front_seals_the_tail_and_keeps_order() {
        let mut q = queue(&[b"ab", b"cd", b"ef"]);
        let mut taken = Vec::new();
        q.take_front(MAX_IOVECS, &mut taken);
        assert_eq!(
            taken,
            vec![Bytes::from_static(b"ab"), Bytes::from_static(b"cdef")]
        );
        assert!(q.is_empty());
        assert_eq!(q.owed(), 6);
        q.give_back(6, &mut taken);
        assert_eq!(q.owed(), 0);
    }

    #[test]
    fn a_send_in_flight_alone_does_not_make_a_backlog() {
        let mut q = queue(&[b"ab"]);
        let mut taken = Vec::new();
        q.take_front(MAX_IOVECS, &mut taken);
        let chunk = Bytes::from(vec![1u8; 64]);
        q.push(chunk.slice(0..8)); // the new front: held, not copied
        assert!(!chunk.is_unique());
        q.push(chunk.slice(8..16)); // behind it: copied
        assert_eq!(q.buffers(), 2);
        assert_eq!(q.owed(), 18);
    }

    #[test]
    fn clear_keeps_in_flight_bytes_owed() {
        let mut q = queue(&[b"ab", b"cd"]);
        let mut taken = Vec::new();
        q.take_front(1, &mut taken);
        q.clear();
        assert_eq!(q.len(), 0);
        assert_eq!(q.owed(), 2);
        q.give_back(1, &mut taken);
        assert_eq!(q.owed(), 1, "the unsent rest is queued again");
    }

    #[test]
    #[should_panic(expected = "advanced 4 bytes past 3 queued")]
    fn advancing_past_the_end_panics() {
        queue(&[b"abc"]).advance(4);
    }
}
