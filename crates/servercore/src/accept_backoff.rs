//! [`AcceptBackoff`]: what a loop does when `accept` fails for lack of file descriptors or
//! memory (or for any other reason than a connection that died in the backlog).

use std::io;
use std::time::{Duration, Instant};

/// First pause after `accept` fails (`EMFILE`/`ENFILE`/`ENOBUFS`/`ENOMEM`, or unexpectedly).
pub const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// Longest pause: the delay doubles from [`FIRST_PAUSE`] up to this.
pub const MAX_PAUSE: Duration = Duration::from_secs(1);

/// The raw `accept` errors of descriptor or buffer exhaustion (`std` gives them no
/// [`io::ErrorKind`] of their own): per process, system-wide, no socket buffers.
#[cfg(unix)]
const EXHAUSTION: [i32; 3] = [libc::EMFILE, libc::ENFILE, libc::ENOBUFS];

/// The raw `accept` errors of descriptor or buffer exhaustion: Winsock's "no more socket
/// descriptors" (`WSAEMFILE`, 10024) and "no buffer space" (`WSAENOBUFS`, 10055).
#[cfg(windows)]
const EXHAUSTION: [i32; 2] = [
    windows_sys::Win32::Networking::WinSock::WSAEMFILE,
    windows_sys::Win32::Networking::WinSock::WSAENOBUFS,
];

/// The raw `accept` errors about one connection that [`io::ErrorKind`] does not name: Linux
/// reports a protocol error of a connection in the backlog as `EPROTO` (the others come as
/// `ConnectionAborted`, `ConnectionReset`, `Interrupted`; Winsock's `WSAECONNRESET` too).
#[cfg(unix)]
const ONE_CONNECTION: [i32; 1] = [libc::EPROTO];

/// The raw `accept` errors about one connection that [`io::ErrorKind`] does not name:
/// `WSAEINTR` (10004), which `std` leaves `Uncategorized` on Windows (`WSAECONNRESET` and
/// `WSAECONNABORTED` have their kinds).
#[cfg(windows)]
const ONE_CONNECTION: [i32; 1] = [windows_sys::Win32::Networking::WinSock::WSAEINTR];

/// Accepting under descriptor exhaustion.
///
/// The connection that could not be accepted stays in the kernel's backlog, so retrying at
/// once would spin (a readiness loop would see the listener readable forever; a multishot
/// accept would fail again at once). Instead the loop stops accepting and resumes when one of
/// its sessions closes (a descriptor came free) or after a pause that doubles from 10 ms to
/// 1 s while the condition lasts. Existing sessions are served normally meanwhile. An
/// unexpected error is handled the same way: it is logged, and retried after the pause rather
/// than in a tight loop.
#[derive(Debug)]
pub(crate) struct AcceptBackoff {
    delay: Duration,
    resume_at: Option<Instant>,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff {
            delay: FIRST_PAUSE,
            resume_at: None,
        }
    }
}

impl AcceptBackoff {
    /// True for the `accept` errors that mean "out of descriptors or memory", as this OS
    /// reports them ([`EXHAUSTION`], or `ENOMEM` / `ERROR_NOT_ENOUGH_MEMORY`, which `std`
    /// reports as [`io::ErrorKind::OutOfMemory`] everywhere).
    pub(crate) fn is_exhaustion(err: &io::Error) -> bool {
        err.kind() == io::ErrorKind::OutOfMemory
            || err
                .raw_os_error()
                .is_some_and(|code| EXHAUSTION.contains(&code))
    }

    /// True for the `accept` errors that concern one connection, not the listener (it died
    /// in the backlog, or the call was interrupted): skip it and accept on.
    pub(crate) fn is_transient(err: &io::Error) -> bool {
        matches!(
            err.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::PermissionDenied
                | io::ErrorKind::Interrupted
        ) || err
            .raw_os_error()
            .is_some_and(|code| ONE_CONNECTION.contains(&code))
    }

    /// `accept` failed at `now`: pause, doubling the previous pause.
    pub(crate) fn pause(&mut self, now: Instant) -> Duration {
        let delay = self.delay;
        self.resume_at = Some(now + delay);
        self.delay = (delay * 2).min(MAX_PAUSE);
        delay
    }

    /// When the pause ends, if paused.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.resume_at
    }

    /// The driver closed a socket: a descriptor is free, so the pause may end now.
    pub(crate) fn descriptor_freed(&mut self, now: Instant) {
        if self.resume_at.is_some() {
            self.resume_at = Some(now);
        }
    }

    /// Ends the pause if it is due; returns true if the driver should accept again now.
    pub(crate) fn resume_due(&mut self, now: Instant) -> bool {
        match self.resume_at {
            Some(at) if now >= at => {
                self.resume_at = None;
                true
            }
            _ => false,
        }
    }

    /// An `accept` succeeded: the next exhaustion starts again from the first pause.
    pub(crate) fn accepted(&mut self) {
        self.delay = FIRST_PAUSE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap_and_reset_after_success() {
        let mut b = AcceptBackoff::default();
        let now = Instant::now();
        let delays: Vec<_> = (0..10).map(|_| b.pause(now)).collect();
        assert_eq!(delays[0], FIRST_PAUSE);
        assert_eq!(delays[1], FIRST_PAUSE * 2);
        assert_eq!(*delays.last().unwrap(), MAX_PAUSE);
        b.accepted();
        assert_eq!(b.pause(now), FIRST_PAUSE);
    }

    #[test]
    fn resumes_at_the_deadline_or_when_a_descriptor_is_freed() {
        let mut b = AcceptBackoff::default();
        let now = Instant::now();
        b.pause(now);
        assert_eq!(b.deadline(), Some(now + FIRST_PAUSE));
        assert!(!b.resume_due(now));
        assert!(b.resume_due(now + FIRST_PAUSE));
        assert_eq!(b.deadline(), None);
        b.pause(now);
        b.descriptor_freed(now);
        assert!(b.resume_due(now));
    }

    /// Raw `accept` errors: (exhaustion, about one connection, neither).
    type Codes = (&'static [i32], &'static [i32], &'static [i32]);

    /// What this OS's `accept` reports.
    #[cfg(unix)]
    fn os_codes() -> Codes {
        (
            &[libc::EMFILE, libc::ENFILE, libc::ENOBUFS],
            &[libc::ECONNABORTED, libc::EPROTO, libc::EINTR],
            &[libc::EINVAL, libc::ECONNABORTED],
        )
    }

    /// What Winsock's `accept` reports (winerror.h).
    #[cfg(windows)]
    fn os_codes() -> Codes {
        use windows_sys::Win32::Networking::WinSock as ws;
        (
            &[ws::WSAEMFILE, ws::WSAENOBUFS],
            &[ws::WSAECONNRESET, ws::WSAECONNABORTED, ws::WSAEINTR],
            &[ws::WSAEINVAL, ws::WSAECONNRESET],
        )
    }

    #[test]
    fn transient_errors_are_one_connections_not_the_listeners() {
        let (exhaustion, transient, _) = os_codes();
        for &code in transient {
            assert!(AcceptBackoff::is_transient(&io::Error::from_raw_os_error(
                code
            )));
        }
        for &code in exhaustion {
            assert!(!AcceptBackoff::is_transient(&io::Error::from_raw_os_error(
                code
            )));
        }
        assert!(!AcceptBackoff::is_transient(&io::Error::from(
            io::ErrorKind::OutOfMemory
        )));
    }

    #[test]
    fn recognises_exhaustion_errors() {
        let (exhaustion, _, neither) = os_codes();
        for &code in exhaustion {
            assert!(AcceptBackoff::is_exhaustion(&io::Error::from_raw_os_error(
                code
            )));
        }
        assert!(AcceptBackoff::is_exhaustion(&io::Error::from(
            io::ErrorKind::OutOfMemory
        )));
        for &code in neither {
            assert!(!AcceptBackoff::is_exhaustion(
                &io::Error::from_raw_os_error(code)
            ));
        }
    }
}
