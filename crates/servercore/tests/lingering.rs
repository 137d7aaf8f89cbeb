//! Lose nothing on close: a graceful close hands every queued byte to the kernel, shuts down
//! our side (FIN behind the data) and reads and discards the peer's input until its EOF — so
//! unread input never turns the close into a reset that would throw away what the peer has not
//! received yet. Bounded: a peer that never finishes is closed at `lingering_time`.

mod util;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use servercore::{Context, Handler, Model, Service, ServiceConfig, SessionId};
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

both_models!(graceful_stop, graceful_stop_loses_nothing);
