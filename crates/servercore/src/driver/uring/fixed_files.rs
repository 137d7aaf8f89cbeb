//! [`FixedFiles`]: the ring's sparse table of direct descriptors — the `fixed-files` lever.
//!
//! An SQE that names a plain fd makes the kernel look the fd up and take a reference to its
//! file (`fget`) when the op is issued, and drop it (`fput`) when it completes: for every
//! recv re-arm, send and cancel. A socket installed in the ring's fixed-file table is named
//! by its slot (`types::Fixed`, `IOSQE_FIXED_FILE`) instead: the table holds one reference
//! for as long as the socket is installed.
//!
//! The session layer still needs a real fd (peer address, `setsockopt`, `shutdown`), so a
//! connection keeps its fd and *also* gets a slot:
//! - the table is registered sparse (all slots empty) when the ring is built, with
//!   `min(max_sessions, RLIMIT_NOFILE soft limit, 2^20)` slots per loop (the kernel refuses a
//!   table above the open-files limit, and 2^20 is its own cap). Each loop gets the whole
//!   `max_sessions`, since sessions need not spread evenly; a slot costs the kernel 8 bytes;
//! - a connection's socket is installed when it is registered, with a synchronous
//!   `IORING_REGISTER_FILES_UPDATE`: one extra syscall per session (not per op), and the slot
//!   is valid before the first SQE naming it is even queued. (An `IORING_OP_FILES_UPDATE`
//!   SQE would save that syscall, but the recv queued behind it in the same submission would
//!   have to be linked to it to be sure to see the slot filled, and its failure would reach
//!   the driver only as a CQE, after the recv had failed with `EBADF`);
//! - when the table is full (or the update is refused), the connection simply goes on with
//!   its plain fd: counted in `DriverCounters::fixed_table_full`;
//! - the slot is cleared (updated to -1) when the connection record is freed — after the
//!   last CQE naming it (the ownership rule: a slot is part of what an SQE names) and before
//!   its fd is closed. Until the clear, the table's reference keeps the socket open (no FIN,
//!   no RST), so the clear is what lets the close reach the peer. A slot is reused only
//!   after its clear.
//!
//! Winsock has nothing like it: every overlapped call names its `SOCKET` handle, which the
//! kernel looks up each time.

use std::os::fd::RawFd;

use io_uring::IoUring;

use crate::ServiceConfig;

/// The kernel's cap on a fixed-file table (`IORING_MAX_FIXED_FILES`).
const KERNEL_MAX_SLOTS: u64 = 1 << 20;

/// The loop's fixed-file table: which slots are free. Empty (inactive) when the lever is off
/// or the kernel refused the table.
#[derive(Debug, Default)]
pub(super) struct FixedFiles {
    /// Slots not holding a socket, last-cleared first.
    free: Vec<u32>,
    active: bool,
}

impl FixedFiles {
    /// Slots a loop's table gets for `config`: `max_sessions`, at most the soft limit on open
    /// files and the kernel's cap.
    pub(super) fn slots_for(config: &ServiceConfig) -> u32 {
        let nofile = open_files_limit().unwrap_or(KERNEL_MAX_SLOTS);
        let slots = (config.max_sessions as u64)
            .min(nofile)
            .min(KERNEL_MAX_SLOTS);
        slots as u32
    }

    /// Registers a sparse table of `slots` on `ring` (none if 0). A refusal is logged at
    /// debug and leaves the table inactive: every socket then goes by its fd.
    pub(super) fn register(ring: &IoUring, slots: u32) -> FixedFiles {
        if slots == 0 {
            return FixedFiles::default();
        }
        match ring.submitter().register_files_sparse(slots) {
            Ok(()) => FixedFiles {
                free: (0..slots).rev().collect(),
                active: true,
            },
            Err(err) => {
                tracing::debug!("io_uring: no fixed-file table of {slots} slots ({err})");
                FixedFiles::default()
            }
        }
    }

    /// Whether the table is registered (the lever took).
    pub(super) fn is_active(&self) -> bool {
        self.active
    }

    /// Installs `fd` in a free slot and returns it; `None` when the table is inactive, full,
    /// or the kernel refused the update (the socket then goes by its fd).
    pub(super) fn install(&mut self, ring: &IoUring, fd: RawFd) -> Option<u32> {
        let slot = self.free.pop()?;
        match ring.submitter().register_files_update(slot, &[fd]) {
            Ok(1) => Some(slot),
            outcome => {
                tracing::debug!(slot, ?outcome, "io_uring: installing a fixed file failed");
                self.free.push(slot);
                None
            }
        }
    }

    /// Empties `slot` (dropping the table's reference to its socket) and frees it for reuse.
    /// Only once no SQE naming `slot` is in flight (the ownership rule).
    pub(super) fn clear(&mut self, ring: &IoUring, slot: u32) {
        if let Err(err) = ring.submitter().register_files_update(slot, &[-1]) {
            // The socket stays open until the slot is next filled (an update replaces).
            tracing::error!(slot, "io_uring: clearing a fixed file: {err}");
        }
        self.free.push(slot);
    }

    /// Free slots left (for tests).
    #[cfg(test)]
    pub(super) fn free_slots(&self) -> usize {
        self.free.len()
    }
}

/// The soft `RLIMIT_NOFILE`, if it can be read and is finite.
fn open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit`, which `limit` is.
    syscall!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }).ok()?;
    (limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_size_follows_max_sessions_and_the_open_files_limit() {
        let config = ServiceConfig {
            max_sessions: 7,
            ..ServiceConfig::default()
        };
        assert_eq!(FixedFiles::slots_for(&config), 7);
        let config = ServiceConfig {
            max_sessions: usize::MAX,
            ..ServiceConfig::default()
        };
        let slots = u64::from(FixedFiles::slots_for(&config));
        assert!(slots <= KERNEL_MAX_SLOTS);
        if let Some(nofile) = open_files_limit() {
            assert!(slots <= nofile, "{slots} slots over the limit {nofile}");
        }
    }
}
