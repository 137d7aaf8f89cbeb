//! Helpers shared by the integration tests of every crate in the workspace: the
//! [`both_models!`] macro (one test body, generated for epoll and io_uring; the io_uring
//! variant is ignored, with the reason, where the kernel refuses io_uring), loopback clients
//! with timeouts, deterministic data, polling with a deadline, and a real `redis-server`
//! ([`RedisServer`]).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

mod redis_server;

pub use redis_server::{free_port, RedisServer};

include!(concat!(env!("OUT_DIR"), "/both_models.rs"));

/// `127.0.0.1:0`: loopback, any free port.
pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Connects with read/write timeouts so a broken server fails the test instead of hanging it,
/// and `TCP_NODELAY` so request/response tests do not wait on delayed ACKs.
///
/// # Panics
/// If the connection is refused.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .expect("write timeout");
    stream
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

/// Reads exactly `len` bytes.
///
/// # Errors
/// The socket's error, or `UnexpectedEof` naming how many bytes came before EOF.
pub fn read_n(stream: &mut TcpStream, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    let mut got = 0;
    while got < len {
        match stream.read(&mut buf[got..])? {
            0 => {
                let msg = format!("EOF after {got} of {len} bytes");
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg));
            }
            n => got += n,
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
    fn wait_until_reports_timeout() {
        assert!(!wait_until(Duration::from_millis(20), || false));
        assert!(wait_until(Duration::from_millis(20), || true));
    }
}
