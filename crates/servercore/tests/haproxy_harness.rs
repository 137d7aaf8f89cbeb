//! The HAProxy harness (`testkit::haproxy`) with a real HAProxy in front of a plain std
//! backend, before any server wiring: a client bound to 127.0.0.2 connects through HAProxy,
//! and the backend's first bytes are a PROXY v2 header naming 127.0.0.2 and the client's port,
//! followed by exactly what the client sent; HAProxy's health checks arrive as v2 `LOCAL`
//! headers with nothing after them. (HAProxy 2.6 ends each check with a reset right after the
//! header, so a server must take a reset after `LOCAL` as a normal end of a check.)

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use servercore::{read_proxy_header, ProxiedSource, ProxyHeaderRead};
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

/// Connects to `to` from `from` (port 0: any), with timeouts.
fn connect_from(from: SocketAddr, to: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&from.into()).expect("bind the client address");
    socket.connect(&to.into()).expect("connect through haproxy");
    let stream = TcpStream::from(socket);
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// The header at the start of `bytes` and what follows it.
fn split_header(bytes: &[u8]) -> (ProxiedSource, &[u8]) {
    match read_proxy_header(bytes) {
        Ok(ProxyHeaderRead::Complete { consumed, source }) => (source, &bytes[consumed..]),
        other => panic!("backend got {bytes:?}: {other:?}"),
    }
}

#[test]
fn haproxy_sends_the_clients_address_and_local_health_checks() {
    let (backend, received) = backend();
    let haproxy = Haproxy::start(backend).expect("start haproxy");

    let mut client = connect_from("127.0.0.2:0".parse().unwrap(), haproxy.frontend());
    let client_addr = client.local_addr().unwrap();
    let payload = testkit::pattern(12, 5000);
    client.write_all(&payload).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    // The backend closes after EOF; HAProxy passes the close on.
    assert_eq!(testkit::read_to_eof(&mut client).unwrap(), b"");

    let (mut client_seen, mut checks) = (false, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(client_seen && checks >= 2) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Received { bytes, clean }) = received.recv_timeout(left) else {
            panic!(
                "saw client: {client_seen}, health checks: {checks}\nhaproxy log:\n{}",
                haproxy.log()
            );
        };
        match split_header(&bytes) {
            (ProxiedSource::Client(addr), rest) => {
                assert_eq!(addr, client_addr, "the client's own address and port");
                assert_eq!(rest, &payload[..], "the payload, whole and in order");
                assert!(clean, "the client's half-close arrives as EOF");
                assert!(!client_seen, "one client connection");
                client_seen = true;
            }
            (ProxiedSource::Local, rest) => {
                assert_eq!(rest, b"", "a health check sends nothing after its header");
                checks += 1;
            }
        }
    }
}
