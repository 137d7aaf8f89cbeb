//! Connecting the load generator's clients: blocking connects with retries and backoff,
//! bounded by one deadline for the whole connect phase.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

/// First pause after a failed connect attempt; it doubles after each failure up to
/// [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(10);

/// Longest pause between two connect attempts of one client.
pub const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Why the clients could not all be connected.
#[derive(Debug)]
pub enum ConnectError {
    /// The address did not resolve to any socket address.
    Resolve {
        /// The address as given.
        addr: String,
        /// What the resolver said.
        source: io::Error,
    },
    /// The deadline passed before every client connected.
    TimedOut {
        /// The server address.
        addr: SocketAddr,
        /// Clients that did connect.
        connected: usize,
        /// Clients wanted.
        clients: usize,
        /// How long the connect phase lasted.
        waited: Duration,
        /// The last connect error.
        source: io::Error,
    },
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Resolve { addr, source } => write!(f, "cannot resolve server address {addr}: {source}"),
            ConnectError::TimedOut { addr, connected, clients, waited, source } => write!(
                f,
                "cannot connect to {addr}: {connected} of {clients} clients connected within {:.1} s \
                 (--connect-timeout); last error: {source}",
                waited.as_secs_f64()
            ),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Resolve { source, .. } | ConnectError::TimedOut { source, .. } => {
                Some(source)
            }
        }
    }
}

/// Resolves `addr` (`host:port`) to its first socket address.
///
/// # Errors
/// [`ConnectError::Resolve`] if it does not resolve.
pub fn resolve(addr: &str) -> Result<SocketAddr, ConnectError> {
    let mut addrs = addr
        .to_socket_addrs()
        .map_err(|source| ConnectError::Resolve {
            addr: addr.to_string(),
            source,
        })?;
    addrs.next().ok_or_else(|| ConnectError::Resolve {
        addr: addr.to_string(),
        source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
    })
}

/// Resolves a comma-separated list of `host:port` (`--addr a,b,c`).
///
/// # Errors
/// [`ConnectError::Resolve`] for the first one that does not resolve.
pub fn resolve_list(list: &str) -> Result<Vec<SocketAddr>, ConnectError> {
    list.split(',').map(|a| resolve(a.trim())).collect()
}

/// Connects `clients` sockets to `addr` one after the other, each with `TCP_NODELAY`, and
/// hands each to `adopt` as soon as it is connected. A failed attempt is retried after a
/// pause of [`FIRST_BACKOFF`], doubling up to [`MAX_BACKOFF`], until `timeout` (for the whole
/// phase) has passed. Returns the number of failed (retried) attempts.
///
/// # Errors
/// [`ConnectError::TimedOut`], naming the address and how many clients connected.
pub fn connect_all(
    addr: SocketAddr,
    clients: usize,
    timeout: Duration,
    mut adopt: impl FnMut(TcpStream),
) -> Result<u64, ConnectError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut failures = 0;
    for connected in 0..clients {
        match connect_one(addr, source_for(addr, connected), deadline, &mut failures) {
            Ok(stream) => {
                if let Err(err) = stream.set_nodelay(true) {
                    tracing::debug!("TCP_NODELAY: {err}");
                }
                adopt(stream);
            }
            Err(source) => {
                return Err(ConnectError::TimedOut {
                    addr,
                    connected,
                    clients,
                    waited: started.elapsed(),
                    source,
                });
            }
        }
    }
    Ok(failures)
}

/// Clients that share one loopback source address: under servers' default per-IP cap (64).
pub const CLIENTS_PER_SOURCE: usize = 32;

/// The source address of client `index`: for a server on 127.0.0.0/8, clients are spread over
/// 127.0.x.y (every address of that range is the local host), [`CLIENTS_PER_SOURCE`] to an
/// address, so a load test is not refused by a per-source-IP cap and is not limited to one
/// address's ephemeral ports. Other servers: the system picks (`None`).
pub fn source_for(addr: SocketAddr, index: usize) -> Option<SocketAddr> {
    let SocketAddr::V4(v4) = addr else {
        return None;
    };
    if !v4.ip().is_loopback() {
        return None;
    }
    let n = index / CLIENTS_PER_SOURCE;
    let ip = std::net::Ipv4Addr::new(127, 0, (n / 250) as u8, (1 + n % 250) as u8);
    Some(SocketAddr::from((ip, 0)))
}

/// Connects to `addr` from `source` (if given) within `timeout`.
fn connect_from(
    addr: SocketAddr,
    source: Option<SocketAddr>,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect_timeout(&addr, timeout);
    };
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.bind(&source.into())?;
    socket.connect_timeout(&addr.into(), timeout)?;
    Ok(socket.into())
}

/// One client's connect, retried with backoff until `deadline`.
fn connect_one(
    addr: SocketAddr,
    source: Option<SocketAddr>,
    deadline: Instant,
    failures: &mut u64,
) -> io::Result<TcpStream> {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connect deadline passed",
            ));
        }
        match connect_from(addr, source, remaining) {
            Ok(stream) => return Ok(stream),
            Err(err) => {
                *failures += 1;
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    return Err(err);
                }
                tracing::debug!(%addr, "connect failed, retrying in {backoff:?}: {err}");
                std::thread::sleep(backoff.min(remaining));
                if deadline <= Instant::now() {
                    return Err(err);
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_clients_are_spread_over_source_addresses() {
        let server: SocketAddr = "127.0.0.1:7777".parse().unwrap();
        let first = source_for(server, 0).unwrap();
        assert_eq!(first.ip().to_string(), "127.0.0.1");
        assert_eq!(source_for(server, CLIENTS_PER_SOURCE - 1), Some(first));
        let second = source_for(server, CLIENTS_PER_SOURCE).unwrap();
        assert_eq!(second.ip().to_string(), "127.0.0.2");
        let far = source_for(server, CLIENTS_PER_SOURCE * 600).unwrap();
        assert_eq!(far.ip().to_string(), "127.0.2.101");
        assert_eq!(source_for("10.0.0.1:7777".parse().unwrap(), 5), None);
        assert_eq!(source_for("[::1]:7777".parse().unwrap(), 5), None);
    }

    use super::*;

    #[test]
    fn connects_every_client() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut streams = Vec::new();
        let failures = connect_all(addr, 3, Duration::from_secs(5), |s| streams.push(s)).unwrap();
        assert_eq!(streams.len(), 3);
        assert_eq!(failures, 0);
    }

    #[test]
    fn closed_port_times_out_naming_the_address() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let started = Instant::now();
        let err = connect_all(addr, 2, Duration::from_millis(300), |_| {}).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        let text = err.to_string();
        assert!(text.contains(&addr.to_string()), "{text}");
        assert!(text.contains("0 of 2 clients"), "{text}");
    }

    #[test]
    fn bad_address_does_not_resolve() {
        assert!(matches!(
            resolve("no-port"),
            Err(ConnectError::Resolve { .. })
        ));
        assert_eq!(resolve("127.0.0.1:9").unwrap().port(), 9);
    }
}
