//! The `Driver` contract, as a conformance suite every model runs (`contract_suite!` at the
//! bottom: epoll, and io_uring where the kernel has it; the IOCP driver will join it). Each
//! test drives one driver directly over real loopback sockets — no session layer — and
//! checks one method's promise from `driver/mod.rs`: what `read` lends and when it says
//! `Wait`, that `set_reading(false)` stops input (within `read_ahead`) and `true` brings back
//! what waited, `send`'s "try now, else wait" with a lent head and a queue in order, the
//! `Writable` that follows a `Wait`, `shutdown_write`'s FIN, `close` and `Released`,
//! accepting, refusing with a farewell, adopting, the waker, and `finish`.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Driver, Event, Input, Outgoing, SendProgress};
use crate::mailbox::Wake;
use crate::session::SendQueue;
use crate::{ServiceConfig, SessionId};

/// How long any wait of the suite may take before it fails the test.
const STEP: Duration = Duration::from_secs(20);

/// A driver under test and the waker it handed out.
type Made<D> = (D, Box<dyn Wake>);

/// A connected pair: (our end, the peer's end), the peer with read/write timeouts.
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    peer.set_read_timeout(Some(STEP)).unwrap();
    peer.set_write_timeout(Some(STEP)).unwrap();
    let (ours, _) = listener.accept().unwrap();
    (ours, peer)
}

/// Polls until `want` holds for one of the driver's events (collecting all of them).
fn poll_until<D: Driver>(
    driver: &mut D,
    events: &mut Vec<Event<D::Socket>>,
    mut want: impl FnMut(&Event<D::Socket>) -> bool,
) {
    let deadline = Instant::now() + STEP;
    loop {
        let seen = events.len();
        driver
            .poll(Some(Duration::from_millis(50)), events)
            .unwrap();
        if events[seen..].iter().any(&mut want) {
            return;
        }
        assert!(Instant::now() < deadline, "no such event within {STEP:?}");
    }
}

fn is_readable<S>(id: SessionId) -> impl FnMut(&Event<S>) -> bool {
    move |e| matches!(e, Event::Readable(r) if *r == id)
}

fn is_writable<S>(id: SessionId) -> impl FnMut(&Event<S>) -> bool {
    move |e| matches!(e, Event::Writable(w) if *w == id)
}

/// Reads `id`'s input until `Wait` (after a `Readable`), returning the bytes and whether an
/// EOF came.
fn read_all<D: Driver>(driver: &mut D, id: SessionId) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    loop {
        match driver.read(id) {
            Input::Data(data) => got.extend_from_slice(data),
            Input::Eof => return (got, true),
            Input::Failed(err) => panic!("read failed: {err}"),
            Input::Wait => return (got, false),
        }
    }
}

/// Reads until `len` bytes (or EOF) came, waiting for `Readable`s.
fn read_len<D: Driver<Socket = TcpStream>>(driver: &mut D, id: SessionId, len: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut events = Vec::new();
    while got.len() < len {
        let (more, eof) = read_all(driver, id);
        got.extend(more);
        if eof || got.len() >= len {
            break;
        }
        poll_until(driver, &mut events, is_readable(id));
    }
    got
}

fn id(slot: usize) -> SessionId {
    SessionId::new(0, slot, 0)
}

/// Deterministic test bytes.
fn bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Sends `out` until the driver has taken all of it (the head first), waiting for
/// `Writable` after a `Wait`, while the peer reads; returns what the peer received.
fn send_all<D: Driver<Socket = TcpStream>>(
    driver: &mut D,
    id: SessionId,
    head: &[u8],
    queue: &mut SendQueue,
    peer: &mut TcpStream,
) -> Vec<u8> {
    let total = head.len() + queue.len();
    let reader = {
        let mut peer = peer.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut got = vec![0; total];
            peer.read_exact(&mut got).map(|()| got)
        })
    };
    let mut head = head.to_vec();
    let mut events = Vec::new();
    loop {
        let progress = driver.send(id, Outgoing { head: &head, queue }).unwrap();
        let taken = match progress {
            SendProgress::Wrote(n) => n.min(head.len()),
            _ => 0,
        };
        // What the driver did not take of the head goes to the queue's front: the caller's
        // part of the contract.
        if !head.is_empty() {
            queue.push_front(Bytes::copy_from_slice(&head[taken..]));
            head.clear();
        }
        match progress {
            SendProgress::Wrote(_) => {}
            SendProgress::Wait => poll_until(driver, &mut events, is_writable(id)),
            SendProgress::Idle => break,
        }
    }
    assert_eq!(queue.owed(), 0, "nothing owed once idle");
    reader.join().unwrap().expect("the peer got everything")
}

/// `read` lends what arrived and says `Wait` once it is all taken; more arrivals raise a new
/// `Readable`; the peer's FIN is `Eof`.
pub(super) fn reads_what_arrives_then_waits<D: Driver<Socket = TcpStream>>(made: Made<D>) {
    let (mut driver, _waker) = made;
    let (ours, mut peer) = pair();
    driver.register(id(0), ours).unwrap();
    let mut events = Vec::new();
    for round in 0..3 {
        let data = bytes(100 + round);
        peer.write_all(&data).unwrap();
        poll_until(&mut driver, &mut events, is_readable(id(0)));
        assert_eq!(
            read_len(&mut driver, id(0), data.len()),
            data,
            "round {round}"
        );
        assert!(matches!(driver.read(id(0)), Input::Wait));
    }
    let big = bytes(1 << 20); // more than one read's worth
    let writer = {
        let mut peer = peer.try_clone().unwrap();
        let big = big.clone();
        std::thread::spawn(move || peer.write_all(&big))
    };
    poll_until(&mut driver, &mut events, is_readable(id(0)));
    assert!(
        read_len(&mut driver, id(0), big.len()) == big,
        "1 MiB in order"
    );
    writer.join().unwrap().unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    poll_until(&mut driver, &mut events, is_readable(id(0)));
    let (rest, eof) = read_all(&mut driver, id(0));
    assert!(rest.is_empty() && eof, "the FIN is an EOF");
    driver.close(id(0));
    driver.finish().unwrap();
}

/// `set_reading(false)` stops input (what was in flight, at most `read_ahead`, may still
/// come); `set_reading(true)` brings back what waited in the kernel, with or without a new
/// arrival.
pub(super) fn pausing_stops_input_and_resuming_brings_it_back<D: Driver<Socket = TcpStream>>(
    made: Made<D>,
) {
    let (mut driver, _waker) = made;
    let (ours, mut peer) = pair();
    driver.register(id(0), ours).unwrap();
    driver.set_reading(id(0), false);
    let data = bytes(64 * 1024);
    peer.write_all(&data).unwrap();
    let mut events = Vec::new();
    for _ in 0..5 {
        driver
            .poll(Some(Duration::from_millis(20)), &mut events)
            .unwrap();
    }
    let (early, _) = read_all(&mut driver, id(0));
    assert!(
        early.len() <= driver.read_ahead(),
        "{} bytes read while paused",
        early.len()
    );
    driver.set_reading(id(0), true);
    let mut got = early;
    let deadline = Instant::now() + STEP;
    while got.len() < data.len() {
        driver
            .poll(Some(Duration::from_millis(20)), &mut events)
            .unwrap();
        got.extend(read_all(&mut driver, id(0)).0);
        assert!(
            Instant::now() < deadline,
            "what waited came back: {} bytes",
            got.len()
        );
    }
    assert!(got == data, "in order");
    driver.close(id(0));
    driver.finish().unwrap();
}

/// `send` writes a lent head and the queue in order, tries now, waits when the socket is full
/// and says so with `Writable` once it drained; `Idle` when nothing is owed.
pub(super) fn sends_head_then_queue_in_order_and_waits_when_full<D: Driver<Socket = TcpStream>>(
    made: Made<D>,
) {
    let (mut driver, _waker) = made;
    let (ours, mut peer) = pair();
    socket2::SockRef::from(&ours)
        .set_send_buffer_size(8 * 1024)
        .unwrap();
    driver.register(id(0), ours).unwrap();
    let mut queue = SendQueue::new();
    let out = Outgoing {
        head: &[],
        queue: &mut queue,
    };
    assert_eq!(driver.send(id(0), out).unwrap(), SendProgress::Idle);
    let head = bytes(100);
    let mut want = head.clone();
    for i in 0..40 {
        let chunk = Bytes::from(bytes(50_000 + i));
        want.extend_from_slice(&chunk);
        queue.push(chunk); // 2 MB: far more than the socket takes at once
    }
    let got = send_all(&mut driver, id(0), &head, &mut queue, &mut peer);
    assert!(got == want, "the head, then the queue, in order");
    let out = Outgoing {
        head: &[],
        queue: &mut queue,
    };
    assert_eq!(driver.send(id(0), out).unwrap(), SendProgress::Idle);
    driver.close(id(0));
    driver.finish().unwrap();
}

/// `shutdown_write` sends a FIN behind what was sent; reading goes on.
pub(super) fn shutdown_write_sends_a_fin_and_reading_goes_on<D: Driver<Socket = TcpStream>>(
    made: Made<D>,
) {
    let (mut driver, _waker) = made;
    let (ours, mut peer) = pair();
    driver.register(id(0), ours).unwrap();
    let mut queue = SendQueue::new();
    queue.push(Bytes::from_static(b"last words"));
    let got = send_all(&mut driver, id(0), b"", &mut queue, &mut peer);
    assert_eq!(got, b"last words");
    driver.shutdown_write(id(0)).unwrap();
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "EOF after the data");
    peer.write_all(b"late").unwrap();
    let mut events = Vec::new();
    poll_until(&mut driver, &mut events, is_readable(id(0)));
    assert_eq!(read_len(&mut driver, id(0), 4), b"late", "still read");
    driver.close(id(0));
    driver.finish().unwrap();
}

/// `close` lets go of the socket: the peer sees the end, the id names nothing any more, and
/// the descriptor is closed now (`true`) or a `Released` follows.
pub(super) fn close_lets_go_and_releases<D: Driver<Socket = TcpStream>>(made: Made<D>) {
    let (mut driver, _waker) = made;
    let (ours, mut peer) = pair();
    driver.register(id(0), ours).unwrap();
    peer.write_all(b"unread").unwrap();
    let mut events = Vec::new();
    poll_until(&mut driver, &mut events, is_readable(id(0)));
    let closed_now = driver.close(id(0));
    if !closed_now {
        poll_until(&mut driver, &mut events, |e| matches!(e, Event::Released));
    }
    let mut rest = Vec::new();
    let _ = peer.read_to_end(&mut rest); // an EOF, or a reset for the unread input
    assert!(rest.is_empty());
    assert!(
        matches!(driver.read(id(0)), Input::Wait),
        "the id names nothing"
    );
    let mut queue = SendQueue::new();
    queue.push(Bytes::from_static(b"x"));
    let out = Outgoing {
        head: b"y",
        queue: &mut queue,
    };
    assert_eq!(driver.send(id(0), out).unwrap(), SendProgress::Idle);
    assert!(!driver.close(id(0)), "once");
    driver.finish().unwrap();
}

/// A driver with a listener reports connections (`Accepted`); `refuse` writes the farewell
/// and closes; `stop_accepting` closes the listener; `adopt` takes a socket from elsewhere.
pub(super) fn accepts_refuses_and_adopts<D: Driver<Socket = TcpStream>>(
    start: impl FnOnce(Option<TcpListener>) -> Made<D>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (mut driver, _waker) = start(Some(listener));
    let mut client = TcpStream::connect(addr).unwrap();
    client.set_read_timeout(Some(STEP)).unwrap();
    let mut events = Vec::new();
    poll_until(&mut driver, &mut events, |e| {
        matches!(e, Event::Accepted { .. })
    });
    let Some(Event::Accepted { stream, peer }) = events
        .drain(..)
        .find(|e| matches!(e, Event::Accepted { .. }))
    else {
        unreachable!("just seen")
    };
    assert_eq!(peer, client.local_addr().unwrap());
    driver.refuse(stream, Some(b"FULL"));
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"FULL", "the farewell, then the end");
    let (elsewhere, _peer) = pair();
    let expected: SocketAddr = elsewhere.peer_addr().unwrap();
    let (socket, peer) = driver.adopt(elsewhere).unwrap();
    assert_eq!(peer, expected);
    driver.register(id(1), socket).unwrap();
    driver.stop_accepting();
    for _ in 0..3 {
        driver
            .poll(Some(Duration::from_millis(20)), &mut events)
            .unwrap();
    }
    let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(2));
    assert!(refused.is_err(), "the listener is closed");
    driver.close(id(1));
    driver.finish().unwrap();
}

/// The waker ends a `poll` that would otherwise sleep.
pub(super) fn the_waker_ends_a_poll<D: Driver>(made: Made<D>) {
    let (mut driver, waker) = made;
    let waker = std::sync::Arc::new(waker);
    let remote = waker.clone();
    let started = Instant::now();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        remote.wake().unwrap();
    });
    let mut events = Vec::new();
    driver.poll(Some(STEP), &mut events).unwrap();
    assert!(started.elapsed() < STEP, "woken, not timed out");
    thread.join().unwrap();
    driver.finish().unwrap();
}

/// A plain `#[test]`, in the shape of `testkit::uring_test!` (which also ignores, with the
/// reason, where io_uring cannot run).
macro_rules! plain_test {
    (fn $name:ident() $body:block) => {
        #[test]
        fn $name() $body
    };
}

/// Generates one test per contract, each declared with `$test` (`plain_test` or
/// `testkit::uring_test`), for a driver made by `$make(listener)`.
macro_rules! contract_suite {
    ($model:ident, $test:path, $make:expr) => {
        mod $model {
            use super::*;

            fn made() -> Made<impl Driver<Socket = TcpStream>> {
                ($make)(None)
            }

            $test! {
                fn reads_what_arrives_then_waits() {
                    super::reads_what_arrives_then_waits(made());
                }
            }

            $test! {
                fn pausing_stops_input_and_resuming_brings_it_back() {
                    super::pausing_stops_input_and_resuming_brings_it_back(made());
                }
            }

            $test! {
                fn sends_head_then_queue_in_order_and_waits_when_full() {
                    super::sends_head_then_queue_in_order_and_waits_when_full(made());
                }
            }

            $test! {
                fn shutdown_write_sends_a_fin_and_reading_goes_on() {
                    super::shutdown_write_sends_a_fin_and_reading_goes_on(made());
                }
            }

            $test! {
                fn close_lets_go_and_releases() {
                    super::close_lets_go_and_releases(made());
                }
            }

            $test! {
                fn accepts_refuses_and_adopts() {
                    super::accepts_refuses_and_adopts($make);
                }
            }

            $test! {
                fn the_waker_ends_a_poll() {
                    super::the_waker_ends_a_poll(made());
                }
            }
        }
    };
}

contract_suite!(epoll, plain_test, |listener| {
    super::super::epoll::EpollDriver::new(listener, &ServiceConfig::default()).unwrap()
});

#[cfg(target_os = "linux")]
contract_suite!(uring, testkit::uring_test, |listener| {
    super::super::uring::UringDriver::new(listener, &ServiceConfig::default()).unwrap()
});
