//! Timeouts: idle sessions and unfinished packets (slowloris) are closed near their deadline
//! by the per-loop sweep, while honest clients keep being served.

mod util;

use std::io::Write;
use std::time::{Duration, Instant};

use servercore::packet::{encode, Packet, PacketContext, PacketHandler, Packets};
use servercore::{CloseReason, Context, Model, Service, ServiceConfig, SessionId};
use util::*;

/// Echoes packets.
struct PacketEcho;

impl PacketHandler for PacketEcho {
    fn packet(&mut self, ctx: &mut Context<'_>, id: SessionId, packet: Packet<'_>) {
        if let Ok(reply) = ctx.packet(packet.id, packet.body) {
            let _ = ctx.send(id, reply);
        }
    }
}

fn idle_sessions_are_closed(model: Model) {
    let idle = Duration::from_millis(400);
    let config = ServiceConfig {
        idle_timeout: Some(idle),
        ..config(model)
    };
    let (service, closed) = echo_server(config);
    let mut quiet = connect(addr(&service));
    let mut chatty = connect(addr(&service));
    let started = Instant::now();
    // The chatty client keeps talking every 100 ms and must survive.
    while started.elapsed() < idle * 3 {
        chatty.write_all(b"hi").unwrap();
        assert_eq!(read_n(&mut chatty, 2).unwrap(), b"hi");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        read_to_eof(&mut quiet).unwrap().is_empty(),
        "the quiet client was closed"
    );
    let after = started.elapsed();
    println!("idle session closed within {after:?} (idle timeout {idle:?})");
    // The close is graceful (a FIN, then a lingering read): our EOF ends it at once.
    quiet.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(wait_until(Duration::from_secs(20), || !closed
        .lock()
        .unwrap()
        .is_empty()));
    assert_eq!(*closed.lock().unwrap(), vec![CloseReason::IdleTimeout]);
    assert_live(&service, 1);
}

fn slowloris_is_cut_while_honest_clients_echo(model: Model) {
    const SLOW: usize = 1000;
    const HONEST: usize = 50;
    let deadline = Duration::from_secs(1);
    let config = ServiceConfig {
        partial_timeout: Some(deadline),
        ..config(model)
    };
    let closed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let shared = closed.clone();
    let service = Service::bind(loopback(), config, move |_| {
        Packets::new(
            Recording {
                inner: PacketEcho,
                closed: shared.clone(),
            },
            4096,
        )
    })
    .unwrap();
    let addr = addr(&service);
    let started = Instant::now();
    let mut slow: Vec<_> = (0..SLOW)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(&[100, 0, 1, 0, 7, 7]).unwrap(); // 6 of a 100-byte packet
            s
        })
        .collect();
    let honest: Vec<_> = (0..HONEST)
        .map(|i| {
            std::thread::spawn(move || {
                let mut s = connect(addr);
                let until = Instant::now() + Duration::from_millis(1500);
                let mut rounds = 0;
                while Instant::now() < until {
                    let packet = encode(1, &pattern(i as u64, 64)).unwrap();
                    s.write_all(&packet).unwrap();
                    assert_eq!(read_n(&mut s, packet.len()).unwrap(), packet.to_vec());
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();
    let rounds: usize = honest
        .into_iter()
        .map(|h| h.join().expect("honest client"))
        .sum();
    for s in &mut slow {
        assert!(read_to_eof(s).map(|b| b.is_empty()).unwrap_or(true));
    }
    let cut_after = started.elapsed();
    for s in &mut slow {
        let _ = s.shutdown(std::net::Shutdown::Write); // ends each lingering close
    }
    assert!(wait_until(Duration::from_secs(30), || closed
        .lock()
        .unwrap()
        .len()
        >= SLOW));
    let reasons = closed.lock().unwrap().clone();
    let partial = reasons
        .iter()
        .filter(|r| **r == CloseReason::PartialTimeout)
        .count();
    println!(
        "{SLOW} slowloris sessions cut within {cut_after:?} (deadline {deadline:?}); \
         {HONEST} honest clients did {rounds} echoes meanwhile"
    );
    assert_eq!(partial, SLOW, "{reasons:?}");
    assert!(rounds >= HONEST, "honest clients were served");
    assert!(cut_after < deadline * 4, "cut far too late: {cut_after:?}");
}

/// Wraps a packet handler and records close reasons.
struct Recording<P> {
    inner: P,
    closed: std::sync::Arc<std::sync::Mutex<Vec<CloseReason>>>,
}

impl<P: PacketHandler> PacketHandler for Recording<P> {
    fn packet(&mut self, ctx: &mut Context<'_>, id: SessionId, packet: Packet<'_>) {
        self.inner.packet(ctx, id, packet);
    }

    fn disconnected(&mut self, _ctx: &mut Context<'_>, _id: SessionId, reason: CloseReason) {
        self.closed.lock().unwrap().push(reason);
    }
}

/// A client streaming packets whose reads never end on a packet boundary always has a partial
/// packet held, but each read completes one: it is making progress and must not be cut.
fn packets_split_across_reads_are_progress(model: Model) {
    let deadline = Duration::from_millis(300);
    let config = ServiceConfig {
        partial_timeout: Some(deadline),
        ..config(model)
    };
    let service = Service::bind(loopback(), config, |_| Packets::new(PacketEcho, 4096)).unwrap();
    let mut client = connect(addr(&service));
    let packet = encode(7, &[0x42; 96]).unwrap(); // 100 bytes
    let mut stream = Vec::new();
    for _ in 0..40 {
        stream.extend_from_slice(&packet);
    }
    // Writes of 130 bytes, 50 ms apart: the server holds part of a packet after every write
    // but each tenth (500 ms, longer than the deadline), and completes a packet on each.
    let started = Instant::now();
    for piece in stream.chunks(130) {
        client.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        started.elapsed() > deadline * 3,
        "the stream outlasts the deadline"
    );
    let echoed = read_n(&mut client, stream.len()).expect("every packet echoed, not cut");
    assert!(echoed == stream, "echo differs");
    assert_eq!(service.live_sessions(), 1);
}

both_models!(idle_timeout, idle_sessions_are_closed);
both_models!(partial_progress, packets_split_across_reads_are_progress);
both_models!(slowloris, slowloris_is_cut_while_honest_clients_echo);
