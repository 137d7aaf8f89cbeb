//! Creating a loop's ring (with the fastest flags the kernel accepts), checking the kernel
//! offers every op the driver uses, and the eventfd waker.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use io_uring::{opcode, IoUring, Probe};

use super::buf_ring::BufRing;
use crate::mailbox::Wake;

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

/// Creates a ring with `sq` submission and `cq` completion entries on the calling thread
/// (with `SINGLE_ISSUER` only this thread may submit to it), trying [`TaskRun`] best first.
///
/// # Errors
/// The kernel's refusal of the plainest ring; `ErrorKind::Unsupported` when io_uring is
/// missing or disabled (`ENOSYS`, `EPERM` from `kernel.io_uring_disabled`).
pub(super) fn build_ring(sq: u32, cq: u32) -> io::Result<(IoUring, TaskRun)> {
    let mut last_refusal = None;
    for mode in [TaskRun::Deferred, TaskRun::Cooperative, TaskRun::Plain] {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(cq);
        match mode {
            TaskRun::Deferred => builder.setup_single_issuer().setup_defer_taskrun(),
            TaskRun::Cooperative => builder.setup_coop_taskrun(),
            TaskRun::Plain => &mut builder,
        };
        match builder.build(sq) {
            Ok(ring) => {
                match last_refusal {
                    None => tracing::debug!("io_uring ring with {}", mode.name()),
                    Some(err) => tracing::info!(
                        "io_uring: kernel refused faster flags ({err}); using {}",
                        mode.name()
                    ),
                }
                return Ok((ring, mode));
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

/// Can this kernel run the completion driver? Builds a small ring the way a loop would,
/// checks its ops and registers a one-buffer ring. `Err` says why not.
pub(crate) fn probe() -> Result<(), String> {
    let (ring, _) = build_ring(8, 16).map_err(|e| e.to_string())?;
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
