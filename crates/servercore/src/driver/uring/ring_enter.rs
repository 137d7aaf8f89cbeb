//! [`RingEnter`]: the loop's one way into the kernel, `io_uring_enter(2)`, through the ring's
//! registered index when the `registered-ring` lever took (`IORING_REGISTER_RING_FDS`, 5.18).
//!
//! A registered ring is passed to every enter as a small index with
//! `IORING_ENTER_REGISTERED_RING` instead of its fd, so the kernel skips the fd-table lookup
//! (`fdget`/`fdput`) of each of the loop's one-enter-per-iteration calls. The registration is
//! the calling thread's (it lives in the task's io_uring context), which fits: a loop's ring is
//! created and entered by its own thread only.
//!
//! The `io-uring` crate remembers a registration in the `Submitter` that made it, and
//! `IoUring::submitter()` returns a fresh one (unregistered) each time; keeping one alive
//! beside the ring would borrow the ring for the driver's whole life. So the enter is made
//! here, by the same rules the crate follows (`GETEVENTS` when waiting, or when the kernel
//! holds overflowed CQEs or deferred task work; `EXT_ARG` for a timed wait).
//!
//! Winsock has nothing like it: an IOCP handle is always looked up by the kernel.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use io_uring::{EnterFlags, IoUring};

/// `IORING_REGISTER_RING_FDS` (the crate keeps its opcode constants private).
const REGISTER_RING_FDS: libc::c_uint = 20;
/// `IORING_UNREGISTER_RING_FDS`.
const UNREGISTER_RING_FDS: libc::c_uint = 21;

/// `struct io_uring_rsrc_update`: one ring fd to (un)register, and the index the kernel gave.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

/// `struct io_uring_getevents_arg`: what `IORING_ENTER_EXT_ARG` points at.
#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

/// `struct __kernel_timespec`.
#[repr(C)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

/// How the loop's thread enters its ring: by fd, or by registered index.
#[derive(Debug)]
pub(super) struct RingEnter {
    ring_fd: RawFd,
    /// The ring's index among the thread's registered rings, if registered.
    registered: Option<u32>,
}

impl RingEnter {
    /// Enters `ring` by its fd; with `register`, first tries to register it (a refusal is
    /// logged at debug, and the fd is used as before).
    pub(super) fn new(ring: &IoUring, register: bool) -> RingEnter {
        let ring_fd = ring.as_raw_fd();
        let registered = if register {
            register_ring(ring_fd)
                .inspect_err(|err| tracing::debug!("io_uring: ring fd not registered ({err})"))
                .ok()
        } else {
            None
        };
        RingEnter {
            ring_fd,
            registered,
        }
    }

    /// Whether enters pass the registered index (the lever took).
    pub(super) fn is_registered(&self) -> bool {
        self.registered.is_some()
    }

    /// Submits every queued SQE and, with `want > 0`, waits for that many CQEs, at most
    /// `timeout` (`None`: no limit). Returns the number of SQEs submitted.
    ///
    /// # Errors
    /// `io_uring_enter`'s, as the `io-uring` crate's `submit_*` return them (`ETIME` when the
    /// timeout ran out, `EINTR`, `EBUSY`, …).
    pub(super) fn submit(
        &self,
        ring: &mut IoUring,
        want: u32,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let sq = ring.submission();
        let to_submit = sq.len() as u32;
        let mut flags = EnterFlags::empty();
        // Deferred task work and overflowed CQEs are only handled by an enter with GETEVENTS.
        if want > 0 || sq.cq_overflow() || sq.taskrun() {
            flags |= EnterFlags::GETEVENTS;
        }
        drop(sq);
        let ts = timeout.map(|t| KernelTimespec {
            tv_sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        let arg = ts.as_ref().map(|ts| GeteventsArg {
            sigmask: 0,
            sigmask_sz: 0,
            min_wait_usec: 0,
            ts: std::ptr::from_ref(ts) as u64,
        });
        let (arg_ptr, arg_size) = match &arg {
            Some(arg) => {
                flags |= EnterFlags::EXT_ARG;
                (
                    std::ptr::from_ref(arg).cast::<libc::c_void>(),
                    std::mem::size_of::<GeteventsArg>(),
                )
            }
            None => (std::ptr::null(), 0),
        };
        let (fd, flags) = match self.registered {
            Some(index) => (index as libc::c_long, flags | EnterFlags::REGISTERED_RING),
            None => (self.ring_fd as libc::c_long, flags),
        };
        // SAFETY: io_uring_enter reads only `arg` (and the timespec it points at), both alive
        // on this stack frame for the call, sized as the kernel's structs; the SQEs it
        // submits name only memory the driver keeps until their CQEs (the ownership rule).
        let res = syscall!(unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                fd,
                libc::c_long::from(to_submit),
                libc::c_long::from(want),
                libc::c_long::from(flags.bits()),
                arg_ptr,
                arg_size,
            )
        })?;
        Ok(res as usize)
    }

    /// Drops the registration (before the ring closes: a registered ring holds a reference
    /// to itself until the thread exits or this runs).
    pub(super) fn unregister(&mut self) {
        if let Some(index) = self.registered.take() {
            let mut update = RsrcUpdate {
                offset: index,
                resv: 0,
                data: 0,
            };
            if let Err(err) = register(self.ring_fd, UNREGISTER_RING_FDS, &mut update) {
                tracing::debug!("io_uring: unregistering the ring fd: {err}");
            }
        }
    }
}

/// Registers `ring_fd` with the calling thread; returns its index.
fn register_ring(ring_fd: RawFd) -> io::Result<u32> {
    let mut update = RsrcUpdate {
        offset: u32::MAX, // any free index
        resv: 0,
        data: ring_fd as u64,
    };
    register(ring_fd, REGISTER_RING_FDS, &mut update)?;
    Ok(update.offset)
}

/// `io_uring_register(ring_fd, opcode, update, 1)`.
fn register(ring_fd: RawFd, opcode: libc::c_uint, update: &mut RsrcUpdate) -> io::Result<()> {
    // SAFETY: the kernel reads and writes one `io_uring_rsrc_update`, which `update` is (and
    // outlives the call).
    syscall!(unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring_fd,
            opcode,
            std::ptr::from_mut(update).cast::<libc::c_void>(),
            1 as libc::c_uint,
        )
    })?;
    Ok(())
}
