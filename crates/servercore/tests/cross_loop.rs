//! Sessions on different loops reach each other: a send to another loop's session goes
//! through that loop's mailbox, in order, without loss.

mod util;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use servercore::{
    CloseReason, Context, Handler, Model, SendError, Service, ServiceConfig, SessionId,
};
use util::*;

/// The sessions of a test service, shared by its loops' handlers.
#[derive(Clone, Default)]
struct Peers(Arc<Mutex<Vec<SessionId>>>);

impl Peers {
    fn add(&self, id: SessionId) {
        self.0.lock().unwrap().push(id);
    }

    /// The first session that is not `id`.
    fn other_than(&self, id: SessionId) -> Option<SessionId> {
        self.0.lock().unwrap().iter().copied().find(|&p| p != id)
    }

    fn ids(&self) -> Vec<SessionId> {
        self.0.lock().unwrap().clone()
    }
}

/// Forwards everything a session receives to the other session.
struct Relay {
    peers: Peers,
}

impl Handler for Relay {
    fn connected(&mut self, _ctx: &mut Context<'_>, id: SessionId) {
        self.peers.add(id);
    }

    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        if let Some(other) = self.peers.other_than(id) {
            let buf = ctx.alloc(data.len(), |b| b.extend_from_slice(data));
            ctx.send(other, buf).unwrap();
        }
        data.len()
    }
}

/// A connected pair: (the client end we keep, the server end handed to the service).
fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server_end, _) = listener.accept().unwrap();
    (client, server_end)
}

/// Hands the service two sessions, on loops 0 and 1 (adoption is round robin); returns
/// their client ends.
fn two_sessions<H: Handler>(service: &Service<H>) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (a, a_server) = pair(&listener);
    let (b, b_server) = pair(&listener);
    service.adopt(a_server);
    service.adopt(b_server);
    assert_live(service, 2);
    (a, b)
}

fn relay_between_loops(model: Model) {
    let peers = Peers::default();
    let shared = peers.clone();
    let service = Service::unbound(config(model), move |_| Relay {
        peers: shared.clone(),
    })
    .unwrap();
    let (mut a, mut b) = two_sessions(&service);
    let ids = peers.ids();
    assert_ne!(
        ids[0].loop_index(),
        ids[1].loop_index(),
        "the two sessions live on different loops"
    );
    for s in [&a, &b] {
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
    }
    let data = pattern(5, 256 * 1024);
    let mut writer = a.try_clone().unwrap();
    let to_send = data.clone();
    let sender = std::thread::spawn(move || {
        for chunk in to_send.chunks(1000) {
            writer.write_all(chunk).unwrap();
        }
    });
    assert!(
        read_n(&mut b, data.len()).unwrap() == data,
        "bytes relayed across loops differ"
    );
    sender.join().unwrap();
    b.write_all(b"back").unwrap();
    assert_eq!(read_n(&mut a, 4).unwrap(), b"back");
}

/// On any input, sends `blocks` 64 KiB blocks to the other session in one go; records what
/// each send said.
struct Flood {
    peers: Peers,
    blocks: usize,
    results: Arc<Mutex<Vec<Result<(), SendError>>>>,
}

impl Handler for Flood {
    fn connected(&mut self, _ctx: &mut Context<'_>, id: SessionId) {
        self.peers.add(id);
    }

    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        if let Some(other) = self.peers.other_than(id) {
            let block = ctx.alloc(64 * 1024, |b| b.resize(64 * 1024, 0x33));
            let mut results = self.results.lock().unwrap();
            for _ in 0..self.blocks {
                results.push(ctx.send(other, block.clone()));
            }
        }
        data.len()
    }
}

/// Cross-loop sends are bounded: once what waits for the target loop passes
/// `mailbox_limit`, further sends fail with `LoopBehind` (and are counted) instead of
/// queueing without bound; what was accepted arrives.
fn cross_loop_sends_stop_at_the_mailbox_limit(model: Model) {
    let limit = 1024 * 1024;
    let config = ServiceConfig {
        mailbox_limit: limit,
        ..config(model)
    };
    let results = Arc::new(Mutex::new(Vec::new()));
    let (shared_peers, shared_results) = (Peers::default(), results.clone());
    let service = Service::unbound(config, move |_| Flood {
        peers: shared_peers.clone(),
        blocks: 32,
        results: shared_results.clone(),
    })
    .unwrap();
    let (mut a, mut b) = two_sessions(&service);
    b.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    a.write_all(b"go").unwrap();
    let accepted = limit / (64 * 1024);
    let got = read_n(&mut b, accepted * 64 * 1024).expect("the accepted blocks arrive");
    assert!(got.iter().all(|&x| x == 0x33));
    let results = results.lock().unwrap().clone();
    assert_eq!(results.len(), 32);
    assert!(results[..accepted].iter().all(Result::is_ok), "{results:?}");
    for r in &results[accepted..] {
        assert!(
            matches!(r, Err(SendError::LoopBehind { limit: l, .. }) if *l == limit),
            "{r:?}"
        );
    }
    let refused = wait_until(std::time::Duration::from_secs(2), || {
        let stats = service.stats();
        stats.iter().map(|s| s.mailbox_refused).sum::<u64>() == 32 - accepted as u64
    });
    assert!(refused, "stats: {:?}", service.stats());
}

/// On input "close" or "abort", ends the other session (on the other loop) with that
/// reason; records every close reason by session.
struct Closer {
    peers: Peers,
    closed: Arc<Mutex<Vec<(SessionId, CloseReason)>>>,
}

impl Handler for Closer {
    fn connected(&mut self, _ctx: &mut Context<'_>, id: SessionId) {
        self.peers.add(id);
    }

    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        if let Some(other) = self.peers.other_than(id) {
            let queued = ctx.alloc(4, |b| b.extend_from_slice(b"bye!"));
            let _ = ctx.send(other, queued); // flushed by a close, dropped by an abort
            match data {
                b"close" => ctx.close_with(other, CloseReason::Invalid("closed by a peer")),
                b"abort" => ctx.abort(other, CloseReason::RateLimited),
                _ => {}
            }
        }
        data.len()
    }

    fn disconnected(&mut self, _ctx: &mut Context<'_>, id: SessionId, reason: CloseReason) {
        self.closed.lock().unwrap().push((id, reason));
    }
}

/// A handler on one loop closes (flushing, with its reason) or aborts (dropping the queue,
/// with its reason) a session of another loop.
fn cross_loop_close_and_abort_keep_their_reasons(model: Model) {
    for (command, want, flushed) in [
        (
            &b"close"[..],
            CloseReason::Invalid("closed by a peer"),
            true,
        ),
        (&b"abort"[..], CloseReason::RateLimited, false),
    ] {
        let (peers, closed) = (Peers::default(), Arc::new(Mutex::new(Vec::new())));
        let (p, c) = (peers.clone(), closed.clone());
        let service = Service::unbound(config(model), move |_| Closer {
            peers: p.clone(),
            closed: c.clone(),
        })
        .unwrap();
        let (mut a, mut b) = two_sessions(&service);
        // `b` was adopted second: it lives on loop 1.
        let b_id = *peers.ids().iter().find(|id| id.loop_index() == 1).unwrap();
        a.write_all(command).unwrap();
        let got = read_to_eof(&mut b).unwrap_or_default();
        assert!(
            wait_until(std::time::Duration::from_secs(20), || closed
                .lock()
                .unwrap()
                .iter()
                .any(|&(id, _)| id == b_id)),
            "the other loop's session was not closed"
        );
        let reason = closed
            .lock()
            .unwrap()
            .iter()
            .find(|(id, _)| *id == b_id)
            .unwrap()
            .1;
        assert_eq!(reason, want);
        if flushed {
            assert_eq!(got, b"bye!", "a close flushes what was queued first");
        }
        assert_eq!(
            service.live_sessions(),
            1,
            "the sender's session stays open"
        );
    }
}

one_model!(relay, relay_between_loops);
one_model!(
    cross_loop_close,
    cross_loop_close_and_abort_keep_their_reasons
);
one_model!(mailbox_limit, cross_loop_sends_stop_at_the_mailbox_limit);
