//! Driver-level tests that need to see inside the IOCP driver (its port, its counters), and
//! the model choice on Windows. The `Driver` contract itself is `contract_tests.rs`'s
//! (`contract_suite!(iocp, …)`); behaviour through the public API is `tests/*.rs`'s, whose
//! `both_models!` tests run an `iocp` variant here.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::conns::SendState;
use super::IocpDriver;
use crate::driver::contract_tests::{is_readable, pair, poll_until, read_all};
use crate::driver::{resolve, start, AnyDriver, Driver, Event, Outgoing, SendProgress};
use crate::session::SendQueue;
use crate::{Context, Handler, Model, Service, ServiceConfig, SessionId};

fn driver() -> IocpDriver {
    IocpDriver::new(None, &ServiceConfig::default()).unwrap().0
}

/// The driver's counter `name`.
fn counter(driver: &IocpDriver, name: &str) -> u64 {
    let counters = driver.counters();
    counters.iter().find(|(n, _)| *n == name).unwrap().1
}

#[test]
fn auto_picks_the_completion_port_and_epoll_keeps_mio() {
    assert_eq!(super::probe(), Ok(()));
    assert_eq!(resolve(Model::Auto), Model::Iocp);
    let config = ServiceConfig::default();
    assert!(matches!(
        start(resolve(Model::Auto), None, &config),
        Ok((AnyDriver::Iocp(_), _))
    ));
    assert!(matches!(
        start(Model::Epoll, None, &config),
        Ok((AnyDriver::Epoll(_), _))
    ));
    let err = start(Model::Uring, None, &config)
        .err()
        .expect("io_uring refused");
    assert!(err.to_string().contains("--model iocp"), "{err}");
}

/// A session closed with its receive pending: `CancelIoEx` ends it, and the record (socket
/// and buffer) is freed only when that completion is in (`Event::Released`). Then the slot's
/// next session gets completions keyed with the old generation, and keyed with its own but
/// naming none of its operations: both are counted and dropped, and the new session's input
/// is untouched.
#[test]
fn a_cancelled_receive_releases_late_and_stale_completions_are_harmless() {
    let mut driver = driver();
    let mut events = Vec::new();
    let (ours, _old_peer) = pair();
    let old = SessionId::new(0, 3, 1);
    driver.register(old, ours).unwrap();
    driver.poll(Some(Duration::ZERO), &mut events).unwrap(); // its WSARecv: pending
    assert!(
        !driver.close(old),
        "a receive in flight: the socket outlives the session"
    );
    assert_eq!(driver.conns.draining(), 1);
    poll_until(&mut driver, &mut events, |e| matches!(e, Event::Released));
    assert_eq!(driver.conns.draining(), 0);

    let (ours, mut peer) = pair();
    let new = SessionId::new(0, 3, 2);
    driver.register(new, ours).unwrap();
    driver.poll(Some(Duration::ZERO), &mut events).unwrap();
    let bogus = 0x1000; // never followed: only compared with the records' own OVERLAPPEDs
    driver.port.post(old.to_u64() as usize, bogus).unwrap();
    driver.port.post(new.to_u64() as usize, bogus).unwrap();
    peer.write_all(b"still mine").unwrap();
    events.clear();
    poll_until(&mut driver, &mut events, is_readable(new));
    let (got, eof) = read_all(&mut driver, new);
    assert_eq!((got.as_slice(), eof), (&b"still mine"[..], false));
    let deadline = Instant::now() + Duration::from_secs(20);
    while counter(&driver, "stale_completions") < 2 && Instant::now() < deadline {
        driver
            .poll(Some(Duration::from_millis(50)), &mut events)
            .unwrap();
    }
    assert_eq!(counter(&driver, "stale_completions"), 2);
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, Event::Readable(id) if *id == old)),
        "nothing reaches the old session"
    );
    driver.close(new);
    driver.finish().unwrap();
    assert!(!driver.in_flight(), "finish waited for the last completion");
}

/// A session closed with a `WSASend` pending (its peer reads nothing): the send's buffers
/// stay the kernel's — held by the driver — until the cancelled send's completion is in, and
/// are let go only then, with the socket (`Event::Released`).
#[test]
fn a_pending_send_keeps_its_buffers_until_its_cancelled_completion() {
    let mut driver = driver();
    let (ours, _peer) = pair(); // never reads
    socket2::SockRef::from(&ours)
        .set_send_buffer_size(8 * 1024)
        .unwrap();
    let id = SessionId::new(0, 0, 0);
    driver.register(id, ours).unwrap();
    let chunk = Bytes::from(vec![7u8; 256 * 1024]);
    let mut queue = SendQueue::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if queue.is_empty() {
            queue.push(chunk.clone());
        }
        let out = Outgoing {
            head: &[],
            queue: &mut queue,
        };
        if driver.send(id, out).unwrap() == SendProgress::Wait {
            break; // a WSASend is pending: the peer's window and our buffer are full
        }
        assert!(Instant::now() < deadline, "the socket never filled");
    }
    assert!(matches!(
        driver.conns.open_mut(id).map(|c| &c.send),
        Some(SendState::InFlight(_))
    ));
    drop(queue);
    assert!(
        !driver.close(id),
        "a send in flight: the socket outlives the session"
    );
    assert!(
        !chunk.is_unique(),
        "the pending send still holds its buffers"
    );
    let mut events = Vec::new();
    poll_until(&mut driver, &mut events, |e| matches!(e, Event::Released));
    assert!(
        chunk.is_unique(),
        "let go once the cancelled send completed"
    );
    driver.finish().unwrap();
}

/// Echoes what each session sends.
struct Echo;

impl Handler for Echo {
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let _ = ctx.send_copy(id, data);
        data.len()
    }
}

/// The loops share one listening socket and only the first port to take it has `AcceptEx`s
/// on it: that loop deals the connections out to every loop in turn (`share.rs`), so each
/// loop serves some, and every echo comes back whole.
#[test]
fn the_accepting_loop_deals_connections_to_every_loop() {
    let config = ServiceConfig {
        threads: 3,
        model: Model::Iocp,
        ..ServiceConfig::default()
    };
    let service = Service::bind("127.0.0.1:0".parse().unwrap(), config, |_| Echo).unwrap();
    let addr = service.local_addr().unwrap();
    let clients: Vec<TcpStream> = (0..9u8)
        .map(|i| {
            let mut client = TcpStream::connect(addr).unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            client.write_all(&[i; 100]).unwrap();
            let mut echo = [0; 100];
            client.read_exact(&mut echo).unwrap();
            assert_eq!(echo, [i; 100]);
            client
        })
        .collect();
    let (_, stats) = service.stop_with_stats();
    drop(clients);
    let accepted: Vec<u64> = stats.iter().map(|s| s.accepted).collect();
    assert_eq!(accepted.iter().sum::<u64>(), 9, "{accepted:?}");
    assert!(
        accepted.iter().all(|&n| n > 0),
        "every loop served some: {accepted:?}"
    );
    let handed_in: u64 = stats
        .iter()
        .map(|s| s.driver_counter("connections_handed_in"))
        .sum();
    assert!(handed_in >= 2, "{handed_in} handed in");
}
