//! [`BufRing`]: the loop's provided-buffer ring (`IORING_REGISTER_PBUF_RING`), the memory
//! every multishot recv of the loop receives into.
//!
//! ```text
//!   entries (page-aligned, shared with the kernel)        buffers (ours)
//!  +-----------------+-----------------+---- ...         +-----------+-----------+---
//!  | addr,len,bid,·· | addr,len,bid,·· |                  |  bid 0    |  bid 1    |
//!  +-----------------+-----------------+---- ...         +-----------+-----------+---
//!    ^ entry 0's last u16 is the ring's tail: we publish buffers by moving it forward;
//!      the kernel takes them from its private head and names the one it used in each
//!      CQE (`IORING_CQE_F_BUFFER`, bid in the upper 16 bits of `flags`).
//! ```
//!
//! A buffer is the kernel's from the moment it is published until a CQE names it; then it is
//! ours until [`BufRing::recycle`] publishes it again, which the driver does as soon as the
//! session layer has been shown the bytes (it copies what it keeps). So a buffer is never
//! held by an idle session, and the ring only runs dry when more than `count` recvs complete
//! in one batch — the kernel then ends those recvs with `ENOBUFS` and the driver re-arms them.

use std::io;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::IoUring;

/// One ring entry, the kernel's `struct io_uring_buf`.
#[repr(C)]
struct RingEntry {
    addr: u64,
    len: u32,
    bid: u16,
    /// In entry 0 this is the ring's tail; in the others, unused.
    resv: u16,
}

const _: () = assert!(std::mem::size_of::<RingEntry>() == 16);

/// An anonymous private mapping: page-aligned, zeroed, unmapped on drop.
#[derive(Debug)]
struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mmap {
    fn new(len: usize) -> io::Result<Mmap> {
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches
        // no existing memory.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            // The one call whose failure value is not -1 (it is `(void *)-1`).
            return Err(io::Error::last_os_error());
        }
        Ok(Mmap {
            ptr: NonNull::new(ptr.cast()).expect("mmap never maps page 0"),
            len,
        })
    }

    /// Forgets the mapping: it stays mapped until the process exits.
    fn leak(&mut self) {
        self.len = 0;
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        if self.len == 0 {
            return; // leaked
        }
        // SAFETY: `ptr`/`len` is a mapping this value made and nothing else unmaps; whoever
        // owns the `Mmap` guarantees the kernel no longer uses it (see `BufRing::leak`).
        if let Err(err) = syscall!(unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) }) {
            tracing::warn!("munmap of a buffer ring: {err}");
        }
    }
}

/// The loop's provided-buffer ring: `count` buffers of `buf_size` bytes in buffer group
/// `group`, registered with one ring.
///
/// # Invariant
/// The ring entries and the buffers stay mapped while the io_uring they are registered with
/// may use them: the driver drops its `IoUring` first, and only once no recv is in flight;
/// if it cannot prove that, it calls [`BufRing::leak`].
#[derive(Debug)]
pub(super) struct BufRing {
    entries: Mmap,
    buffers: Mmap,
    count: u16,
    buf_size: u32,
    group: u16,
    /// Our copy of the tail (the kernel's copy is published with a release store).
    tail: u16,
}

impl BufRing {
    /// Maps `count` (a power of two, at most 32768) buffers of `buf_size` bytes, registers
    /// them with `ring` as buffer group `group`, and publishes all of them.
    ///
    /// # Errors
    /// `mmap` errors, or the kernel refusing `IORING_REGISTER_PBUF_RING` (before 5.19).
    pub(super) fn register(
        ring: &IoUring,
        count: u16,
        buf_size: u32,
        group: u16,
    ) -> io::Result<BufRing> {
        assert!(
            count.is_power_of_two() && count <= 32768,
            "buffer ring size {count}"
        );
        let entries = Mmap::new(usize::from(count) * std::mem::size_of::<RingEntry>())?;
        let buffers = Mmap::new(usize::from(count) * buf_size as usize)?;
        let mut buf_ring = BufRing {
            entries,
            buffers,
            count,
            buf_size,
            group,
            tail: 0,
        };
        // SAFETY: the entry array is page-aligned (mmap) and `count` entries long, and it stays
        // mapped while the ring may use it (the type's invariant).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                buf_ring.entries.ptr.as_ptr() as u64,
                count,
                group,
                0,
            )?;
        }
        for bid in 0..count {
            buf_ring.recycle(bid);
        }
        Ok(buf_ring)
    }

    /// The buffer group recvs select from.
    pub(super) fn group(&self) -> u16 {
        self.group
    }

    /// Bytes in all the ring's buffers together.
    pub(super) fn bytes(&self) -> usize {
        self.buf_size as usize * usize::from(self.count)
    }

    /// The first `len` bytes of buffer `bid`, which a CQE just handed back to us.
    pub(super) fn filled(&self, bid: u16, len: usize) -> &[u8] {
        assert!(
            bid < self.count && len <= self.buf_size as usize,
            "CQE names buffer {bid} with {len} bytes"
        );
        // SAFETY: buffer `bid` lies inside the `buffers` mapping (checked above); a CQE named
        // it, so the kernel wrote `len` bytes into it and will not touch it again until
        // `recycle(bid)`, which takes `&mut self` and so cannot run while this borrow lives.
        unsafe { std::slice::from_raw_parts(self.buffer_ptr(bid), len) }
    }

    /// Gives buffer `bid` back to the kernel.
    pub(super) fn recycle(&mut self, bid: u16) {
        debug_assert!(bid < self.count);
        let base = self.entries.ptr.as_ptr().cast::<RingEntry>();
        let index = usize::from(self.tail & (self.count - 1));
        // SAFETY: `index < count`, so the entry is inside the mapping. The kernel only reads
        // entries between its head and the published tail, and this one is past the tail until
        // the store below; the fields are written one by one through raw pointers so that entry
        // 0's `resv` (the tail the kernel reads) is never written here.
        unsafe {
            let entry = base.add(index);
            ptr::addr_of_mut!((*entry).addr).write(self.buffer_ptr(bid) as u64);
            ptr::addr_of_mut!((*entry).len).write(self.buf_size);
            ptr::addr_of_mut!((*entry).bid).write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: entry 0's `resv` is a naturally aligned u16 inside the mapping, which the
        // kernel only reads; the release store orders the entry writes above before it.
        let tail = unsafe { &*ptr::addr_of!((*base).resv).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }

    /// Keeps the memory mapped forever: called when the driver cannot prove the kernel is done
    /// with it (an error left recvs in flight).
    pub(super) fn leak(&mut self) {
        self.entries.leak();
        self.buffers.leak();
    }

    fn buffer_ptr(&self, bid: u16) -> *mut u8 {
        // `bid < count`, so the offset stays inside the `buffers` mapping.
        self.buffers
            .ptr
            .as_ptr()
            .wrapping_add(usize::from(bid) * self.buf_size as usize)
    }
}
