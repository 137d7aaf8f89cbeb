//! Connecting the load generator's clients: blocking connects with retries and backoff,
//! bounded by one deadline for the whole connect phase.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

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

/// `--addr`'s value parser: a comma-separated list of `host:port` (`127.0.0.1:7777`,
/// `[::1]:7777`, `game.example:7777`), checked for its shape only (names are resolved when
/// the run starts).
///
/// # Errors
/// An entry that is not `host:port`, e.g. a URL (`http://…`) or a host without a port.
pub fn addr_list(text: &str) -> Result<String, String> {
    for entry in text.split(',').map(str::trim) {
        let wanted = |why: &str| {
            format!(
                "{entry:?} {why}: --addr wants host:port (e.g. 127.0.0.1:7777), comma-separated"
            )
        };
        if let Some((scheme, _)) = entry.split_once("://") {
            return Err(wanted(&format!("is a {scheme}:// URL")));
        }
        let Some((host, port)) = entry.rsplit_once(':') else {
            return Err(wanted("has no port"));
        };
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(wanted("is not host:port"));
        }
    }
    Ok(text.to_string())
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
        match connect_one(addr, deadline, &mut failures) {
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

/// One client's connect, retried with backoff until `deadline`.
fn connect_one(addr: SocketAddr, deadline: Instant, failures: &mut u64) -> io::Result<TcpStream> {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connect deadline passed",
            ));
        }
        match TcpStream::connect_timeout(&addr, remaining) {
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
    use super::*;

    #[test]
    fn addr_lists_are_host_port_pairs() {
        for good in [
            "127.0.0.1:7777",
            "[::1]:7777",
            "a:1, b:2,c:3",
            "game.example:7777",
        ] {
            assert_eq!(addr_list(good), Ok(good.to_string()));
        }
        for (bad, why) in [
            ("http://127.0.0.1:7777", "is a http:// URL"),
            ("localhost", "has no port"),
            ("127.0.0.1:", "is not host:port"),
            (":7777", "is not host:port"),
            ("a:1,b", "has no port"),
            ("a:99999", "is not host:port"),
        ] {
            let err = addr_list(bad).unwrap_err();
            assert!(
                err.contains(why) && err.contains("host:port (e.g."),
                "{bad}: {err}"
            );
        }
    }

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
