//! Helpers for the io_uring driver's own tests (`tests/uring_*.rs`): start a service on the
//! completion model or say why it cannot run here, and wait for a condition.

#![allow(dead_code)]

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use servercore::{Handler, Model, Service, ServiceConfig};

/// A config for the io_uring driver with `threads` loops.
///
/// `URING_TEST_TICK_MS=n` adds an n ms tick, so a loop never waits in `io_uring_enter` for
/// longer: valgrind 3.19 holds its global lock across that syscall (it does not mark it as
/// blocking), and without the tick every other thread would stall (`scripts/valgrind-uring.sh`).
pub fn uring_config(threads: usize) -> ServiceConfig {
    let tick = std::env::var("URING_TEST_TICK_MS")
        .ok()
        .and_then(|ms| ms.parse().ok());
    ServiceConfig {
        threads,
        model: Model::Uring,
        max_sessions_per_ip: usize::MAX, // every test client is 127.0.0.1
        tick: tick.map(Duration::from_millis),
        ..Default::default()
    }
}

/// Binds on 127.0.0.1:0 with `config`. Tests using this are declared with `uring_test!`, which
/// ignores them (with the reason) where the build machine has no io_uring; here a refusal
/// therefore means the driver is broken, and fails the test.
pub fn start<H: Handler>(config: ServiceConfig, factory: impl FnMut(usize) -> H) -> Service<H> {
    let service = Service::bind("127.0.0.1:0".parse().unwrap(), config, factory)
        .unwrap_or_else(|err| panic!("starting the io_uring service: {err}"));
    assert_eq!(service.model(), Model::Uring);
    service
}

pub fn addr<H: Handler>(service: &Service<H>) -> SocketAddr {
    service.local_addr().expect("bound service")
}

/// A client with a read timeout, so a lost byte fails the test instead of hanging it.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// Reads exactly `n` bytes.
pub fn read_n(stream: &mut TcpStream, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}

/// `n` bytes of a pattern that differs per `seed`.
pub fn pattern(seed: usize, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed * 7) % 251) as u8)
        .collect()
}

/// Polls `cond` every 5 ms for up to `timeout`; true if it became true.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Closes `stream` with an RST instead of a FIN (`SO_LINGER` 0).
pub fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}
