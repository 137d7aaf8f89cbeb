//! io_uring driver: sessions closed while their recv and send are in flight. The driver owns
//! the buffers, iovecs and fd until the last CQE, so nothing crashes, every session ends once,
//! and the loops stop cleanly.

mod uring_util;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use servercore::{CloseReason, Context, Handler, ServiceConfig, SessionId};
use testkit::uring_test;
use uring_util::*;

/// On every receive, queues a large reply (the peer does not read, so the send stays in
/// flight) and, for every other session, closes it from inside `received`.
struct Flood {
    reply: bytes::Bytes,
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    local: Arc<AtomicUsize>,
    /// Sessions connected to this loop so far: every other one is closed by the server.
    connected: u64,
    close_these: std::collections::HashSet<SessionId>,
    /// Sessions the handler closed, until they end.
    closing: std::collections::HashSet<SessionId>,
}

impl Flood {
    fn new(
        reply: &bytes::Bytes,
        opened: &Arc<AtomicUsize>,
        closed: &Arc<AtomicUsize>,
        local: &Arc<AtomicUsize>,
    ) -> Flood {
        Flood {
            reply: reply.clone(),
            opened: opened.clone(),
            closed: closed.clone(),
            local: local.clone(),
            connected: 0,
            close_these: Default::default(),
            closing: Default::default(),
        }
    }
}

impl Handler for Flood {
    fn connected(&mut self, _ctx: &mut Context<'_>, id: SessionId) {
        self.opened.fetch_add(1, Ordering::Relaxed);
        self.connected += 1;
        if self.connected % 2 == 0 {
            self.close_these.insert(id);
        }
    }

    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let _ = ctx.send(id, self.reply.clone());
        if self.close_these.remove(&id) {
            ctx.close(id); // while the reply is in flight and the recv still armed
            self.closing.insert(id);
        }
        data.len()
    }

    /// A session the handler closed ends as `Local` once its reply was flushed, or as
    /// `Reset` when the peer reset it first (the queued reply was dropped); `local` counts
    /// those that ended either way, and nothing else.
    fn disconnected(&mut self, _ctx: &mut Context<'_>, id: SessionId, reason: CloseReason) {
        let flushed_or_reset = matches!(reason, CloseReason::Local | CloseReason::Reset);
        if self.closing.remove(&id) && flushed_or_reset {
            self.local.fetch_add(1, Ordering::Relaxed);
        }
        self.closed.fetch_add(1, Ordering::Relaxed);
    }
}

uring_test! {
    fn close_and_reset_with_ops_in_flight() {
        const SESSIONS: usize = 40;
        let (opened, closed, local) = (Arc::default(), Arc::default(), Arc::default());
        let (o, c, l): (Arc<AtomicUsize>, Arc<AtomicUsize>, Arc<AtomicUsize>) =
            (Arc::clone(&opened), Arc::clone(&closed), Arc::clone(&local));
        let reply = bytes::Bytes::from(vec![7u8; 1024 * 1024]);
        let service = start(uring_config(2), move |_| Flood::new(&reply, &o, &c, &l));
        let addr = addr(&service);
        let clients: Vec<_> = (0..SESSIONS)
            .map(|n| {
                std::thread::spawn(move || {
                    let mut stream = connect(addr);
                    // Wait for the session to open (its first reply), or a reset in the backlog
                    // would drop the connection before it becomes a session.
                    stream.write_all(b"hello").unwrap();
                    read_n(&mut stream, 1).expect("first reply");
                    stream
                        .set_write_timeout(Some(Duration::from_millis(200)))
                        .unwrap();
                    let data = pattern(n, 64 * 1024);
                    // Send a lot without reading; the server may close us midway (write errors).
                    for _ in 0..16 {
                        if stream.write_all(&data).is_err() {
                            break;
                        }
                    }
                    reset(stream);
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
        assert!(
            wait_until(Duration::from_secs(10), || service.live_sessions() == 0),
            "{} sessions still live",
            service.live_sessions()
        );
        assert_eq!(opened.load(Ordering::Relaxed), SESSIONS);
        assert_eq!(
            closed.load(Ordering::Relaxed),
            SESSIONS,
            "every session ends exactly once"
        );
        // Every other session of each loop was closed by the handler, with its reply in
        // flight; each ended as Local or Reset (whether the flush or the peer's reset came
        // first is the machine's timing).
        assert!(
            local.load(Ordering::Relaxed) >= SESSIONS / 2 - 2,
            "the sessions the handler closed ended as Local or Reset: {}",
            local.load(Ordering::Relaxed)
        );
        // The server must still serve after all that.
        let mut stream = connect(addr);
        stream.write_all(b"ping").unwrap();
        assert_eq!(read_n(&mut stream, 1024).unwrap(), vec![7u8; 1024]);
        drop(stream);
        for handler in service.stop() {
            handler.expect("loop ended cleanly");
        }
    }
}

uring_test! {
    /// Stop while sessions have sends in flight to peers that never read: after the drain
    /// deadline, shutdown cancels them and waits for their last CQEs.
    fn stop_with_sends_in_flight() {
        let (opened, closed, local) = (Arc::default(), Arc::default(), Arc::default());
        let (o, c, l): (Arc<AtomicUsize>, Arc<AtomicUsize>, Arc<AtomicUsize>) =
            (Arc::clone(&opened), Arc::clone(&closed), Arc::clone(&local));
        let reply = bytes::Bytes::from(vec![1u8; 4 * 1024 * 1024]);
        // The peers never read: the drain cannot finish, so keep its deadline short.
        let config = ServiceConfig {
            shutdown_drain: Duration::from_millis(200),
            ..uring_config(2)
        };
        let service = start(config, move |_| Flood::new(&reply, &o, &c, &l));
        let streams: Vec<_> = (0..10)
            .map(|_| {
                let mut s = connect(addr(&service));
                s.write_all(b"go").unwrap();
                s
            })
            .collect();
        assert!(wait_until(Duration::from_secs(5), || opened
            .load(Ordering::Relaxed)
            == 10));
        std::thread::sleep(Duration::from_millis(100));
        for handler in service.stop() {
            handler.expect("loop ended cleanly");
        }
        assert_eq!(closed.load(Ordering::Relaxed), 10);
        drop(streams);
    }
}
