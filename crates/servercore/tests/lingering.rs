//! Lose nothing on close: a graceful close hands every queued byte to the kernel, shuts down
//! our side (FIN behind the data) and reads and discards the peer's input until its EOF — so
//! unread input never turns the close into a reset that would throw away what the peer has not
//! received yet. Bounded: a peer that never finishes is closed at `lingering_time`.

mod util;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use servercore::{CloseReason, Context, Handler, Model, Service, ServiceConfig, SessionId};
use util::*;

/// Echo that counts every byte it was given (all of which it echoes).
struct CountingEcho {
    received: Arc<AtomicUsize>,
}

impl Handler for CountingEcho {
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        if ctx.send_copy(id, data).is_ok() {
            self.received.fetch_add(data.len(), Ordering::SeqCst);
        }
        data.len()
    }
}

/// The scenario of the report: a client with a small receive buffer sends 16 MB and does not
/// read; the server stops (SIGTERM's drain); then the client reads. Every byte the server
/// read and echoed arrives, intact, then EOF — no reset.
fn graceful_stop_loses_nothing(model: Model) {
    const TOTAL: usize = 16 * 1024 * 1024;
    let received = Arc::new(AtomicUsize::new(0));
    let shared = received.clone();
    let config = ServiceConfig {
        threads: 1,
        shutdown_drain: Duration::from_secs(30),
        lingering_time: Duration::from_secs(30),
        lingering_bytes: TOTAL,
        ..config(model)
    };
    let service = Service::bind(loopback(), config, move |_| CountingEcho {
        received: shared.clone(),
    })
    .unwrap();
    let stream = connect(addr(&service));
    socket2::SockRef::from(&stream)
        .set_recv_buffer_size(64 * 1024)
        .unwrap();
    let data = pattern(7, TOTAL);
    let mut writer = stream.try_clone().unwrap();
    let to_send = data.clone();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&to_send); // the server may stop reading for good
        let _ = writer.shutdown(Shutdown::Write);
    });
    // The server reads and echoes until the echoes it cannot deliver pause it.
    assert!(wait_until(Duration::from_secs(30), || received
        .load(Ordering::SeqCst)
        >= 1024 * 1024));
    let stop = service.stop_handle();
    stop.stop();
    let mut reader = stream;
    let mut echoed = Vec::new();
    reader
        .read_to_end(&mut echoed)
        .expect("the echo ends with EOF, not a reset");
    sender.join().unwrap();
    for result in service.wait() {
        result.unwrap();
    }
    let read = received.load(Ordering::SeqCst);
    println!(
        "server read {read} bytes before the stop; the client got {} back",
        echoed.len()
    );
    assert_eq!(echoed.len(), read, "every byte the server read came back");
    assert!(echoed == data[..read], "an intact prefix");
}

/// Closes every session on its first bytes (`Context::close`); records the reasons.
struct CloseOnFirst {
    closed: Arc<Mutex<Vec<CloseReason>>>,
}

impl Handler for CloseOnFirst {
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let _ = ctx.send_copy(id, b"bye");
        ctx.close(id);
        data.len()
    }

    fn disconnected(&mut self, _: &mut Context<'_>, _: SessionId, reason: CloseReason) {
        self.closed.lock().unwrap().push(reason);
    }
}

fn closing(
    model: Model,
    lingering_time: Duration,
) -> (Service<CloseOnFirst>, Arc<Mutex<Vec<CloseReason>>>) {
    let closed = Arc::new(Mutex::new(Vec::new()));
    let shared = closed.clone();
    let config = ServiceConfig {
        lingering_time,
        ..config(model)
    };
    let service = Service::bind(loopback(), config, move |_| CloseOnFirst {
        closed: shared.clone(),
    })
    .unwrap();
    (service, closed)
}

/// After its FIN the server still reads (and discards) what the peer sends, so the peer's
/// late writes do not meet a reset; the peer's EOF ends the close.
fn lingering_reads_until_the_peers_eof(model: Model) {
    let (service, closed) = closing(model, Duration::from_secs(60));
    let mut stream = connect(addr(&service));
    stream.write_all(b"hello").unwrap();
    assert_eq!(
        read_to_eof(&mut stream).unwrap(),
        b"bye",
        "queued bytes, then FIN"
    );
    for _ in 0..64 {
        stream
            .write_all(&[1; 4096])
            .expect("a lingering server takes late input");
    }
    assert_live(&service, 1);
    stream.shutdown(Shutdown::Write).unwrap();
    assert_live(&service, 0);
    assert_eq!(*closed.lock().unwrap(), [CloseReason::Local]);
}

/// A peer that never sends its EOF is closed at `lingering_time`, with the close's reason.
fn lingering_ends_at_its_deadline(model: Model) {
    let (service, closed) = closing(model, Duration::from_millis(300));
    let mut stream = connect(addr(&service));
    stream.write_all(b"hello").unwrap();
    assert_eq!(read_to_eof(&mut stream).unwrap(), b"bye");
    assert_live(&service, 0); // the socket stays open on our side: only the deadline ends it
    assert_eq!(*closed.lock().unwrap(), [CloseReason::Local]);
}

both_models!(graceful_stop, graceful_stop_loses_nothing);
both_models!(lingering_reads_on, lingering_reads_until_the_peers_eof);
both_models!(lingering_deadline, lingering_ends_at_its_deadline);
