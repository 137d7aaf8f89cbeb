//! Shared helpers for the behaviour tests: servers on loopback port 0, clients, waiting.
//!
//! Every behaviour test runs on both I/O models through [`both_models!`]: one test body,
//! generated as `…::epoll` and `…::uring`. Where the build machine has no io_uring the uring
//! variant is `#[ignore]`d with the reason (see build.rs), so it shows as ignored, never as
//! passed.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use servercore::{CloseReason, Context, Handler, Model, Service, ServiceConfig, SessionId};

/// Generates `mod $name { fn epoll(); fn uring(); }` running `$body(model)`.
#[macro_export]
macro_rules! both_models {
    ($name:ident, $body:ident) => {
        mod $name {
            #[test]
            fn epoll() {
                super::$body(servercore::Model::Epoll);
            }

            #[test]
            #[cfg_attr(
                uring_unavailable,
                ignore = "io_uring is not available on this machine"
            )]
            fn uring() {
                super::$body(servercore::Model::Uring);
            }
        }
    };
}

/// Echo handler that also records every close reason.
#[derive(Debug, Default)]
pub struct Echo {
    pub closed: Arc<Mutex<Vec<CloseReason>>>,
}

impl Handler for Echo {
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let _ = ctx.send_copy(id, data);
        data.len()
    }

    fn disconnected(&mut self, _ctx: &mut Context<'_>, _id: SessionId, reason: CloseReason) {
        self.closed.lock().unwrap().push(reason);
    }
}

/// A config for tests: 2 loops, the given model.
pub fn config(model: Model) -> ServiceConfig {
    ServiceConfig {
        threads: 2,
        model,
        ..Default::default()
    }
}

/// Starts an echo server on 127.0.0.1:0; returns it with the shared list of close reasons.
pub fn echo_server(config: ServiceConfig) -> (Service<Echo>, Arc<Mutex<Vec<CloseReason>>>) {
    let closed = Arc::new(Mutex::new(Vec::new()));
    let shared = closed.clone();
    let service = Service::bind(loopback(), config, move |_| Echo {
        closed: shared.clone(),
    })
    .expect("start echo server");
    (service, closed)
}

pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

pub fn addr<H: Handler>(service: &Service<H>) -> SocketAddr {
    service.local_addr().expect("bound service")
}

/// Connects with read/write timeouts so a broken server fails the test instead of hanging it.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
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

/// Waits for the service's live-session count to reach `n`, failing the test if it does not.
pub fn assert_live<H: Handler>(service: &Service<H>, n: usize) {
    let ok = wait_until(Duration::from_secs(10), || service.live_sessions() == n);
    assert!(
        ok,
        "live sessions stayed at {} (expected {n})",
        service.live_sessions()
    );
}

/// Deterministic test bytes: byte `i` of stream `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed.wrapping_mul(7919)) % 251) as u8)
        .collect()
}

/// Reads exactly `len` bytes (or fails with the count received so far).
pub fn read_n(stream: &mut TcpStream, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    let mut got = 0;
    while got < len {
        match stream.read(&mut buf[got..])? {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("EOF after {got} of {len} bytes"),
                ))
            }
            n => got += n,
        }
    }
    Ok(buf)
}

/// Reads until EOF.
pub fn read_to_eof(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    stream.read_to_end(&mut out)?;
    Ok(out)
}

/// Writes `data` in the given chunk sizes (random split points in the callers).
pub fn write_chunks(stream: &mut TcpStream, data: &[u8], splits: &[usize]) -> io::Result<()> {
    let mut at = 0;
    for &n in splits {
        let end = (at + n).min(data.len());
        stream.write_all(&data[at..end])?;
        at = end;
    }
    stream.write_all(&data[at..])
}
