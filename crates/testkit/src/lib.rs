//! Helpers shared by the integration tests of every crate in the workspace: the
//! [`both_models!`] macro (one test body, generated for epoll and for each OS's completion
//! model, io_uring and the I/O completion port; a completion variant is ignored, with the
//! reason, where it cannot run: off its OS, or where the kernel refuses io_uring) for what each
//! model does its own way, [`one_model!`] for application tests, loopback clients
//! with timeouts (also from a chosen 127.0.0.x), deterministic data, polling with a deadline,
//! free loopback ports, a real HAProxy in front of a test backend ([`haproxy`]), a real
//! `redis-server` ([`RedisServer`]), a real headless Chromium ([`browser`]), and test
//! certificates with TLS clients ([`tls`]).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

pub mod blip;
#[cfg(unix)] // process groups and signals to stop chromedriver and its browsers
pub mod browser;
pub mod haproxy;
mod redis_server;
pub mod tls;

pub use redis_server::{free_port, RedisServer};

include!(concat!(env!("OUT_DIR"), "/both_models.rs"));

/// `127.0.0.1:0`: loopback, any free port.
pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Declares an application test: `mod $name { fn auto(); }` calling `super::$body(Model::Auto)`, the model
/// a service picks by default (io_uring where the kernel allows it, else epoll; on Windows,
/// and so under Wine, the I/O completion port). The I/O models' own contracts are servercore's driver conformance suite's
/// (`driver/contract_tests.rs`), and the loop's policies run on its fake driver in simulated
/// time: what a test of an application adds runs once. Attributes before `$name` go on it.
#[macro_export]
macro_rules! one_model {
    ($(#[$meta:meta])* $name:ident, $body:ident) => {
        mod $name {
            #[test]
            $(#[$meta])*
            fn auto() {
                super::$body(servercore::Model::Auto);
            }
        }
    };
}

/// A loopback address with a port that was free a moment ago, for a server the test starts in
/// another process (HAProxy, redis-server) that cannot be told to pick port 0 and report it.
/// Another process may take the port first: the caller retries on a fresh one when its server
/// cannot bind (as [`haproxy::Haproxy::start`] does).
///
/// # Panics
/// If no loopback port can be bound at all.
pub fn free_loopback_addr() -> SocketAddr {
    free_loopback_addrs(1)[0]
}

/// `n` different free loopback addresses (see [`free_loopback_addr`]): all are held at once
/// while they are picked, so no two are the same port.
///
/// # Panics
/// If `n` loopback ports cannot be bound.
pub fn free_loopback_addrs(n: usize) -> Vec<SocketAddr> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind(loopback()).expect("bind a loopback port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("local addr"))
        .collect()
}

/// Connects with read/write timeouts so a broken server fails the test instead of hanging it,
/// and `TCP_NODELAY` so request/response tests do not wait on delayed ACKs.
///
/// # Panics
/// If the connection is refused.
pub fn connect(addr: SocketAddr) -> TcpStream {
    configured(TcpStream::connect(addr).expect("connect"))
}

/// As [`connect`], from the local address `from` (any port): a test's way of being several
/// clients, since every 127.0.0.0/8 address is loopback on Linux and Windows (`127.0.0.2`,
/// `127.0.0.3`; on macOS only those added with `ifconfig lo0 alias`).
///
/// # Panics
/// If `from` cannot be bound or the connection is refused.
pub fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::for_address(to), Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::new(from, 0).into())
        .expect("bind the client address");
    socket.connect(&to.into()).expect("connect");
    configured(socket.into())
}

/// `TCP_NODELAY` and 20 s read/write timeouts.
fn configured(stream: TcpStream) -> TcpStream {
    stream.set_nodelay(true).expect("nodelay");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .expect("write timeout");
    stream
}

/// The lines a child process writes to `pipe` (its piped stdout), read on a thread of their
/// own; each is also printed after `prefix` (shown if the test fails). The channel ends when
/// the pipe closes.
pub fn read_lines(
    pipe: impl Read + Send + 'static,
    prefix: &'static str,
) -> mpsc::Receiver<String> {
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            println!("{prefix}{line}");
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    lines
}

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// Deterministic test bytes: `len` bytes of stream `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed.wrapping_mul(7919)) % 251) as u8)
        .collect()
}

/// Reads exactly `len` bytes. A read interrupted (`EINTR`) is retried, as `read_exact` does:
/// blocking reads in a test process that also runs io_uring loops were seen interrupted.
///
/// # Errors
/// The socket's error, or `UnexpectedEof` naming how many bytes came before EOF.
pub fn read_n(stream: &mut impl Read, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    let mut got = 0;
    while got < len {
        match stream.read(&mut buf[got..]) {
            Ok(0) => {
                let msg = format!("EOF after {got} of {len} bytes");
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg));
            }
            Ok(n) => got += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(buf)
}

/// Reads until EOF.
///
/// # Errors
/// The socket's error (e.g. a reset or a timeout).
pub fn read_to_eof(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    stream.read_to_end(&mut out)?;
    Ok(out)
}

/// Writes `data` cut at the given chunk sizes (the rest in one piece).
///
/// # Errors
/// The socket's error.
pub fn write_chunks(stream: &mut TcpStream, data: &[u8], splits: &[usize]) -> io::Result<()> {
    let mut at = 0;
    for &n in splits {
        let end = (at + n).min(data.len());
        stream.write_all(&data[at..end])?;
        at = end;
    }
    stream.write_all(&data[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_depends_on_seed_and_position() {
        assert_eq!(pattern(1, 100), pattern(1, 100));
        assert_ne!(pattern(1, 100), pattern(2, 100));
        let p = pattern(3, 600);
        assert_ne!(p[..300], p[300..]);
    }

    #[test]
    fn free_loopback_addr_can_be_bound() {
        let addr = free_loopback_addr();
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
        let addrs = free_loopback_addrs(3);
        assert_eq!(addrs.len(), 3);
        assert!(addrs[0] != addrs[1] && addrs[1] != addrs[2] && addrs[0] != addrs[2]);
    }

    #[test]
    #[cfg_attr(
        target_os = "macos",
        ignore = "macOS has only 127.0.0.1 on lo0: `sudo ifconfig lo0 alias 127.0.0.3`, then --ignored"
    )]
    fn connect_from_uses_the_given_source_address() {
        let listener = TcpListener::bind(loopback()).unwrap();
        let client = connect_from([127, 0, 0, 3].into(), listener.local_addr().unwrap());
        let (_, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), IpAddr::from([127, 0, 0, 3]));
        assert_eq!(peer, client.local_addr().unwrap());
    }

    #[test]
    fn wait_until_reports_timeout() {
        assert!(!wait_until(Duration::from_millis(20), || false));
        assert!(wait_until(Duration::from_millis(20), || true));
    }
}
