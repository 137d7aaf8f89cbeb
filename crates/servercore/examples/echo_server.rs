//! The lecture's echo server on servercore: every byte a client sends comes back.
//!
//! ```text
//! cargo run --example echo_server -p servercore                  # listens on 0.0.0.0:7777
//! cargo run --example echo_server -p servercore -- 127.0.0.1:9000
//! cargo run -p dummyclient                                       # in another terminal
//! ```
//!
//! The lecture's server needed a `Session` struct with `recvBytes`/`sendBytes` cursors, an
//! event per socket and a "todo: remove session". Here the session layer keeps the buffers,
//! resumes partial sends and closes sessions; the application only says what to do with the
//! bytes that arrived.

use std::net::SocketAddr;

use servercore::{Context, Handler, Service, ServiceConfig, SessionId};

/// The application: one instance per event loop, so it needs no locks.
struct Echo;

impl Handler for Echo {
    /// Called with every byte received on `id` and not yet consumed, oldest first.
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        // Queue a copy for sending. The loop writes it out after this callback, together with
        // anything else queued for `id` in this iteration. An error means the session is
        // closing (or its client stopped reading for too long): nothing to do.
        let _ = ctx.send_copy(id, data);
        // Everything was consumed; return less to keep a partial message for the next call.
        data.len()
    }
}

fn main() -> std::io::Result<()> {
    let addr: SocketAddr = match std::env::args().nth(1) {
        Some(arg) => arg.parse().expect("usage: echo_server [IP:PORT]"),
        None => SocketAddr::from(([0, 0, 0, 0], 7777)),
    };
    // One event loop per CPU (the default), each with its own `Echo`, its own sessions and
    // its own listening socket (SO_REUSEPORT): the kernel spreads clients over the loops.
    let service = Service::bind(addr, ServiceConfig::default(), |_loop_index| Echo)?;
    println!(
        "echo server on {} ({} model, {} loops); Ctrl-C stops it",
        service.local_addr().unwrap_or(addr),
        service.model(),
        service.threads()
    );
    // The loops run on their own threads; this one waits until one fails (or a
    // `service.stop_handle()` stops them) and reports it.
    for result in service.wait() {
        result?;
    }
    Ok(())
}
