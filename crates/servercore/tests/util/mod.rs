//! Shared helpers for servercore's behaviour tests: an echo server on loopback port 0 that
//! records close reasons, plus everything in `testkit` (the `both_models!` and `one_model!`
//! macros, clients, waiting). What each I/O model does its own way (closing, backpressure,
//! a drain under a flood) runs on both through `both_models!`; application behaviour once,
//! through `one_model!`; the models' contracts are the driver conformance suite's and the
//! loop's policies run in simulated time (`src/driver/contract_tests.rs`,
//! `src/loop_core/tests/policy.rs`).

#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use servercore::{CloseReason, Context, Handler, Model, Service, ServiceConfig, SessionId};
pub use testkit::{
    both_models, connect, connect_from, loopback, one_model, pattern, read_n, read_to_eof,
    wait_until, write_chunks,
};

/// Echo handler that also records every close reason.
#[derive(Debug, Default)]
pub struct Echo {
    pub closed: Arc<Mutex<Vec<CloseReason>>>,
}

impl Handler for Echo {
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let _ = ctx.send_copy(id, data);
        data.len()
    }

    fn disconnected(&mut self, _ctx: &mut Context<'_>, _id: SessionId, reason: CloseReason) {
        self.closed.lock().unwrap().push(reason);
    }
}

/// A config for tests: 2 loops, the given model, and no per-IP cap (every test client comes
/// from 127.0.0.1; the caps have their own tests).
pub fn config(model: Model) -> ServiceConfig {
    ServiceConfig {
        threads: 2,
        model,
        max_sessions_per_ip: usize::MAX,
        ..Default::default()
    }
}

/// Starts an echo server on 127.0.0.1:0; returns it with the shared list of close reasons.
pub fn echo_server(config: ServiceConfig) -> (Service<Echo>, Arc<Mutex<Vec<CloseReason>>>) {
    let closed = Arc::new(Mutex::new(Vec::new()));
    let shared = closed.clone();
    let service = Service::bind(loopback(), config, move |_| Echo {
        closed: shared.clone(),
    })
    .expect("start echo server");
    (service, closed)
}

pub fn addr<H: Handler>(service: &Service<H>) -> SocketAddr {
    service.local_addr().expect("bound service")
}

/// Waits for the service's live-session count to reach `n`, failing the test if it does not.
pub fn assert_live<H: Handler>(service: &Service<H>, n: usize) {
    let ok = wait_until(Duration::from_secs(10), || service.live_sessions() == n);
    assert!(
        ok,
        "live sessions stayed at {} (expected {n})",
        service.live_sessions()
    );
}

/// Echo that counts the bytes it was shown (the plaintext, over TLS).
#[derive(Debug, Default)]
pub struct CountingEcho {
    pub shown: u64,
}

impl Handler for CountingEcho {
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        self.shown += data.len() as u64;
        let _ = ctx.send_copy(id, data);
        data.len()
    }
}

/// Byte `offset..offset + len` of an endless deterministic stream (a misplaced, repeated or
/// lost byte shows).
pub fn stream_bytes(offset: u64, len: usize) -> Vec<u8> {
    (offset..offset + len as u64)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 13)) as u8)
        .collect()
}

/// Waits until some session's send queue has reached `pause` bytes (a flood paused it),
/// failing the test if none does within 30 s.
pub fn wait_for_pause<H: Handler>(service: &Service<H>, pause: u64) {
    let paused = wait_until(Duration::from_secs(30), || {
        service
            .stats()
            .iter()
            .any(|s| s.send_queue_high_water >= pause)
    });
    assert!(
        paused,
        "the flood filled the session's queue past the pause mark"
    );
}
