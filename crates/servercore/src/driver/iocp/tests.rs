//! Driver-level tests that need to see inside the IOCP driver (its port, its counters), and
//! the model choice on Windows. The `Driver` contract itself is `contract_tests.rs`'s
//! (`contract_suite!(iocp, …)`); behaviour through the public API is `tests/*.rs`'s, whose
//! `both_models!` tests run an `iocp` variant here.

use std::io::Write;
use std::time::{Duration, Instant};

use super::IocpDriver;
use crate::driver::contract_tests::{is_readable, pair, poll_until, read_all};
use crate::driver::{resolve, start, AnyDriver, Driver, Event};
use crate::{Model, ServiceConfig, SessionId};

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
