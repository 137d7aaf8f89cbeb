//! The loop's I/O completion port: creating it, associating sockets with it (each with its
//! completion key, and `FILE_SKIP_COMPLETION_PORT_ON_SUCCESS`), taking completions off it in
//! batches, and the waker other threads post to it.
//!
//! | lecture (completion port)                           | here                                        |
//! |-----------------------------------------------------|---------------------------------------------|
//! | `CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0)` | [`CompletionPort::new`], one port per loop, concurrency 1 (its one thread) |
//! | `CreateIoCompletionPort(socket, port, key, 0)`      | [`CompletionPort::associate`]: the key is the session's id (or [`LISTENER_KEY`]) |
//! | `SetFileCompletionNotificationModes`                | in [`CompletionPort::associate`]: an operation that completes in its call queues nothing |
//! | `GetQueuedCompletionStatus` (one completion a call) | [`CompletionPort::wait`]: `GetQueuedCompletionStatusEx`, up to [`BATCH`] a call |
//! | `PostQueuedCompletionStatus`                        | [`PortWaker::wake`]: a packet with [`WAKER_KEY`], at most one queued |

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle, RawSocket};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use windows_sys::Win32::Foundation::{HANDLE, INVALID_HANDLE_VALUE, WAIT_TIMEOUT};
use windows_sys::Win32::Networking::WinSock::{
    WSAEnumProtocolsW, IPPROTO_TCP, WSAPROTOCOL_INFOW, XP1_IFS_HANDLES,
};
use windows_sys::Win32::Storage::FileSystem::SetFileCompletionNotificationModes;
use windows_sys::Win32::System::WindowsProgramming::{
    FILE_SKIP_COMPLETION_PORT_ON_SUCCESS, FILE_SKIP_SET_EVENT_ON_HANDLE,
};
use windows_sys::Win32::System::IO::{
    CreateIoCompletionPort, GetQueuedCompletionStatusEx, PostQueuedCompletionStatus,
    OVERLAPPED_ENTRY,
};

use crate::mailbox::Wake;

/// Most completions one `GetQueuedCompletionStatusEx` takes off the port.
pub(super) const BATCH: usize = 256;
/// The completion key of the loop's waker packets (no session id packs to it: its slot would
/// be `u32::MAX` of loop 65,535, as the epoll driver's waker token).
pub(super) const WAKER_KEY: usize = usize::MAX;
/// The completion key of the listening socket (its `AcceptEx` completions).
pub(super) const LISTENER_KEY: usize = usize::MAX - 1;
/// The completion key of a connection another loop accepted and handed to this one
/// ([`PortInbox::hand`]); its `OVERLAPPED` pointer is the boxed connection.
pub(super) const HANDOFF_KEY: usize = usize::MAX - 2;
/// `INFINITE` (`Win32_System_Threading`'s, not otherwise needed): wait without a timeout.
const INFINITE: u32 = u32::MAX;

/// One completion, as `GetQueuedCompletionStatusEx` reported it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Completion {
    /// The key the socket was associated with ([`CompletionPort::associate`]).
    pub(super) key: usize,
    /// The operation's `OVERLAPPED` (null for a posted wake-up). Only compared with the
    /// driver's own records, never read through.
    pub(super) overlapped: usize,
}

/// A loop's completion port. The handle is shared with the loop's [`PortWaker`], so it stays
/// open for as long as another thread may post to it.
pub(super) struct CompletionPort {
    handle: Arc<OwnedHandle>,
    /// Set while a wake-up packet is queued (cleared as it is taken off the port).
    wake_queued: Arc<AtomicBool>,
    /// `GetQueuedCompletionStatusEx`'s output.
    entries: Vec<OVERLAPPED_ENTRY>,
}

impl CompletionPort {
    /// A new port for one thread (`NumberOfConcurrentThreads` 1: the loop's).
    ///
    /// # Errors
    /// `CreateIoCompletionPort` failed (out of memory or handles).
    pub(super) fn new() -> io::Result<CompletionPort> {
        // SAFETY: with INVALID_HANDLE_VALUE and no existing port the call only creates a port;
        // it takes no pointers.
        let raw = unsafe { CreateIoCompletionPort(INVALID_HANDLE_VALUE, ptr::null_mut(), 0, 1) };
        if raw.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new handle that nothing else owns.
        let handle = unsafe { OwnedHandle::from_raw_handle(raw) };
        Ok(CompletionPort {
            handle: Arc::new(handle),
            wake_queued: Arc::new(AtomicBool::new(false)),
            entries: Vec::with_capacity(BATCH),
        })
    }

    fn raw(&self) -> HANDLE {
        self.handle.as_raw_handle()
    }

    /// Associates `socket` with the port under `key`, and asks that an operation completing
    /// in its call queue no completion (`FILE_SKIP_COMPLETION_PORT_ON_SUCCESS`: the caller
    /// handles it there) and leave the socket's own event alone.
    ///
    /// # Errors
    /// `ERROR_INVALID_PARAMETER` if the socket already belongs to a port (a socket joins
    /// one port for its whole life); the error of `SetFileCompletionNotificationModes`.
    pub(super) fn associate(&self, socket: RawSocket, key: usize) -> io::Result<()> {
        let handle = socket as HANDLE;
        // SAFETY: `socket` is an open socket the caller owns; the call takes no pointers.
        if unsafe { CreateIoCompletionPort(handle, self.raw(), key, 0) }.is_null() {
            return Err(io::Error::last_os_error());
        }
        let modes = (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE) as u8;
        // SAFETY: as above.
        if unsafe { SetFileCompletionNotificationModes(handle, modes) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout` (forever if `None`) for completions and puts the ones taken off
    /// the port, up to [`BATCH`], in `out`; none if the wait timed out. Wake-up packets are
    /// taken too: they only end the wait, and are reported with [`WAKER_KEY`].
    ///
    /// # Errors
    /// `GetQueuedCompletionStatusEx` failed for another reason than the timeout.
    pub(super) fn wait(
        &mut self,
        timeout: Option<Duration>,
        out: &mut Vec<Completion>,
    ) -> io::Result<()> {
        self.entries.clear();
        let mut taken = 0u32;
        // SAFETY: the output array has room for `BATCH` entries (its capacity), and
        // `taken` is a live local; the port is open while `self` lives.
        let ok = unsafe {
            GetQueuedCompletionStatusEx(
                self.raw(),
                self.entries.as_mut_ptr(),
                BATCH as u32,
                &mut taken,
                millis(timeout),
                0,
            )
        };
        if ok == 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(WAIT_TIMEOUT as i32) {
                return Err(err);
            }
            taken = 0;
        }
        // SAFETY: the call wrote `taken` (at most `BATCH`) entries at the front.
        unsafe { self.entries.set_len((taken as usize).min(BATCH)) };
        for entry in &self.entries {
            if entry.lpCompletionKey == WAKER_KEY {
                self.wake_queued.store(false, Ordering::Release);
            }
            out.push(Completion {
                key: entry.lpCompletionKey,
                overlapped: entry.lpOverlapped as usize,
            });
        }
        Ok(())
    }

    /// Queues a completion as a finished operation would (`PostQueuedCompletionStatus`), to
    /// test what the driver does with one that names nothing of its own.
    #[cfg(test)]
    pub(super) fn post(&self, key: usize, overlapped: usize) -> io::Result<()> {
        // SAFETY: the port is open while `self` lives; a posted packet's OVERLAPPED pointer is
        // only carried to the waiting thread, never read through by the kernel.
        let ok = unsafe { PostQueuedCompletionStatus(self.raw(), 0, key, overlapped as *const _) };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// What other loops hand connections to this one through (`share.rs`).
    pub(super) fn inbox(&self) -> PortInbox {
        PortInbox {
            port: self.handle.clone(),
        }
    }

    /// The waker other threads hand work to this loop with.
    pub(super) fn waker(&self) -> PortWaker {
        PortWaker {
            port: self.handle.clone(),
            wake_queued: self.wake_queued.clone(),
        }
    }
}

impl std::fmt::Debug for CompletionPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompletionPort")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

/// A wait's timeout in milliseconds, rounded up (a sub-millisecond deadline must not turn
/// into a busy poll), `INFINITE` for none.
fn millis(timeout: Option<Duration>) -> u32 {
    match timeout {
        None => INFINITE,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            u32::try_from(ms).unwrap_or(INFINITE - 1).min(INFINITE - 1)
        }
    }
}

/// Wakes a loop blocked in `GetQueuedCompletionStatusEx`: the lecture's
/// `PostQueuedCompletionStatus`. At most one packet is queued at a time (the mailbox also
/// wakes only when its inbox was empty), so a loop that is slow to wait never collects them.
#[derive(Debug)]
pub(super) struct PortWaker {
    port: Arc<OwnedHandle>,
    wake_queued: Arc<AtomicBool>,
}

impl Wake for PortWaker {
    fn wake(&self) -> io::Result<()> {
        if self.wake_queued.swap(true, Ordering::AcqRel) {
            return Ok(()); // one is queued already: the loop will wake
        }
        // SAFETY: the port handle is kept open by the `Arc`; no OVERLAPPED is passed.
        let ok = unsafe {
            PostQueuedCompletionStatus(self.port.as_raw_handle(), 0, WAKER_KEY, ptr::null())
        };
        if ok == 0 {
            self.wake_queued.store(false, Ordering::Release);
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// A connection handed from the loop that accepted it to another (`share.rs`): boxed, and
/// carried by a posted completion in place of an `OVERLAPPED` pointer.
#[derive(Debug)]
struct Handoff {
    stream: TcpStream,
    peer: SocketAddr,
}

/// A loop's port as other loops see it: where a connection accepted for this loop is posted.
#[derive(Debug, Clone)]
pub(super) struct PortInbox {
    port: Arc<OwnedHandle>,
}

impl PortInbox {
    /// Posts `stream` to the port, to come out of its loop's next wait as a completion keyed
    /// [`HANDOFF_KEY`] ([`take_handoff`]). Gives it back if the post failed.
    pub(super) fn hand(&self, stream: TcpStream, peer: SocketAddr) -> Result<(), TcpStream> {
        let packet = Box::into_raw(Box::new(Handoff { stream, peer }));
        // SAFETY: the port handle is kept open by the `Arc`. The pointer is not an OVERLAPPED:
        // the kernel only carries a posted packet's pointer to the waiting thread, never
        // reads through it; the receiving loop turns it back into the box (`take_handoff`).
        let ok = unsafe {
            PostQueuedCompletionStatus(self.port.as_raw_handle(), 0, HANDOFF_KEY, packet.cast())
        };
        if ok == 0 {
            // SAFETY: the post failed, so the packet was not queued: the box is still ours.
            let packet = unsafe { Box::from_raw(packet) };
            return Err(packet.stream);
        }
        Ok(())
    }
}

/// The connection a completion keyed [`HANDOFF_KEY`] carries.
///
/// # Safety
/// `overlapped` is the pointer of a completion keyed [`HANDOFF_KEY`] taken off a port (so
/// posted by [`PortInbox::hand`]), and is taken only once.
pub(super) unsafe fn take_handoff(overlapped: usize) -> (TcpStream, SocketAddr) {
    // SAFETY: the caller's contract: `hand` made the pointer with `Box::into_raw` and nothing
    // else has turned it back.
    let packet = unsafe { Box::from_raw(overlapped as *mut Handoff) };
    (packet.stream, packet.peer)
}

/// Can the completion driver run here? It needs every TCP provider of the Winsock catalog to
/// hand out real kernel handles (`XP1_IFS_HANDLES`): with a non-IFS layered provider (an old
/// LSP) installed, `FILE_SKIP_COMPLETION_PORT_ON_SUCCESS` is not honoured and an operation
/// that completes in its call would be reported twice (Microsoft's KB 2568167). Also makes a
/// port and associates a socket with it as the driver will. `Err` says why not.
pub(crate) fn probe() -> Result<(), String> {
    let port = CompletionPort::new().map_err(|e| format!("CreateIoCompletionPort: {e}"))?;
    // Also starts Winsock (socket2 does, as std does), which the catalog query needs.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .map_err(|e| format!("socket: {e}"))?;
    use std::os::windows::io::AsRawSocket;
    port.associate(socket.as_raw_socket(), 0)
        .map_err(|e| format!("associating a socket with a completion port: {e}"))?;
    match tcp_providers()? {
        providers
            if providers
                .iter()
                .all(|p| p.dwServiceFlags1 & XP1_IFS_HANDLES != 0) =>
        {
            Ok(())
        }
        _ => Err(
            "a non-IFS Winsock provider (LSP) is installed for TCP, under which \
                  FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is unsafe"
                .to_owned(),
        ),
    }
}

/// The Winsock catalog's entries for TCP (`WSAEnumProtocolsW`).
fn tcp_providers() -> Result<Vec<WSAPROTOCOL_INFOW>, String> {
    let protocols = [IPPROTO_TCP, 0];
    let mut bytes = 0u32;
    // SAFETY: a null buffer with length 0 only asks for the size needed (WSAENOBUFS).
    unsafe { WSAEnumProtocolsW(protocols.as_ptr(), ptr::null_mut(), &mut bytes) };
    let count = bytes as usize / std::mem::size_of::<WSAPROTOCOL_INFOW>() + 1;
    let mut infos = vec![WSAPROTOCOL_INFOW::default(); count];
    let mut bytes = (count * std::mem::size_of::<WSAPROTOCOL_INFOW>()) as u32;
    // SAFETY: `infos` holds `bytes` bytes of entries; the call writes at most that many.
    let found = unsafe { WSAEnumProtocolsW(protocols.as_ptr(), infos.as_mut_ptr(), &mut bytes) };
    let found = usize::try_from(found)
        .map_err(|_| format!("WSAEnumProtocolsW: {}", io::Error::last_os_error()))?;
    infos.truncate(found);
    Ok(infos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(millis(None), INFINITE);
        assert_eq!(millis(Some(Duration::ZERO)), 0);
        assert_eq!(millis(Some(Duration::from_micros(1))), 1);
        assert_eq!(millis(Some(Duration::from_millis(20))), 20);
        assert_eq!(millis(Some(Duration::from_secs(u64::MAX))), INFINITE - 1);
    }

    #[test]
    fn wake_ups_are_coalesced_and_end_a_wait() {
        let mut port = CompletionPort::new().unwrap();
        let waker = port.waker();
        for _ in 0..100 {
            waker.wake().unwrap();
        }
        let mut taken = Vec::new();
        port.wait(Some(Duration::from_secs(5)), &mut taken).unwrap();
        assert_eq!(taken.len(), 1, "one packet for many wakes");
        assert_eq!(taken[0].key, WAKER_KEY);
        taken.clear();
        port.wait(Some(Duration::ZERO), &mut taken).unwrap();
        assert!(taken.is_empty());
        waker.wake().unwrap();
        port.wait(Some(Duration::from_secs(5)), &mut taken).unwrap();
        assert_eq!(taken.len(), 1, "again");
    }

    #[test]
    fn the_probe_passes_here() {
        assert_eq!(probe(), Ok(()));
    }
}
