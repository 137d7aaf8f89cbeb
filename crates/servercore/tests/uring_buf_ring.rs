//! io_uring driver: more sessions sending at once than the loop has provided receive buffers
//! (512). Recvs that find the ring empty end with `ENOBUFS` and are re-armed; every byte
//! still arrives. (The driver's unit test `buffer_ring_exhaustion_loses_no_bytes` checks with
//! an 8-buffer ring that exhaustion really happens.)

mod uring_util;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use servercore::{Context, Handler, SessionId};
use testkit::uring_test;
use uring_util::*;

/// Echo that stalls once on its first bytes, so data piles up on every socket and the next
/// batch of recv completions wants more buffers than the ring has.
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

uring_test! {
    fn more_senders_than_buffers() {
        const SESSIONS: usize = 1024;
        const BYTES: usize = 40 * 1024;
        const THREADS: usize = 8;
        let service = start(uring_config(1), |_| StallingEcho { stalled: false });
        let addr = addr(&service);
        let streams: Vec<TcpStream> = (0..SESSIONS).map(|_| connect(addr)).collect();
        assert!(wait_until(Duration::from_secs(10), || service
            .live_sessions()
            == SESSIONS));
        let mut groups: Vec<Vec<(usize, TcpStream)>> = (0..THREADS).map(|_| Vec::new()).collect();
        for (n, stream) in streams.into_iter().enumerate() {
            groups[n % THREADS].push((n, stream));
        }
        let workers: Vec<_> = groups
            .into_iter()
            .map(|mut group| {
                std::thread::spawn(move || {
                    // Everything is written before anything is read: all sessions are active at once.
                    for (n, stream) in &mut group {
                        stream.write_all(&pattern(*n, BYTES)).unwrap();
                    }
                    for (n, stream) in &mut group {
                        let echoed = read_n(stream, BYTES).expect("read the echo");
                        assert!(echoed == pattern(*n, BYTES), "session {n}: echo differs");
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        for handler in service.stop() {
            handler.expect("loop ended cleanly");
        }
    }
}
