//! Backpressure: the send queue is bounded. For echo, a client that does not read stops being
//! read; a handler that pushes past the hard cap gets the session closed as a slow consumer.

mod util;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use servercore::{CloseReason, Context, Handler, Model, Service, ServiceConfig, SessionId};
use util::*;

/// Echo that records the largest send queue it ever saw.
struct MeasuringEcho {
    max_queued: Arc<AtomicUsize>,
}

impl Handler for MeasuringEcho {
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let _ = ctx.send_copy(id, data);
        let queued = ctx.queued_bytes(id).unwrap_or(0);
        self.max_queued.fetch_max(queued, Ordering::Relaxed);
        data.len()
    }
}

fn echo_to_a_client_that_does_not_read(model: Model) {
    let config = ServiceConfig {
        send_queue_pause: 64 * 1024,
        read_chunk: 16 * 1024,
        ..config(model)
    };
    let (pause, chunk) = (config.send_queue_pause, config.read_chunk);
    let max_queued = Arc::new(AtomicUsize::new(0));
    let shared = max_queued.clone();
    let service = Service::bind(loopback(), config, move |_| MeasuringEcho {
        max_queued: shared.clone(),
    })
    .unwrap();
    let mut stream = connect(addr(&service));
    let data = pattern(3, 8 * 1024 * 1024);
    let mut writer = stream.try_clone().unwrap();
    let to_send = data.clone();
    let sender = std::thread::spawn(move || writer.write_all(&to_send));
    // Do not read: the server must stop reading instead of queueing 8 MiB.
    assert!(
        wait_until(Duration::from_secs(10), || max_queued
            .load(Ordering::Relaxed)
            >= pause),
        "the queue should have reached the pause threshold (peak {})",
        max_queued.load(Ordering::Relaxed)
    );
    let peak = max_queued.load(Ordering::Relaxed);
    assert!(
        peak <= pause + chunk,
        "queue grew to {peak} bytes, bound is {} + {}",
        pause,
        chunk
    );
    assert_eq!(service.live_sessions(), 1, "a paused session is not closed");
    // Now read everything: nothing was lost while paused.
    let echoed = read_n(&mut stream, data.len()).expect("read the whole echo");
    sender.join().unwrap().unwrap();
    assert!(echoed == data, "echo after backpressure differs");
    let peak = max_queued.load(Ordering::Relaxed);
    assert!(peak <= pause + chunk, "queue grew to {peak} bytes");
}

/// Sends 64 KiB to every session on every tick, whatever the queue holds.
struct Firehose {
    sessions: Vec<SessionId>,
    closed: Arc<Mutex<Vec<CloseReason>>>,
}

impl Handler for Firehose {
    fn connected(&mut self, _ctx: &mut Context<'_>, id: SessionId) {
        self.sessions.push(id);
    }

    fn received(&mut self, _ctx: &mut Context<'_>, _id: SessionId, data: &[u8]) -> usize {
        data.len()
    }

    fn disconnected(&mut self, _ctx: &mut Context<'_>, id: SessionId, reason: CloseReason) {
        self.sessions.retain(|&s| s != id);
        self.closed.lock().unwrap().push(reason);
    }

    fn tick(&mut self, ctx: &mut Context<'_>) {
        let block = ctx.alloc(64 * 1024, |b| b.resize(64 * 1024, 0xAB));
        for &id in &self.sessions {
            let _ = ctx.send(id, block.clone());
        }
    }
}

fn slow_consumer_is_cut_at_the_hard_cap(model: Model) {
    let limit = 1024 * 1024;
    let config = ServiceConfig {
        send_queue_limit: limit,
        tick: Some(Duration::from_millis(1)),
        ..config(model)
    };
    let closed = Arc::new(Mutex::new(Vec::new()));
    let shared = closed.clone();
    let service = Service::bind(loopback(), config, move |_| Firehose {
        sessions: Vec::new(),
        closed: shared.clone(),
    })
    .unwrap();
    let stream = connect(addr(&service)); // never reads
    assert!(
        wait_until(Duration::from_secs(10), || !closed
            .lock()
            .unwrap()
            .is_empty()),
        "never cut"
    );
    assert_live(&service, 0);
    let reasons = closed.lock().unwrap().clone();
    assert_eq!(reasons.len(), 1);
    match reasons[0] {
        CloseReason::SlowConsumer { queued, limit: l } => {
            assert_eq!(l, limit);
            assert!(queued > limit);
        }
        other => panic!("expected SlowConsumer, got {other:?}"),
    }
    drop(stream);
}

/// Sends one large burst to each new session at its first tick, and a second one 300 ms
/// later; records what the second `send` said.
struct TwoBursts {
    burst: usize,
    first: Option<(SessionId, std::time::Instant)>,
    second: Arc<Mutex<Option<Result<(), servercore::SendError>>>>,
    closed: Arc<Mutex<Vec<CloseReason>>>,
}

impl Handler for TwoBursts {
    fn received(&mut self, _ctx: &mut Context<'_>, _id: SessionId, data: &[u8]) -> usize {
        data.len()
    }

    fn connected(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        let block = ctx.alloc(self.burst, |b| b.resize(self.burst, 0x5A));
        ctx.send(id, block).expect("the first burst fits the limit");
        self.first = Some((id, std::time::Instant::now()));
    }

    fn disconnected(&mut self, _ctx: &mut Context<'_>, _id: SessionId, reason: CloseReason) {
        self.closed.lock().unwrap().push(reason);
    }

    fn tick(&mut self, ctx: &mut Context<'_>) {
        let Some((id, at)) = self.first else { return };
        let mut second = self.second.lock().unwrap();
        if second.is_none() && at.elapsed() >= Duration::from_millis(300) {
            let block = ctx.alloc(self.burst, |b| b.resize(self.burst, 0xA5));
            *second = Some(ctx.send(id, block));
        }
    }
}

/// The hard cap counts every byte the peer is owed, also those a completion driver has
/// handed to the kernel in a send that has not completed. The peer never reads, so the kernel
/// takes at most its socket buffers (bounded here to ~2 × 64 KiB on our side) of the first
/// 6 MiB burst; the rest is still owed when the second burst comes, and the two together pass
/// the 7 MiB cap.
fn hard_cap_counts_bytes_in_flight(model: Model) {
    const BURST: usize = 6 * 1024 * 1024;
    let limit = 7 * 1024 * 1024;
    let config = ServiceConfig {
        send_queue_limit: limit,
        send_queue_pause: limit,
        socket_send_buffer: Some(64 * 1024),
        tick: Some(Duration::from_millis(10)),
        ..config(model)
    };
    let second = Arc::new(Mutex::new(None));
    let closed = Arc::new(Mutex::new(Vec::new()));
    let (second_shared, closed_shared) = (second.clone(), closed.clone());
    let service = Service::bind(loopback(), config, move |_| TwoBursts {
        burst: BURST,
        first: None,
        second: second_shared.clone(),
        closed: closed_shared.clone(),
    })
    .unwrap();
    let stream = connect(addr(&service)); // never reads
    assert!(
        wait_until(Duration::from_secs(10), || second.lock().unwrap().is_some()),
        "the second burst was never sent"
    );
    let outcome = *second.lock().unwrap();
    match outcome {
        Some(Err(servercore::SendError::QueueFull { queued, limit: l })) => {
            assert_eq!(l, limit);
            assert!(queued > limit, "queued {queued} is within the limit");
        }
        other => panic!("the second burst should pass the cap, got {other:?}"),
    }
    assert_live(&service, 0);
    let closed = closed.lock().unwrap().clone();
    assert!(
        matches!(closed[..], [CloseReason::SlowConsumer { .. }]),
        "{closed:?}"
    );
    drop(stream);
}

/// Sends one burst to each new session and records, at every tick, what the session is still
/// owed.
struct OneBurst {
    burst: usize,
    session: Option<SessionId>,
    owed: Arc<Mutex<Vec<usize>>>,
}

impl Handler for OneBurst {
    fn received(&mut self, _ctx: &mut Context<'_>, _id: SessionId, data: &[u8]) -> usize {
        data.len()
    }

    fn connected(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        let block = ctx.alloc(self.burst, |b| b.resize(self.burst, 0x3C));
        ctx.send(id, block).expect("the burst fits the limit");
        self.session = Some(id);
    }

    fn tick(&mut self, ctx: &mut Context<'_>) {
        if let Some(owed) = self.session.and_then(|id| ctx.queued_bytes(id)) {
            self.owed.lock().unwrap().push(owed);
        }
    }
}

/// `socket_send_buffer` bounds what the kernel takes for a peer that does not read: of a
/// 1 MiB burst it keeps ~2 × 16 KiB (the kernel doubles `SO_SNDBUF`) and the peer's small
/// window; the rest stays owed in the session's queue. Left to autotuning, loopback takes
/// the whole burst (its initial send buffer is already larger).
fn socket_send_buffer_bounds_the_kernels_share(model: Model) {
    const BURST: usize = 1024 * 1024;
    let config = ServiceConfig {
        socket_send_buffer: Some(16 * 1024),
        tick: Some(Duration::from_millis(5)),
        ..config(model)
    };
    let owed = Arc::new(Mutex::new(Vec::new()));
    let shared = owed.clone();
    let service = Service::bind(loopback(), config, move |_| OneBurst {
        burst: BURST,
        session: None,
        owed: shared.clone(),
    })
    .unwrap();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr(&service).into()).unwrap(); // never reads
    assert!(
        wait_until(Duration::from_secs(10), || owed
            .lock()
            .unwrap()
            .iter()
            .any(|&o| o < BURST)),
        "the kernel never took any of the burst"
    );
    let least = owed.lock().unwrap().iter().copied().min().unwrap();
    assert!(
        least >= BURST - 256 * 1024,
        "the kernel took {} bytes of a peer that does not read",
        BURST - least
    );
    drop(sock);
}

both_models!(echo_pauses_reading, echo_to_a_client_that_does_not_read);
both_models!(
    send_buffer_bound,
    socket_send_buffer_bounds_the_kernels_share
);
both_models!(hard_cap_in_flight, hard_cap_counts_bytes_in_flight);
both_models!(slow_consumer, slow_consumer_is_cut_at_the_hard_cap);
