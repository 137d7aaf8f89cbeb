//! Driver-level tests that need to see inside the driver (a tiny buffer ring, its counters).
//! Behaviour tests through the public API live in `tests/uring_*.rs`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::{RingSizes, UringDriver};
use crate::admission::Admission;
use crate::driver::{Driver, DriverCounters};
use crate::loop_core::LoopCore;
use crate::mailbox::Mailbox;
use crate::{CloseReason, Context, Handler, LoopStats, Model, ServiceConfig, SessionId};
use crate::{UringLever, UringOptions};

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

/// What one loop run of [`with_loop_config`] left behind.
#[derive(Debug)]
struct LoopRun {
    /// The loop's stats, with the driver's counters copied in.
    stats: LoopStats,
    counters: DriverCounters,
    /// The levers that took effect.
    levers: UringOptions,
    /// Free slots of the fixed-file table at the end.
    fixed_free_slots: usize,
}

/// Runs one loop with the given ring sizes on its own thread while `client` runs against it;
/// returns the loop's stats (with the driver's counters), or `None` without io_uring.
fn with_loop<H: Handler>(
    handler: H,
    sizes: RingSizes,
    client: impl FnOnce(SocketAddr),
) -> Option<LoopStats> {
    with_loop_config(ServiceConfig::default(), handler, sizes, client).map(|run| run.stats)
}

/// As [`with_loop`], with `config` (its thread count and model are overridden).
fn with_loop_config<H: Handler>(
    config: ServiceConfig,
    handler: H,
    sizes: RingSizes,
    client: impl FnOnce(SocketAddr),
) -> Option<LoopRun> {
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
        stats.recv_buffers_exhausted = counters.recv_buffers_exhausted;
        stats.submit_queue_full = counters.submit_queue_full;
        stats.completion_overflows = counters.completion_overflows;
        Some(LoopRun {
            stats,
            counters,
            levers: driver.levers_active(),
            fixed_free_slots: driver.fixed.free_slots(),
        })
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
            fixed_files: 0,
        };
        let stats = with_loop(StallingEcho { stalled: false }, sizes, |addr| {
            echo_clients(addr, 64, 48 * 1024)
        });
        let stats = stats.expect("the loop ran");
        assert!(
            stats.recv_buffers_exhausted > 0,
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
            fixed_files: 0,
        };
        let stats = with_loop(StallingEcho { stalled: false }, sizes, |addr| {
            echo_clients(addr, 64, 32 * 1024)
        });
        let stats = stats.expect("the loop ran");
        assert!(stats.submit_queue_full > 0, "the SQ never filled: {stats:?}");
        assert!(stats.completion_overflows > 0, "the CQ never overflowed: {stats:?}");
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
        let stats = stats.expect("the loop ran").stats;
        assert!(
            stats.recv_held_high_water <= 4 * 1024 * 1024,
            "a paused session held back {} bytes: {stats:?}",
            stats.recv_held_high_water
        );
    }
}

#[test]
fn probe_agrees_with_the_driver() {
    match super::probe() {
        Ok(()) => assert_eq!(crate::driver::resolve(Model::Auto), Model::Uring),
        Err(_) => assert_eq!(crate::driver::resolve(Model::Auto), Model::Epoll),
    }
}

/// Echo that closes its session gracefully on input [`CLOSE`] and aborts it on [`ABORT`]
/// (each written whole, in one small write: one read on loopback).
struct ClosingEcho;

/// Asks [`ClosingEcho`] for a graceful close.
const CLOSE: &[u8] = b"bye, close";
/// Asks [`ClosingEcho`] for an abort.
const ABORT: &[u8] = b"bye, abort";

impl Handler for ClosingEcho {
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let _ = ctx.send_copy(id, data);
        if data == CLOSE {
            ctx.close(id);
        } else if data == ABORT {
            ctx.abort(id, CloseReason::Local);
        }
        data.len()
    }
}

/// A session that has echoed one message (so the server has registered it).
fn echo_one(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(b"ping").unwrap();
    let mut echoed = [0; 4];
    stream.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"ping");
    stream
}

/// Every lever off, each one alone, and all on.
fn lever_sets() -> Vec<UringOptions> {
    let mut sets = vec![UringOptions::ALL_OFF];
    sets.extend(
        UringLever::ALL
            .into_iter()
            .map(|lever| UringOptions::ALL_OFF.with(lever, true)),
    );
    sets.push(UringOptions::ALL_ON);
    sets
}

/// Reads until the server's close shows: EOF or a reset. A socket the server never really
/// closes fails the read timeout instead.
fn expect_closed(mut stream: TcpStream, what: &str) {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {} // the echo before the close
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(err) => panic!("{what}: no EOF or reset from the server: {err}"),
        }
    }
}

/// Echo on a few sessions, then one closed gracefully and one aborted by the server: both
/// peers must see the close (a fixed-file slot that kept the socket open would hang them).
fn echo_then_server_closes(addr: SocketAddr) {
    echo_clients(addr, 4, 64 * 1024);
    for (trigger, what) in [(CLOSE, "graceful close"), (ABORT, "abort")] {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(trigger).unwrap();
        expect_closed(stream, what);
    }
}

/// The config of the lever tests: no lingering, so a graceful close closes the socket as
/// soon as its queue is flushed (the FIN then comes from the close itself, not a shutdown).
fn lever_config(uring: UringOptions) -> ServiceConfig {
    ServiceConfig {
        lingering_time: Duration::ZERO,
        uring,
        ..ServiceConfig::default()
    }
}

testkit::uring_test! {
    /// Each lever set echoes and closes; the levers asked for took (registered ring and fixed
    /// files are older than the 6.0 the driver needs; NO_SQARRAY needs 6.6), the others not.
    fn every_lever_set_echoes_and_closes() {
        for options in lever_sets() {
            let config = lever_config(options);
            let sizes = RingSizes::for_config(&config);
            let run = with_loop_config(config, ClosingEcho, sizes, echo_then_server_closes)
                .expect("the loop ran");
            let took = run.levers;
            assert_eq!(took.registered_ring, options.registered_ring, "{options:?}: {took:?}");
            assert_eq!(took.fixed_files, options.fixed_files, "{options:?}: {took:?}");
            assert!(!took.no_sqarray || options.no_sqarray, "{options:?}: {took:?}");
            assert!(!took.recv_bundle || options.recv_bundle, "{options:?}: {took:?}");
            if options.fixed_files {
                assert_eq!(run.counters.fixed_table_full, 0, "{options:?}");
            }
        }
    }
}

testkit::uring_test! {
    /// A 2-slot fixed-file table under 6 sessions at once: the 4 that find it full go by
    /// their fd, all echo and all close; every slot is cleared in the end.
    fn full_fixed_file_table_falls_back_to_the_fd() {
        const SLOTS: u32 = 2;
        let config = lever_config(UringOptions::ALL_ON);
        let sizes = RingSizes {
            fixed_files: SLOTS,
            ..RingSizes::for_config(&config)
        };
        let run = with_loop_config(config, ClosingEcho, sizes, |addr| {
            // Each echoes before the next connects, and all stay open: 6 sessions at once.
            let open: Vec<TcpStream> = (0..6).map(|_| echo_one(addr)).collect();
            drop(open);
            echo_then_server_closes(addr);
        })
        .expect("the loop ran");
        assert!(run.levers.fixed_files, "{:?}", run.levers);
        assert!(
            run.counters.fixed_table_full >= 4,
            "6 sessions at once, 2 slots: {:?}",
            run.counters
        );
        assert!(
            run.counters.fixed_table_full < run.stats.accepted,
            "no session got a slot: {:?}",
            run.counters
        );
        assert_eq!(run.fixed_free_slots, SLOTS as usize, "every slot cleared");
    }
}

testkit::uring_test! {
    /// With 1 KiB receive buffers and 64 KiB writes piling up behind a stalled handler, bundle
    /// recvs fill several buffers per CQE; every byte still comes back in order (each buffer
    /// handed over in turn). Without the lever no CQE spans two buffers.
    fn bundle_recvs_hand_over_every_buffer_in_order() {
        for recv_bundle in [true, false] {
            let config = lever_config(UringOptions::ALL_ON.with(UringLever::RecvBundle, recv_bundle));
            let sizes = RingSizes {
                buffers: 64,
                buffer_size: 1024,
                ..RingSizes::for_config(&config)
            };
            let run = with_loop_config(config, StallingEcho { stalled: false }, sizes, |addr| {
                echo_clients(addr, 8, 256 * 1024)
            })
            .expect("the loop ran");
            if run.levers.recv_bundle {
                assert!(run.counters.recv_bundles > 0, "no bundle: {:?}", run.counters);
            } else {
                assert_eq!(run.counters.recv_bundles, 0, "{:?}", run.counters);
            }
        }
    }
}
