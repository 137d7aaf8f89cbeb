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
            sockets.push(bind_one(local_addr, backlog)?);
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

fn bind_one(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
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
