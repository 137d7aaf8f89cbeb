//! A ring's sizes ([`RingSizes`]), creating a loop's ring (with the fastest flags the kernel accepts), checking the kernel
//! offers every op the driver uses, and the eventfd waker.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use io_uring::{opcode, IoUring, Probe};

use super::buf_ring::BufRing;
use super::fixed_files::FixedFiles;
use super::{CQ_ENTRIES, RECV_BUFFERS, RECV_BUFFER_SIZE, SQ_ENTRIES};
use crate::mailbox::Wake;
use crate::ServiceConfig;

/// A ring's queue sizes and its receive buffers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingSizes {
    /// Submission queue entries.
    pub(crate) sq: u32,
    /// Completion queue entries (at least `sq`).
    pub(crate) cq: u32,
    /// Provided receive buffers (a power of two).
    pub(crate) buffers: u16,
    /// Bytes per receive buffer.
    pub(crate) buffer_size: u32,
    /// Slots of the fixed-file table (with the `fixed-files` lever).
    pub(crate) fixed_files: u32,
}

impl RingSizes {
    /// The documented defaults, with buffers of `read_chunk` bytes (clamped).
    pub(crate) fn for_config(config: &ServiceConfig) -> RingSizes {
        let size = config
            .read_chunk
            .clamp(*RECV_BUFFER_SIZE.start(), *RECV_BUFFER_SIZE.end());
        RingSizes {
            sq: SQ_ENTRIES,
            cq: CQ_ENTRIES,
            buffers: RECV_BUFFERS,
            buffer_size: size as u32,
            fixed_files: FixedFiles::slots_for(config),
        }
    }
}

/// How the ring runs completion work, best first; the kernel's refusal of one tries the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TaskRun {
    /// `SINGLE_ISSUER | DEFER_TASKRUN` (6.1): completions are produced only inside our
    /// `io_uring_enter(GETEVENTS)`, in one batch, with no interrupts of the loop thread.
    /// Measured within a few % of epoll; without it, 30–40% slower.
    Deferred,
    /// `COOP_TASKRUN` (5.19): completion work waits for the thread's next kernel entry.
    Cooperative,
    /// No flags: completion work interrupts the thread (task work via IPI).
    Plain,
}

impl TaskRun {
    fn name(self) -> &'static str {
        match self {
            TaskRun::Deferred => "SINGLE_ISSUER|DEFER_TASKRUN",
            TaskRun::Cooperative => "COOP_TASKRUN",
            TaskRun::Plain => "no task-run flags",
        }
    }
}

/// How a ring was built: the flags the kernel accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RingSetup {
    pub(super) task_run: TaskRun,
    /// `IORING_SETUP_NO_SQARRAY` (6.6): no SQ index array; SQEs are taken by ring index.
    pub(super) no_sqarray: bool,
}

impl RingSetup {
    /// Every setup worth trying, best first: each [`TaskRun`], with `NO_SQARRAY` first if
    /// `no_sqarray` is asked for.
    fn ladder(no_sqarray: bool) -> impl Iterator<Item = RingSetup> {
        let sqarray_choices: &'static [bool] = if no_sqarray { &[true, false] } else { &[false] };
        [TaskRun::Deferred, TaskRun::Cooperative, TaskRun::Plain]
            .into_iter()
            .flat_map(move |task_run| {
                sqarray_choices.iter().map(move |&no_sqarray| RingSetup {
                    task_run,
                    no_sqarray,
                })
            })
    }

    fn describe(self) -> String {
        let sqarray = if self.no_sqarray { "|NO_SQARRAY" } else { "" };
        format!("{}{sqarray}", self.task_run.name())
    }
}

/// Creates a ring with `sq` submission and `cq` completion entries on the calling thread
/// (with `SINGLE_ISSUER` only this thread may submit to it), trying [`RingSetup::ladder`]
/// best first: the kernel's `EINVAL` for one setup tries the next.
///
/// # Errors
/// The kernel's refusal of the plainest ring; `ErrorKind::Unsupported` when io_uring is
/// missing or disabled (`ENOSYS`, `EPERM` from `kernel.io_uring_disabled`).
pub(super) fn build_ring(sq: u32, cq: u32, no_sqarray: bool) -> io::Result<(IoUring, RingSetup)> {
    let mut last_refusal = None;
    for setup in RingSetup::ladder(no_sqarray) {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(cq);
        match setup.task_run {
            TaskRun::Deferred => builder.setup_single_issuer().setup_defer_taskrun(),
            TaskRun::Cooperative => builder.setup_coop_taskrun(),
            TaskRun::Plain => &mut builder,
        };
        if setup.no_sqarray {
            builder.setup_no_sqarray();
        }
        match builder.build(sq) {
            Ok(ring) => {
                match last_refusal {
                    None => tracing::debug!("io_uring ring with {}", setup.describe()),
                    Some(err) => tracing::info!(
                        "io_uring: kernel refused faster flags ({err}); using {}",
                        setup.describe()
                    ),
                }
                return Ok((ring, setup));
            }
            Err(err) if err.raw_os_error() == Some(libc::EINVAL) => last_refusal = Some(err),
            Err(err) => return Err(unavailable(err)),
        }
    }
    Err(unavailable(last_refusal.unwrap_or_else(|| {
        io::Error::from_raw_os_error(libc::EINVAL)
    })))
}

fn unavailable(err: io::Error) -> io::Error {
    match err.raw_os_error() {
        Some(libc::ENOSYS | libc::EPERM | libc::EINVAL) => io::Error::new(
            io::ErrorKind::Unsupported,
            format!("io_uring is not available: {err}"),
        ),
        _ => err,
    }
}

/// Checks that `ring`'s kernel has every op and feature the driver uses.
///
/// # Errors
/// `ErrorKind::Unsupported`, naming what is missing.
pub(super) fn check_support(ring: &IoUring) -> io::Result<()> {
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(unavailable)?;
    let mut missing: Vec<&str> = [
        (opcode::AcceptMulti::CODE, "ACCEPT"),
        (opcode::RecvMulti::CODE, "RECV"),
        (opcode::SendMsg::CODE, "SENDMSG"),
        (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
        (opcode::Read::CODE, "READ"),
        (opcode::Send::CODE, "SEND"),
        (opcode::AsyncCancel2::CODE, "ASYNC_CANCEL (by fd)"),
        // Multishot recv came in 6.0 with no flag to probe; SEND_ZC came in the same release.
        (
            opcode::SendZc::CODE,
            "SEND_ZC (marks 6.0, for multishot RECV)",
        ),
    ]
    .into_iter()
    .filter(|&(code, _)| !probe.is_supported(code))
    .map(|(_, name)| name)
    .collect();
    if !ring.params().is_feature_ext_arg() {
        missing.push("FEAT_EXT_ARG (timed waits)");
    }
    if !ring.params().is_feature_nodrop() {
        missing.push("FEAT_NODROP (no lost completions)");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("io_uring lacks {}", missing.join(", ")),
        ))
    }
}

/// Whether `ring`'s kernel takes bundle recvs (`IORING_FEAT_RECVSEND_BUNDLE`, 6.10); if not,
/// says so at debug.
pub(super) fn has_recv_bundle(ring: &IoUring) -> bool {
    let has = ring.params().is_feature_recvsend_bundle();
    if !has {
        tracing::debug!("io_uring: no bundle recvs (IORING_FEAT_RECVSEND_BUNDLE) on this kernel");
    }
    has
}

/// Can this kernel run the completion driver? Builds a small ring the way a loop would,
/// checks its ops and registers a one-buffer ring. `Err` says why not.
pub(crate) fn probe() -> Result<(), String> {
    let (ring, _) = build_ring(8, 16, false).map_err(|e| e.to_string())?;
    check_support(&ring).map_err(|e| e.to_string())?;
    let buf_ring =
        BufRing::register(&ring, 1, 4096, 0).map_err(|e| format!("provided-buffer ring: {e}"))?;
    drop(ring); // the ring goes first: it may use the buffer ring until then
    drop(buf_ring);
    Ok(())
}

/// The loop's eventfd: the ring always has a read of it in flight, so a write from any thread
/// completes that read and wakes the loop from `io_uring_enter`.
#[derive(Debug, Clone)]
pub(super) struct EventFd(Arc<OwnedFd>);

impl EventFd {
    pub(super) fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new fd we own.
        let fd = syscall!(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: `fd` was just created and nothing else owns it.
        Ok(EventFd(Arc::new(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    pub(super) fn raw(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }

    /// Clears `O_NONBLOCK`, for a kernel that completes a ring read of a non-blocking eventfd
    /// with `EAGAIN` instead of waiting (the counter never nears overflow, so writes still
    /// never block).
    pub(super) fn set_blocking(&self) -> io::Result<()> {
        // SAFETY: fcntl on an fd we own, with integer arguments only.
        let flags = syscall!(unsafe { libc::fcntl(self.raw(), libc::F_GETFL) })?;
        // SAFETY: as above.
        syscall!(unsafe { libc::fcntl(self.raw(), libc::F_SETFL, flags & !libc::O_NONBLOCK) })?;
        Ok(())
    }
}

impl Wake for EventFd {
    fn wake(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local to an fd this value keeps open.
        match syscall!(unsafe { libc::write(self.raw(), std::ptr::addr_of!(one).cast(), 8) }) {
            Ok(_) => Ok(()), // an eventfd write is all 8 bytes or an error
            // The counter is full: the loop has a wake-up pending anyway.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(err) => Err(err),
        }
    }
}
