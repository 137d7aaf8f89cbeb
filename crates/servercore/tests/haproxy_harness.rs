//! The HAProxy harness (`testkit::haproxy`) with a real HAProxy in front of a plain std
//! backend, before any server wiring: clients bound to 127.0.0.2 and 127.0.0.3 connect through
//! HAProxy, and each connection reaching the backend starts with a PROXY v2 header naming its
//! own client's address and port, followed by exactly what that client sent; HAProxy's health
//! checks arrive as v2 `LOCAL` headers with nothing after them. (HAProxy 2.6 ends each check
//! with a reset right after the header, so a server must take a reset after `LOCAL` as the
//! normal end of a check.) And the checks are real: they keep a live backend UP and mark a
//! dead one DOWN.
//!
//! Linux-only: HAProxy comes from the Debian package `.ci/run` installs, and the clients'
//! 127.0.0.2 and 127.0.0.3 are not local addresses on a stock macOS.

#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use servercore::proxy::{read_proxy_header, ProxiedSource, ProxyHeaderRead};
use socket2::{Domain, Socket, Type};
use testkit::haproxy::Haproxy;

/// One connection the backend received.
struct Received {
    /// Everything it sent, up to EOF or a reset.
    bytes: Vec<u8>,
    /// Whether it ended with EOF (not a reset).
    clean: bool,
}

/// A backend that reads each connection to EOF (then closes it) and reports its bytes.
fn backend() -> (SocketAddr, Receiver<Received>) {
    let listener = TcpListener::bind(testkit::loopback()).expect("bind backend");
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let (Ok(mut stream), tx) = (stream, tx.clone()) else {
                continue;
            };
            std::thread::spawn(move || {
                stream
                    .set_read_timeout(Some(Duration::from_secs(60)))
                    .unwrap();
                let mut bytes = Vec::new();
                // On an error, `bytes` keeps what was read before it.
                let clean = stream.read_to_end(&mut bytes).is_ok();
                let _ = tx.send(Received { bytes, clean });
            });
        }
    });
    (addr, rx)
}

/// The header at the start of `bytes` and what follows it.
fn split_header(bytes: &[u8]) -> (ProxiedSource, &[u8]) {
    match read_proxy_header(bytes) {
        Ok(ProxyHeaderRead::Complete { consumed, source }) => (source, &bytes[consumed..]),
        other => panic!("backend got {bytes:?}: {other:?}"),
    }
}

/// Connects from `from` through `haproxy`, sends `payload`, half-closes and waits for the
/// close; returns the client's address.
fn client(haproxy: &Haproxy, from: [u8; 4], payload: &[u8]) -> SocketAddr {
    let mut stream = testkit::connect_from(from.into(), haproxy.frontend());
    stream.write_all(payload).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    // The backend closes after EOF; HAProxy passes the close on.
    assert_eq!(testkit::read_to_eof(&mut stream).unwrap(), b"");
    stream.local_addr().unwrap()
}

#[test]
fn haproxy_sends_each_clients_address_and_local_health_checks() {
    let (backend, received) = backend();
    let haproxy = Haproxy::start(backend).expect("start haproxy");

    let mut clients = HashMap::new();
    for (seed, from) in [(2, [127, 0, 0, 2]), (3, [127, 0, 0, 3])] {
        let payload = testkit::pattern(seed, 5000);
        clients.insert(client(&haproxy, from, &payload), payload);
    }

    let mut checks = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(clients.is_empty() && checks >= 2) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Received { bytes, clean }) = received.recv_timeout(left) else {
            panic!(
                "clients not seen: {:?}, health checks: {checks}\nhaproxy log:\n{}",
                clients.keys(),
                haproxy.log()
            );
        };
        match split_header(&bytes) {
            (ProxiedSource::Client(addr), rest) => {
                let payload = clients
                    .remove(&addr)
                    .expect("a client's own address and port");
                assert_eq!(rest, &payload[..], "the payload, whole and in order");
                assert!(clean, "the client's half-close arrives as EOF");
            }
            (ProxiedSource::Unknown, _) => panic!("HAProxy names every TCP client"),
            (ProxiedSource::Local, rest) => {
                assert_eq!(rest, b"", "a health check sends nothing after its header");
                checks += 1;
            }
        }
    }
}

/// The health checks are real: a backend that accepts passes them and stays UP, one nobody
/// listens on fails them and goes DOWN.
#[test]
fn health_checks_keep_a_live_backend_up_and_mark_a_dead_one_down() {
    let stat = |haproxy: &Haproxy, column| haproxy.backend_stat(column).expect("haproxy's stats");
    let (live, _received) = backend();
    let live = Haproxy::start(live).expect("start haproxy");
    // Bound but not listening: connects are refused, and no other socket can take the port.
    let nobody = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    nobody.bind(&testkit::loopback().into()).unwrap();
    let nobody_addr = nobody.local_addr().unwrap().as_socket().unwrap();
    let dead = Haproxy::start(nobody_addr).expect("start haproxy");
    let checked = testkit::wait_until(Duration::from_secs(60), || {
        stat(&live, "check_status") == "L4OK" && stat(&dead, "status") == "DOWN"
    });
    assert!(checked, "live: {}\ndead: {}", live.log(), dead.log());
    assert_eq!(stat(&live, "status"), "UP", "{}", live.log());
    assert_eq!(stat(&live, "chkfail"), "0", "{}", live.log());
    assert_eq!(stat(&dead, "check_status"), "L4CON", "connection refused");
}
