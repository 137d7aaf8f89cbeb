//! io_uring driver: 5,000 sessions opened and closed (by the peer with FIN or RST, or by the
//! server) leave no fd behind: each socket is closed once its last CQE is in.

mod uring_util;

use std::io::Write;
use std::time::Duration;

use servercore::{Context, Handler, SessionId};
use testkit::uring_test;
use uring_util::*;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Echo; a message starting with `q` asks the server to close the session.
struct EchoOrQuit;

impl Handler for EchoOrQuit {
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let _ = ctx.send_copy(id, data);
        if data.first() == Some(&b'q') {
            ctx.close(id);
        }
        data.len()
    }
}

uring_test! {
    fn five_thousand_sessions_leave_no_fd_behind() {
        const ROUNDS: usize = 20;
        const BATCH: usize = 250;
        let service = start(uring_config(2), |_| EchoOrQuit);
        let addr = addr(&service);
        let baseline = open_fds();
        for round in 0..ROUNDS {
            let mut streams: Vec<_> = (0..BATCH).map(|_| connect(addr)).collect();
            for (n, stream) in streams.iter_mut().enumerate() {
                let msg: &[u8] = if n % 3 == 0 { b"quit" } else { b"echo" };
                stream.write_all(msg).unwrap();
            }
            for (n, mut stream) in streams.into_iter().enumerate() {
                assert_eq!(
                    read_n(&mut stream, 4).unwrap().len(),
                    4,
                    "round {round} session {n}"
                );
                match n % 3 {
                    0 => {
                        // Closed by the server: the next read sees EOF.
                        let mut rest = Vec::new();
                        std::io::Read::read_to_end(&mut stream, &mut rest).unwrap();
                    }
                    1 => reset(stream),
                    _ => drop(stream),
                }
            }
        }
        assert!(
            wait_until(Duration::from_secs(10), || service.live_sessions() == 0),
            "{} sessions still live",
            service.live_sessions()
        );
        // Sessions are gone; their sockets close when their last CQEs are reaped.
        let settled = wait_until(Duration::from_secs(10), || open_fds() <= baseline);
        assert!(
            settled,
            "{} fds open, {baseline} before the sessions",
            open_fds()
        );
        for handler in service.stop() {
            handler.expect("loop ended cleanly");
        }
    }
}
