//! Driver-level tests that need to see inside the driver (a tiny buffer ring, its counters).
//! Behaviour tests through the public API live in `tests/uring_*.rs`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use bytes::Bytes;

use super::{RingSizes, UringDriver};
use crate::admission::Admission;
use crate::driver::{Driver, Event, Outgoing, SendProgress};
use crate::loop_core::LoopCore;
use crate::mailbox::Mailbox;
use crate::session::SendQueue;
use crate::{Context, Handler, LoopStats, Model, ServiceConfig, SessionId};

/// Echo that stalls once, on its first bytes, so that data piles up on every socket and the
/// next batch of recv completions needs more buffers than the ring has.
struct StallingEcho {
    stalled: bool,
}

impl Handler for StallingEcho {
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        if !std::mem::replace(&mut self.stalled, true) {
            std::thread::sleep(Duration::from_millis(300));
        }
        let _ = ctx.send_copy(id, data);
        data.len()
    }
}

/// Runs one loop with the given ring sizes on its own thread while `client` runs against it;
/// returns the loop's stats (with the driver's counters), or `None` without io_uring.
fn with_loop<H: Handler>(
    handler: H,
    sizes: RingSizes,
    client: impl FnOnce(SocketAddr),
) -> Option<LoopStats> {
    with_loop_config(ServiceConfig::default(), handler, sizes, client)
}

/// As [`with_loop`], with `config` (its thread count and model are overridden).
fn with_loop_config<H: Handler>(
    config: ServiceConfig,
    handler: H,
    sizes: RingSizes,
    client: impl FnOnce(SocketAddr),
) -> Option<LoopStats> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Arc::new(ServiceConfig {
        threads: 1,
        model: Model::Uring,
        ..config
    });
    let loops: Arc<[Arc<Mailbox>]> = vec![Arc::new(Mailbox::default())].into();
    let mailboxes = loops.clone();
    let (ready_tx, ready_rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let admission = Arc::new(Admission::new(usize::MAX, usize::MAX, 0));
        let mut core = LoopCore::new(0, config.clone(), mailboxes, admission, handler);
        let (mut driver, waker) = match UringDriver::with_sizes(Some(listener), &config, sizes) {
            Ok(made) => made,
            Err(err) => {
                ready_tx.send(Err(err)).unwrap();
                return None;
            }
        };
        core.mailbox().set_waker(waker);
        ready_tx.send(Ok(())).unwrap();
        core.run(&mut driver).unwrap();
        assert_eq!(core.session_count(), 0);
        let counters = driver.counters();
        let mut stats = core.stats().clone();
        stats.driver = counters;
        Some(stats)
    });
    match ready_rx.recv().unwrap() {
        Ok(()) => {}
        Err(err) => panic!("starting the io_uring driver: {err}"),
    }
    client(addr);
    loops[0].request_stop();
    thread.join().unwrap()
}

/// `sessions` clients, all connected before any sends, each writing `bytes` and checking
/// they come back.
fn echo_clients(addr: SocketAddr, sessions: usize, bytes: usize) {
    let clients: Vec<TcpStream> = (0..sessions)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let workers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(n, mut stream)| {
            std::thread::spawn(move || {
                stream
                    .set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                let sent: Vec<u8> = (0..bytes).map(|i| (i * 7 + n) as u8).collect();
                stream.write_all(&sent).unwrap();
                let mut echoed = vec![0; bytes];
                stream.read_exact(&mut echoed).unwrap();
                assert!(echoed == sent, "session {n}: echo differs");
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
}

testkit::uring_test! {
    fn buffer_ring_exhaustion_loses_no_bytes() {
        let sizes = RingSizes {
            sq: 256,
            cq: 1024,
            buffers: 8,
            buffer_size: 4096,
        };
        let stats = with_loop(StallingEcho { stalled: false }, sizes, |addr| {
            echo_clients(addr, 64, 48 * 1024)
        });
        let stats = stats.expect("the loop ran");
        assert!(
            stats.driver_counter("recv_buffers_exhausted") > 0,
            "the 8-buffer ring never ran dry: {stats:?}"
        );
    }
}

testkit::uring_test! {
    /// A 4-entry SQ and an 8-entry CQ under 64 sessions: SQEs are submitted early when the SQ is
    /// full, and CQEs that overflowed the CQ are flushed from the kernel; none is lost.
    fn full_sq_and_overflowing_cq_lose_nothing() {
        let sizes = RingSizes {
            sq: 4,
            cq: 8,
            buffers: 256,
            buffer_size: 4096,
        };
        let stats = with_loop(StallingEcho { stalled: false }, sizes, |addr| {
            echo_clients(addr, 64, 32 * 1024)
        });
        let stats = stats.expect("the loop ran");
        assert!(stats.driver_counter("submit_queue_full") > 0, "the SQ never filled: {stats:?}");
        assert!(stats.driver_counter("completion_overflows") > 0, "the CQ never overflowed: {stats:?}");
    }
}

/// Plain echo.
struct Echo;

impl Handler for Echo {
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let _ = ctx.send_copy(id, data);
        data.len()
    }
}

testkit::uring_test! {
    /// With a flush interval the pending list comes back only once per interval, but a session
    /// whose reading pauses (its echo queue reached the pause) must stop its multishot recv at
    /// once: what it holds back is bounded by what was in flight, not by what the peer sends.
    fn paused_session_stops_reading_between_flushes() {
        const TOTAL: usize = 16 * 1024 * 1024;
        let config = ServiceConfig {
            flush_interval: Some(Duration::from_millis(300)),
            send_queue_pause: 64 * 1024,
            ..ServiceConfig::default()
        };
        let sizes = RingSizes::for_config(&config);
        let stats = with_loop_config(config, Echo, sizes, |addr| {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let sent: Vec<u8> = (0..TOTAL).map(|i| (i * 13 + i / 4099) as u8).collect();
            let mut writer = stream.try_clone().unwrap();
            let to_send = sent.clone();
            let sender = std::thread::spawn(move || writer.write_all(&to_send));
            std::thread::sleep(Duration::from_millis(700)); // not reading: two flush intervals
            let mut echoed = vec![0; TOTAL];
            stream.read_exact(&mut echoed).unwrap();
            sender.join().unwrap().unwrap();
            assert!(echoed == sent, "echo after the pause differs");
        });
        let stats = stats.expect("the loop ran");
        assert!(
            stats.recv_held_high_water <= 4 * 1024 * 1024,
            "a paused session held back {} bytes: {stats:?}",
            stats.recv_held_high_water
        );
    }
}

testkit::uring_test! {
    /// A head (a direct reply) goes out in the call, with no SQE, while no send is in flight;
    /// behind a send in flight nothing of it is taken (`Wait`), so the session layer queues it
    /// in order.
    fn a_head_needs_no_sqe_and_waits_behind_a_send_in_flight() {
        let (mut driver, _waker) = UringDriver::new(None, &ServiceConfig::default()).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let (server_end, _) = listener.accept().unwrap();
        let id = SessionId::new(0, 0, 0);
        driver.register(id, server_end).unwrap();
        let mut queue = SendQueue::new();
        let send = |driver: &mut UringDriver, head: &[u8], queue: &mut SendQueue| {
            driver.send(id, Outgoing { head, queue }).unwrap()
        };
        assert_eq!(send(&mut driver, b"direct", &mut queue), SendProgress::Wrote(6));
        queue.push(Bytes::from_static(b"+queued"));
        assert_eq!(send(&mut driver, b"", &mut queue), SendProgress::Wait, "an SQE");
        assert_eq!(send(&mut driver, b"+late", &mut queue), SendProgress::Wait, "behind it");
        let mut events = Vec::new();
        while !events.iter().any(|e| matches!(e, Event::Writable(w) if *w == id)) {
            driver.poll(Some(Duration::from_secs(5)), &mut events).unwrap();
        }
        assert_eq!(send(&mut driver, b"", &mut queue), SendProgress::Wrote(7));
        assert_eq!(send(&mut driver, b"+again", &mut queue), SendProgress::Wrote(6));
        let mut got = [0; 19];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"direct+queued+again");
        driver.close(id);
        driver.finish().unwrap();
    }
}

#[test]
fn probe_agrees_with_the_driver() {
    match super::probe() {
        Ok(()) => assert_eq!(crate::driver::resolve(Model::Auto), Model::Uring),
        Err(_) => assert_eq!(crate::driver::resolve(Model::Auto), Model::Epoll),
    }
}
