//! [`Listener`]: the listening sockets of a service, one per event loop.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// The listening side of a service: one non-blocking socket per event loop, all bound to the
/// same address with `SO_REUSEPORT`, so the kernel spreads incoming connections over the loops
/// and no loop hands sockets to another.
///
/// `SO_REUSEPORT` would also let *another process* of the same user join the port without a
/// word (an old server still running when a new one starts: the kernel then splits the
/// connections between them). So the port is never shared silently: the first socket binds
/// and listens *without* it, which fails with `AddrInUse` if anyone else listens on the port,
/// and only then turns it on for this service's other loops to join (see [`Sharing`]).
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
    /// Any error of `socket`, `setsockopt`, `bind` or `listen`. With [`Sharing::Exclusive`], a
    /// port another process listens on is `AddrInUse` with a message naming the port.
    pub(crate) fn bind(
        addr: SocketAddr,
        count: usize,
        backlog: i32,
        sharing: Sharing,
    ) -> io::Result<Listener> {
        let first = bind_first(addr, backlog, sharing)?;
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

/// Whether a listening port may be shared with other processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sharing {
    /// Only this service's own loops listen on the port; another process holding it is an
    /// error (`ServiceConfig::reuse_port` false, the default).
    Exclusive,
    /// Every socket sets `SO_REUSEPORT` before `bind`, so the port is shared with any other
    /// process of the same user that does the same: a hand-over between an old and a new
    /// server (`ServiceConfig::reuse_port`).
    WithOtherProcesses,
}

/// The first socket of a listener.
///
/// Exclusive, on Linux: `bind` and `listen` *without* `SO_REUSEPORT`, then `SO_REUSEPORT` is
/// turned on. Race-free, because the check is the kernel's own: `listen` refuses a socket
/// without `SO_REUSEPORT` while any other socket listens on the port (whatever its options),
/// so of two servers starting at once exactly one gets past its first `listen` (the other's
/// `bind` may succeed under `SO_REUSEADDR`, its `listen` does not); there is no window
/// between a probe and the real bind, since the probe is the real socket. Turning
/// `SO_REUSEPORT` on after `listen` is what the kernel consults when this service's other
/// loops bind next (and it puts them in one group with this socket, which spreads the
/// connections). `SO_REUSEADDR` stays on, so a restart is not refused over connections of
/// the previous run still in `TIME_WAIT`.
///
/// Shared with other processes (`reuse_port`): `SO_REUSEPORT` before `bind`, on every Unix
/// (Linux spreads new connections over all the sockets; the BSDs and macOS give them to the
/// newest, which is what a hand-over needs). Windows has no such option (its `SO_REUSEADDR`
/// lets any process take a bound port over, which is worse than refusing): refused there.
fn bind_first(addr: SocketAddr, backlog: i32, sharing: Sharing) -> io::Result<TcpListener> {
    let socket = new_socket(addr)?;
    if sharing == Sharing::WithOtherProcesses {
        #[cfg(unix)]
        socket.set_reuse_port(true)?;
        #[cfg(windows)]
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "reuse_port (a port handed over between processes, gameserver --reuse-port) needs \
             SO_REUSEPORT, which Windows does not have",
        ));
    }
    bind_and_listen(&socket, addr, backlog).map_err(|err| match err.kind() {
        io::ErrorKind::AddrInUse if sharing == Sharing::Exclusive => port_held(addr),
        _ => err,
    })?;
    #[cfg(target_os = "linux")]
    socket.set_reuse_port(true)?;
    Ok(socket.into())
}

/// The `AddrInUse` error of an exclusive bind: it names the port and who holds it.
fn port_held(addr: SocketAddr) -> io::Error {
    let port = addr.port();
    let find = if cfg!(target_os = "linux") {
        format!(" (`ss -ltnp 'sport = :{port}'` shows which)")
    } else {
        String::new()
    };
    io::Error::new(
        io::ErrorKind::AddrInUse,
        format!(
            "port {port} is in use: another process holds it{find}, or another listener of \
             this one; a port is not shared silently. To hand it over between two servers on \
             purpose, start both with reuse_port (gameserver --reuse-port)"
        ),
    )
}

/// Another loop's socket on `first`'s port: its own socket, with `SO_REUSEPORT`, so the
/// kernel spreads incoming connections over the loops.
#[cfg(target_os = "linux")]
fn join(first: &TcpListener, backlog: i32) -> io::Result<TcpListener> {
    let addr = first.local_addr()?;
    let socket = new_socket(addr)?;
    socket.set_reuse_port(true)?;
    bind_and_listen(&socket, addr, backlog)?;
    Ok(socket.into())
}

/// Another loop's socket on `first`'s port: `first` itself, shared (`dup`,
/// `WSADuplicateSocket`). Windows has no `SO_REUSEPORT`, and macOS' only lets a second socket
/// bind, it does not spread connections (FreeBSD added `SO_REUSEPORT_LB` for that); so every
/// loop accepts from the one socket, and a connection goes to whichever accept comes first.
#[cfg(not(target_os = "linux"))]
fn join(first: &TcpListener, _backlog: i32) -> io::Result<TcpListener> {
    first.try_clone()
}

/// A non-blocking TCP socket for `addr`'s family, with `SO_REUSEADDR` (Unix) and, for IPv6,
/// dual-stack.
fn new_socket(addr: SocketAddr) -> io::Result<Socket> {
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
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    Ok(socket)
}

fn bind_and_listen(socket: &Socket, addr: SocketAddr, backlog: i32) -> io::Result<()> {
    socket.bind(&addr.into())?;
    socket.listen(backlog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_one_port_per_loop() {
        let l = Listener::bind("127.0.0.1:0".parse().unwrap(), 3, 128, Sharing::Exclusive).unwrap();
        let port = l.local_addr().port();
        assert_ne!(port, 0);
        let sockets = l.into_sockets();
        assert_eq!(sockets.len(), 3);
        for s in &sockets {
            assert_eq!(s.local_addr().unwrap().port(), port);
        }
    }

    #[test]
    fn a_port_held_elsewhere_is_refused_and_named() {
        let first =
            Listener::bind("127.0.0.1:0".parse().unwrap(), 2, 128, Sharing::Exclusive).unwrap();
        let addr = first.local_addr();
        let err = Listener::bind(addr, 2, 128, Sharing::Exclusive).expect_err("port is held");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        let text = err.to_string();
        assert!(text.contains(&format!("port {} ", addr.port())), "{text}");
        assert!(text.contains("another process"), "{text}");
        // The wildcard address overlaps 127.0.0.1: refused too (BSD's SO_REUSEADDR lets a
        // wildcard bind beside a specific address).
        #[cfg(target_os = "linux")]
        {
            let any = SocketAddr::from(([0, 0, 0, 0], addr.port()));
            assert!(Listener::bind(any, 1, 128, Sharing::Exclusive).is_err());
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sharing_on_purpose_joins_a_port_and_exclusive_is_still_refused() {
        let first =
            Listener::bind("127.0.0.1:0".parse().unwrap(), 2, 128, Sharing::Exclusive).unwrap();
        let addr = first.local_addr();
        let second = Listener::bind(addr, 2, 128, Sharing::WithOtherProcesses)
            .expect("a hand-over joins the port");
        assert_eq!(second.local_addr(), addr);
        assert!(Listener::bind(addr, 1, 128, Sharing::Exclusive).is_err());
    }

    #[test]
    fn of_two_exclusive_binds_at_once_exactly_one_wins() {
        for _ in 0..20 {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = probe.local_addr().unwrap();
            drop(probe);
            let barrier = std::sync::Barrier::new(2);
            let results: Vec<io::Result<Listener>> = std::thread::scope(|scope| {
                let bind = || {
                    barrier.wait();
                    Listener::bind(addr, 2, 128, Sharing::Exclusive)
                };
                let a = scope.spawn(bind);
                let b = scope.spawn(bind);
                vec![a.join().unwrap(), b.join().unwrap()]
            });
            let won = results.iter().filter(|r| r.is_ok()).count();
            let lost_in_use = results.iter().any(|r| {
                r.as_ref()
                    .is_err_and(|e| e.kind() == io::ErrorKind::AddrInUse)
            });
            // Another test may have taken the freed port meanwhile: then neither wins.
            assert!(won <= 1, "both servers got port {}", addr.port());
            if won == 1 {
                assert!(lost_in_use, "{results:?}");
            }
        }
    }
}
