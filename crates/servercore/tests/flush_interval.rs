//! Send tick: with `flush_interval`, output queued between flushes leaves in one write, in
//! order and complete; without it every loop iteration flushes.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use servercore::{Context, Handler, Model, Service, ServiceConfig, SessionId};
use util::*;

const MESSAGES: usize = 200;

/// Sends one numbered byte to every session each tick (1 ms) until `MESSAGES` were sent,
/// starting at the first tick after a session connected (ticks before that send nothing and
/// count for nothing); counts the writes the kernel completed (`sent` callbacks).
struct Ticker {
    sessions: Vec<SessionId>,
    next: usize,
    writes: Arc<AtomicUsize>,
}

impl Handler for Ticker {
    fn connected(&mut self, _ctx: &mut Context<'_>, id: SessionId) {
        self.sessions.push(id);
    }

    fn received(&mut self, _ctx: &mut Context<'_>, _id: SessionId, data: &[u8]) -> usize {
        data.len()
    }

    fn sent(&mut self, _ctx: &mut Context<'_>, _id: SessionId, _bytes: usize) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    fn tick(&mut self, ctx: &mut Context<'_>) {
        if self.next < MESSAGES && !self.sessions.is_empty() {
            for &id in &self.sessions {
                let _ = ctx.send_copy(id, &[self.next as u8]);
            }
            self.next += 1;
        }
    }
}

/// Runs the ticker with `flush_interval`; returns (writes, elapsed until all bytes arrived).
fn run(model: Model, flush_interval: Option<Duration>) -> (usize, Duration) {
    let writes = Arc::new(AtomicUsize::new(0));
    let shared = writes.clone();
    let config = ServiceConfig {
        threads: 1,
        tick: Some(Duration::from_millis(1)),
        flush_interval,
        ..config(model)
    };
    let service = Service::bind(loopback(), config, move |_| Ticker {
        sessions: Vec::new(),
        next: 0,
        writes: shared.clone(),
    })
    .unwrap();
    let mut stream = connect(addr(&service));
    let started = Instant::now();
    let bytes = read_n(&mut stream, MESSAGES).expect("every tick's byte arrives");
    let expected: Vec<u8> = (0..MESSAGES).map(|i| i as u8).collect();
    assert_eq!(bytes, expected, "in order, none lost");
    (writes.load(Ordering::Relaxed), started.elapsed())
}

fn flush_interval_coalesces_writes(model: Model) {
    let (every_iteration, _) = run(model, None);
    let (ticked, took) = run(model, Some(Duration::from_millis(20)));
    println!(
        "{MESSAGES} one-byte messages: {every_iteration} writes flushing every iteration, \
         {ticked} with a 20 ms send tick ({took:?})"
    );
    assert!(
        ticked * 4 < every_iteration,
        "{ticked} vs {every_iteration} writes"
    );
    assert!(
        ticked >= 5,
        "a 20 ms tick over ~200 ms flushes several times: {ticked}"
    );
}

both_models!(send_tick, flush_interval_coalesces_writes);
