//! io_uring driver: echo of random sizes over several sessions on two loops, each session's
//! bytes coming back complete and in order (multishot recv, provided buffers, vectored sends).

mod uring_util;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use servercore::{CloseReason, Context, Handler, SessionId};
use testkit::uring_test;
use uring_util::*;

/// Echo that counts sessions in and out.
struct Echo {
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl Handler for Echo {
    fn connected(&mut self, _ctx: &mut Context<'_>, _id: SessionId) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        // Echo in two parts to exercise multi-buffer sendmsg.
        let half = data.len() / 2;
        let _ = ctx.send_copy(id, &data[..half]);
        let _ = ctx.send_copy(id, &data[half..]);
        data.len()
    }

    fn disconnected(&mut self, _ctx: &mut Context<'_>, _id: SessionId, reason: CloseReason) {
        assert_eq!(reason, CloseReason::PeerClosed);
        self.closed.fetch_add(1, Ordering::Relaxed);
    }
}

uring_test! {
    fn random_sizes_over_several_sessions() {
        const SESSIONS: usize = 12;
        const ROUNDS: usize = 30;
        let (opened, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (o, c) = (opened.clone(), closed.clone());
        let service = start(uring_config(2), move |_| Echo {
            opened: o.clone(),
            closed: c.clone(),
        });
        let addr = addr(&service);
        let clients: Vec<_> = (0..SESSIONS)
            .map(|n| {
                std::thread::spawn(move || {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(n as u64);
                    let mut stream = connect(addr);
                    for round in 0..ROUNDS {
                        // Mostly small game-sized messages, sometimes far bigger than a buffer.
                        let len = if rng.gen_bool(0.8) {
                            rng.gen_range(1..=512)
                        } else {
                            rng.gen_range(1..=300_000)
                        };
                        let data = pattern(n * ROUNDS + round, len);
                        let mut writer = stream.try_clone().unwrap();
                        let sent = data.clone();
                        let sender = std::thread::spawn(move || writer.write_all(&sent));
                        let echoed = read_n(&mut stream, len).expect("read the echo");
                        sender.join().unwrap().expect("write");
                        assert!(
                            echoed == data,
                            "session {n} round {round}: echo of {len} bytes differs"
                        );
                    }
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
        assert!(wait_until(Duration::from_secs(10), || service
            .live_sessions()
            == 0));
        assert_eq!(opened.load(Ordering::Relaxed), SESSIONS);
        assert_eq!(closed.load(Ordering::Relaxed), SESSIONS);
        for handler in service.stop() {
            handler.expect("loop ended cleanly");
        }
    }
}
