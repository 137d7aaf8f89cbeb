//! `recv` and `send` on a session's socket, the two calls every echoed message makes.
//!
//! On Linux they are raw system calls (`rustix`: the `syscall` instruction inline), not
//! glibc's `recv`/`send`. Those are POSIX cancellation points: in a process with more than
//! one thread each call brackets the system call with `__pthread_enable_asynccancel` and
//! `__pthread_disable_asynccancel`, two atomic read-modify-writes apiece: ~150 of the ~1,400
//! instructions an echoed message cost in user space, and the dearest ones. The loop never
//! cancels threads, so it has no use for them. Elsewhere `std` makes the calls.
//!
//! | lecture (Winsock)            | here                                             |
//! |------------------------------|--------------------------------------------------|
//! | `recv(s, buf, len, 0)`       | `recvfrom(fd, buf, len, 0, NULL, NULL)`          |
//! | `send(s, buf, len, 0)`       | `sendto(fd, buf, len, MSG_NOSIGNAL, NULL, 0)`: a peer that reset gives `EPIPE`, never `SIGPIPE` |
//! | `WSASend` completing at once (`FILE_SKIP_COMPLETION_PORT_ON_SUCCESS`) | `sendto(fd, buf, len, MSG_NOSIGNAL \| MSG_DONTWAIT, NULL, 0)` on an io_uring socket with no send in flight |

use std::io;

use mio::net::TcpStream;

/// Reads into `buf`: the byte count, `0` at the peer's EOF.
#[cfg(target_os = "linux")]
pub(crate) fn recv(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    rustix::net::recv(stream, buf, rustix::net::RecvFlags::empty())
        .map(|(read, _)| read)
        .map_err(io::Error::from)
}

/// Writes from `buf`: the byte count the kernel took.
#[cfg(target_os = "linux")]
pub(crate) fn send(stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    rustix::net::send(stream, buf, rustix::net::SendFlags::NOSIGNAL).map_err(io::Error::from)
}

/// Writes from `buf` without blocking, whatever the socket's mode (io_uring's sockets are
/// blocking ones): the byte count the kernel took, or `WouldBlock` if it has no room.
#[cfg(target_os = "linux")]
pub(crate) fn send_nonblocking(fd: std::os::fd::BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    use rustix::net::SendFlags;
    rustix::net::send(fd, buf, SendFlags::NOSIGNAL | SendFlags::DONTWAIT).map_err(io::Error::from)
}

/// Reads into `buf`: the byte count, `0` at the peer's EOF.
#[cfg(not(target_os = "linux"))]
pub(crate) fn recv(mut stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    io::Read::read(&mut stream, buf)
}

/// Writes from `buf`: the byte count the kernel took.
#[cfg(not(target_os = "linux"))]
pub(crate) fn send(mut stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    io::Write::write(&mut stream, buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connected pair: the accepted end as mio's stream, the other as std's.
    fn pair() -> (TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        (TcpStream::from_std(accepted), client)
    }

    #[test]
    fn bytes_go_both_ways_and_eof_reads_zero() {
        let (server, mut client) = pair();
        io::Write::write_all(&mut client, b"hello").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(recv(&server, &mut buf).unwrap(), 5); // blocking socket: waits for it
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(send(&server, b"world").unwrap(), 5);
        let mut back = [0u8; 5];
        io::Read::read_exact(&mut client, &mut back).unwrap();
        assert_eq!(&back, b"world");
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(recv(&server, &mut buf).unwrap(), 0);
    }

    #[test]
    fn a_nonblocking_socket_with_nothing_to_read_would_block() {
        let (server, _client) = pair();
        socket2::SockRef::from(&server)
            .set_nonblocking(true)
            .unwrap();
        let err = recv(&server, &mut [0u8; 16]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn sending_to_a_peer_that_reset_fails_with_an_error() {
        let (server, client) = pair();
        socket2::SockRef::from(&client)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        // Closed with a zero linger: a reset. What follows is an error, never a signal
        // (MSG_NOSIGNAL); loopback delivers the reset at once, the retries only spare the test
        // an assumption about it.
        drop(client);
        let failed = (0..100).find_map(|_| send(&server, b"x").err());
        let kind = failed.expect("a send after the reset fails").kind();
        assert!(
            matches!(
                kind,
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{kind:?}"
        );
    }
}
