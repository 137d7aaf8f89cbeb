//! The overlapped operations: each owns its `OVERLAPPED` and the memory the kernel reads or
//! writes (the lecture's `WSAOVERLAPPED` next to `recvBuffer`), boxed so neither moves while
//! the operation is pending. Starting one is `unsafe`: from a `Pending` start until its
//! completion has been taken off the port, the record must stay alive and untouched (the
//! ownership rule of [`super`]).
//!
//! | lecture                                   | here                                             |
//! |-------------------------------------------|--------------------------------------------------|
//! | `WSARecv(s, &wsaBuf, 1, &len, &flags, &overlapped, nullptr)` | [`RecvOp::start`]: one `WSABUF` over the op's own buffer |
//! | `WSASend` with a `WSABUF` array           | [`SendOp::start`]: up to [`MAX_IOVECS`] buffers taken out of the session's queue |
//! | `AcceptEx` (`MSWSock.h`)                  | [`AcceptOp::start`]: into a socket made beforehand, no data, room for both addresses |
//! | `WSA_IO_PENDING`                          | [`Started::Pending`]                              |
//! | success in the call (`FILE_SKIP_COMPLETION_PORT_ON_SUCCESS`) | [`Started::Now`]: handled by the caller; no completion follows |
//! | `WSAGetOverlappedResult(s, &overlapped, &bytes, FALSE, &flags)` | [`overlapped_result`] |

use std::io;
use std::os::windows::io::{AsRawSocket, RawSocket};
use std::ptr;

use bytes::Bytes;
use windows_sys::Win32::Networking::WinSock::{
    AcceptEx, WSAGetLastError, WSAGetOverlappedResult, WSARecv, WSASend, SOCKADDR_STORAGE, SOCKET,
    SOCKET_ERROR, WSABUF, WSA_IO_PENDING,
};
use windows_sys::Win32::System::IO::OVERLAPPED;

use crate::session::{SendQueue, MAX_IOVECS};

/// How an overlapped call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Started {
    /// It completed in the call with this many bytes; with
    /// `FILE_SKIP_COMPLETION_PORT_ON_SUCCESS` no completion will be queued for it.
    Now(u32),
    /// `WSA_IO_PENDING`: its completion will come through the port. The kernel owns the
    /// operation's memory until then.
    Pending,
}

/// Reads the result of a winsock call that takes an `OVERLAPPED` (`ok`: it returned
/// success, having moved `bytes`).
fn started(ok: bool, bytes: u32) -> io::Result<Started> {
    if ok {
        return Ok(Started::Now(bytes));
    }
    // SAFETY: reads this thread's last Winsock error; no arguments.
    match unsafe { WSAGetLastError() } {
        WSA_IO_PENDING => Ok(Started::Pending),
        code => Err(io::Error::from_raw_os_error(code)),
    }
}

/// The lecture's `WSAGetOverlappedResult`: bytes moved by the completed operation behind
/// `overlapped` on `socket`, or its error (as a Winsock error, e.g. `WSAECONNRESET`, or
/// `WSA_OPERATION_ABORTED` for a cancelled one).
fn overlapped_result(socket: RawSocket, overlapped: &OVERLAPPED) -> io::Result<u32> {
    let mut bytes = 0u32;
    let mut flags = 0u32;
    // SAFETY: the operation has completed (its completion was taken off the port), so the
    // call only reads the OVERLAPPED, which is borrowed; `fWait` FALSE never blocks.
    let ok =
        unsafe { WSAGetOverlappedResult(socket as SOCKET, overlapped, &mut bytes, 0, &mut flags) };
    if ok == 0 {
        // SAFETY: as in `started`.
        return Err(io::Error::from_raw_os_error(unsafe { WSAGetLastError() }));
    }
    Ok(bytes)
}

/// A zeroed `OVERLAPPED`, as every new operation must start with.
fn fresh() -> OVERLAPPED {
    OVERLAPPED::default()
}

/// A session's receive: its `OVERLAPPED` and its buffer (the lecture's `recvBuffer`), lent
/// to the kernel while a `WSARecv` is pending and to the session layer after it completed.
pub(super) struct RecvOp {
    overlapped: OVERLAPPED,
    buf: Box<[u8]>,
}

impl std::fmt::Debug for RecvOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecvOp({}-byte buffer)", self.buf.len())
    }
}

impl RecvOp {
    /// A receive with a buffer of `size` bytes.
    pub(super) fn new(size: usize) -> Box<RecvOp> {
        Box::new(RecvOp {
            overlapped: fresh(),
            buf: vec![0; size].into_boxed_slice(),
        })
    }

    /// True if a completion names this operation.
    pub(super) fn is(&self, overlapped: usize) -> bool {
        ptr::addr_of!(self.overlapped) as usize == overlapped
    }

    /// `WSARecv` into the whole buffer.
    ///
    /// # Safety
    /// `socket` is associated with the driver's port. If this returns [`Started::Pending`],
    /// `self` must not be moved, dropped or touched until its completion has been taken off
    /// the port (the ownership rule).
    pub(super) unsafe fn start(&mut self, socket: RawSocket) -> io::Result<Started> {
        self.overlapped = fresh();
        let wsabuf = WSABUF {
            len: u32::try_from(self.buf.len()).unwrap_or(u32::MAX),
            buf: self.buf.as_mut_ptr(),
        };
        let mut bytes = 0u32;
        let mut flags = 0u32;
        // SAFETY: the WSABUF array is read during the call only; the buffer and OVERLAPPED it
        // names live in `self`, which the caller keeps in place until the completion.
        let ret = unsafe {
            WSARecv(
                socket as SOCKET,
                &wsabuf,
                1,
                &mut bytes,
                &mut flags,
                &mut self.overlapped,
                None,
            )
        };
        started(ret != SOCKET_ERROR, bytes)
    }

    /// The completed receive's byte count (0: the peer's EOF) or error.
    pub(super) fn result(&self, socket: RawSocket) -> io::Result<u32> {
        overlapped_result(socket, &self.overlapped)
    }

    /// The first `len` bytes received.
    pub(super) fn filled(&self, len: u32) -> &[u8] {
        &self.buf[..(len as usize).min(self.buf.len())]
    }
}

/// One `WSASend`'s memory: the buffers taken from the session's queue, the `WSABUF` array
/// pointing into them, and the `OVERLAPPED`. Boxed (the array is fixed, not a `Vec`) so
/// nothing the kernel holds moves until the completion.
pub(super) struct SendOp {
    overlapped: OVERLAPPED,
    bufs: Vec<Bytes>,
    wsabufs: [WSABUF; MAX_IOVECS],
}

impl std::fmt::Debug for SendOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let taken: usize = self.bufs.iter().map(Bytes::len).sum();
        write!(f, "SendOp({} buffers, {taken} bytes)", self.bufs.len())
    }
}

impl SendOp {
    pub(super) fn new() -> Box<SendOp> {
        Box::new(SendOp {
            overlapped: fresh(),
            bufs: Vec::with_capacity(MAX_IOVECS),
            wsabufs: [WSABUF {
                len: 0,
                buf: ptr::null_mut(),
            }; MAX_IOVECS],
        })
    }

    /// True if a completion names this operation.
    pub(super) fn is(&self, overlapped: usize) -> bool {
        ptr::addr_of!(self.overlapped) as usize == overlapped
    }

    /// Takes up to [`MAX_IOVECS`] buffers and `max_bytes` off the front of `queue` and
    /// `WSASend`s them.
    ///
    /// # Safety
    /// As [`RecvOp::start`]: a pending send's record stays in place, untouched, until its
    /// completion.
    pub(super) unsafe fn start(
        &mut self,
        socket: RawSocket,
        queue: &mut SendQueue,
        max_bytes: usize,
    ) -> io::Result<Started> {
        debug_assert!(
            self.bufs.is_empty(),
            "a send record is reused only once cleared"
        );
        queue.take_front(MAX_IOVECS, max_bytes, &mut self.bufs);
        for (wsabuf, buf) in self.wsabufs.iter_mut().zip(&self.bufs) {
            // The kernel only reads through `buf` (a send); `*mut` is the C type's.
            *wsabuf = WSABUF {
                len: u32::try_from(buf.len()).unwrap_or(u32::MAX),
                buf: buf.as_ptr().cast_mut(),
            };
        }
        self.overlapped = fresh();
        let mut bytes = 0u32;
        // SAFETY: the WSABUF array, the buffers it points into and the OVERLAPPED live in
        // `self`, which the caller keeps in place until the completion (ownership rule).
        let ret = unsafe {
            WSASend(
                socket as SOCKET,
                self.wsabufs.as_ptr(),
                self.bufs.len() as u32,
                &mut bytes,
                0,
                &mut self.overlapped,
                None,
            )
        };
        started(ret != SOCKET_ERROR, bytes)
    }

    /// The completed send's byte count or error.
    pub(super) fn result(&self, socket: RawSocket) -> io::Result<u32> {
        overlapped_result(socket, &self.overlapped)
    }

    /// The kernel took `n` bytes: what it did not take goes back to the front of `queue`.
    pub(super) fn complete(&mut self, n: usize, queue: &mut SendQueue) {
        queue.give_back(n, &mut self.bufs);
    }

    /// Drops the buffers (the session is gone, or the send failed) so the record can be
    /// reused.
    pub(super) fn clear(&mut self) {
        self.bufs.clear();
    }
}

/// Room `AcceptEx` needs for one address: the largest address plus 16 bytes.
const ADDRESS_ROOM: usize = std::mem::size_of::<SOCKADDR_STORAGE>() + 16;

/// One `AcceptEx`: the socket it accepts into (made beforehand: `AcceptEx` does not create
/// one), the buffer it writes the two addresses to, and the `OVERLAPPED`.
pub(super) struct AcceptOp {
    overlapped: OVERLAPPED,
    /// The socket a connection is accepted into; `None` between a completion and the next
    /// start.
    pub(super) socket: Option<socket2::Socket>,
    addresses: [u8; 2 * ADDRESS_ROOM],
}

impl std::fmt::Debug for AcceptOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptOp")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl AcceptOp {
    pub(super) fn new() -> Box<AcceptOp> {
        Box::new(AcceptOp {
            overlapped: fresh(),
            socket: None,
            addresses: [0; 2 * ADDRESS_ROOM],
        })
    }

    /// True if a completion names this operation.
    pub(super) fn is(&self, overlapped: usize) -> bool {
        ptr::addr_of!(self.overlapped) as usize == overlapped
    }

    /// The `OVERLAPPED` that names this op (for `CancelIoEx`).
    pub(super) fn overlapped_ptr(&self) -> *const OVERLAPPED {
        ptr::addr_of!(self.overlapped)
    }

    /// `AcceptEx` on `listener` into `socket` (which this op keeps), receiving no data.
    ///
    /// # Safety
    /// As [`RecvOp::start`]: a pending accept's record stays in place, untouched, until its
    /// completion; `listener` is associated with the driver's port.
    pub(super) unsafe fn start(
        &mut self,
        listener: RawSocket,
        socket: socket2::Socket,
    ) -> io::Result<Started> {
        let accept_into = socket.as_raw_socket();
        self.socket = Some(socket);
        self.overlapped = fresh();
        let mut bytes = 0u32;
        // SAFETY: the address buffer and the OVERLAPPED live in `self`, which the caller keeps
        // in place until the completion; the accepted-into socket is held by `self.socket`.
        let ok = unsafe {
            AcceptEx(
                listener as SOCKET,
                accept_into as SOCKET,
                self.addresses.as_mut_ptr().cast(),
                0,
                ADDRESS_ROOM as u32,
                ADDRESS_ROOM as u32,
                &mut bytes,
                &mut self.overlapped,
            )
        };
        started(ok != 0, bytes)
    }

    /// The completed accept's result (its byte count is always 0: no data is received).
    pub(super) fn result(&self, listener: RawSocket) -> io::Result<u32> {
        overlapped_result(listener, &self.overlapped)
    }
}
