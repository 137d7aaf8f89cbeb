//! [`Listener`]: the listening sockets of a service, one per event loop.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// The listening side of a service: one non-blocking socket per event loop, all bound to the
/// same address with `SO_REUSEPORT`, so the kernel spreads incoming connections over the loops
/// and no loop hands sockets to another.
///
/// | lecture (Winsock)                         | here (Linux)                                   |
/// |-------------------------------------------|------------------------------------------------|
/// | `socket(AF_INET, SOCK_STREAM, 0)`         | `socket(…, SOCK_STREAM \| SOCK_NONBLOCK \| SOCK_CLOEXEC)` |
/// | `ioctlsocket(FIONBIO)`                    | `SOCK_NONBLOCK` at creation                    |
/// | `bind` + `listen(SOMAXCONN)`              | `SO_REUSEADDR`, `SO_REUSEPORT`, `bind`, `listen(backlog)` |
///
/// On macOS and Windows the loops share one listening socket instead ([`join`]).
#[derive(Debug)]
pub(crate) struct Listener {
    sockets: Vec<TcpListener>,
    local_addr: SocketAddr,
}

impl Listener {
    /// Binds `count` sockets to `addr`. With port 0 the first socket picks a free port and the
    /// others join it.
    ///
    /// # Errors
    /// Any error of `socket`, `setsockopt`, `bind` or `listen` (e.g. `AddrInUse`).
    pub(crate) fn bind(addr: SocketAddr, count: usize, backlog: i32) -> io::Result<Listener> {
        let first = bind_one(addr, backlog)?;
        let local_addr = first.local_addr()?;
        let mut sockets = vec![first];
        for _ in 1..count.max(1) {
            sockets.push(join(&sockets[0], backlog)?);
        }
        Ok(Listener {
            sockets,
            local_addr,
        })
    }

    /// The bound address (with the port the kernel picked, if port 0 was asked for).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Splits into one socket per loop.
    pub(crate) fn into_sockets(self) -> Vec<TcpListener> {
        self.sockets
    }
}

/// Another loop's socket on `first`'s port: its own socket, with `SO_REUSEPORT`, so the
/// kernel spreads incoming connections over the loops.
#[cfg(target_os = "linux")]
fn join(first: &TcpListener, backlog: i32) -> io::Result<TcpListener> {
    bind_one(first.local_addr()?, backlog)
}

/// Another loop's socket on `first`'s port: `first` itself, shared (`dup`,
/// `WSADuplicateSocket`). Windows has no `SO_REUSEPORT`, and macOS' only lets a second socket
/// bind, it does not spread connections (FreeBSD added `SO_REUSEPORT_LB` for that); so every
/// loop accepts from the one socket, and a connection goes to whichever accept comes first.
#[cfg(not(target_os = "linux"))]
fn join(first: &TcpListener, _backlog: i32) -> io::Result<TcpListener> {
    first.try_clone()
}

fn bind_one(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    // Non-blocking from creation on Linux; elsewhere `Socket::new` sets close-on-exec
    // (no-inherit on Windows) and `set_nonblocking` (`ioctlsocket(FIONBIO)`) follows.
    #[cfg(target_os = "linux")]
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    #[cfg(not(target_os = "linux"))]
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(not(target_os = "linux"))]
    socket.set_nonblocking(true)?;
    // Winsock's SO_REUSEADDR would let another socket take over a bound port (mio and std
    // leave it off there too); it is not needed to rebind while connections are in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    #[cfg(target_os = "linux")]
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_one_port_per_loop() {
        let l = Listener::bind("127.0.0.1:0".parse().unwrap(), 3, 128).unwrap();
        let port = l.local_addr().port();
        assert_ne!(port, 0);
        let sockets = l.into_sockets();
        assert_eq!(sockets.len(), 3);
        for s in &sockets {
            assert_eq!(s.local_addr().unwrap().port(), port);
        }
    }
}
