//! Shutdown: stopping a service closes every session (clients see EOF, handlers see
//! `Shutdown`) and returns the handlers; dropping it does the same.

mod util;

use std::io::Write;

use servercore::{CloseReason, Model};
use util::*;

fn stop_closes_every_session(model: Model) {
    let (service, closed) = echo_server(config(model));
    let mut streams: Vec<_> = (0..10).map(|_| connect(addr(&service))).collect();
    for s in &mut streams {
        s.write_all(b"ping").unwrap();
        assert_eq!(read_n(s, 4).unwrap(), b"ping");
    }
    assert_live(&service, 10);
    let handlers = service.stop();
    assert_eq!(handlers.len(), 2);
    assert!(handlers.iter().all(|h| h.is_ok()));
    for s in &mut streams {
        assert_eq!(read_to_eof(s).unwrap(), b"", "client sees an orderly close");
    }
    let reasons = closed.lock().unwrap().clone();
    assert_eq!(reasons.len(), 10);
    assert!(
        reasons.iter().all(|r| *r == CloseReason::Shutdown),
        "{reasons:?}"
    );
}

fn drop_stops_the_service(model: Model) {
    let (service, closed) = echo_server(config(model));
    let addr = addr(&service);
    let mut stream = connect(addr);
    assert_live(&service, 1);
    drop(service);
    assert_eq!(read_to_eof(&mut stream).unwrap(), b"");
    assert_eq!(*closed.lock().unwrap(), vec![CloseReason::Shutdown]);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "listener closed"
    );
}

one_model!(stop, stop_closes_every_session);
one_model!(drop_service, drop_stops_the_service);

/// Queues `BYTES` for the client when it says "go".
struct Dump;

const BYTES: usize = 3 * 1024 * 1024; // under the 4 MiB send-queue limit

impl servercore::Handler for Dump {
    fn received(
        &mut self,
        ctx: &mut servercore::Context<'_>,
        id: servercore::SessionId,
        data: &[u8],
    ) -> usize {
        let block = ctx.alloc(BYTES, |b| b.extend_from_slice(&pattern(1, BYTES)));
        let _ = ctx.send(id, block);
        data.len()
    }
}

fn queued_data_is_delivered_before_close(model: Model) {
    let service =
        servercore::Service::bind(loopback(), config(model), |_| Dump).expect("start server");
    let mut stream = connect(addr(&service));
    stream.write_all(b"go").unwrap();
    assert!(wait_until(std::time::Duration::from_secs(5), || service
        .live_sessions()
        == 1));
    let queued = wait_until(std::time::Duration::from_secs(10), || {
        service
            .stats()
            .iter()
            .any(|s| s.send_queue_high_water >= BYTES as u64)
    });
    assert!(queued, "the block was queued before the stop");
    let stopper = std::thread::spawn(move || service.stop());
    let received = read_to_eof(&mut stream).expect("read until the server closes");
    assert_eq!(
        received.len(),
        BYTES,
        "everything queued was delivered before the close"
    );
    assert!(received == pattern(1, BYTES));
    assert!(stopper.join().unwrap().iter().all(|h| h.is_ok()));
}

one_model!(graceful_drain, queued_data_is_delivered_before_close);

/// A client floods the server without reading (the server pauses it: backpressure, and on
/// io_uring receives already in flight are held), then the service stops while the client
/// keeps sending; only then does the client read. Everything the server read before the stop
/// must be answered and reach the client, followed by an orderly EOF; what the client sent
/// after the stop is read and thrown away (counted), never allowed to cut the queue short.
fn a_sender_that_never_reads_loses_nothing_at_stop(model: Model) {
    let config = servercore::ServiceConfig {
        // A small discard budget: the flood after the stop passes it at once.
        lingering_bytes: 256 * 1024,
        lingering_time: std::time::Duration::from_secs(2),
        ..config(model)
    };
    let pause = config.send_queue_pause as u64;
    let service = servercore::Service::bind(loopback(), config, |_| CountingEcho::default())
        .expect("start server");
    let mut stream = connect(addr(&service));
    let mut writer = stream.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        let mut sent = 0u64;
        while writer.write_all(&stream_bytes(sent, 64 * 1024)).is_ok() {
            sent += 64 * 1024;
        }
        sent
    });
    wait_for_pause(&service, pause);
    let stopper = std::thread::spawn(move || service.stop_with_stats());
    let received = read_to_eof(&mut stream).expect("an orderly EOF, not a reset");
    let _ = stream.shutdown(std::net::Shutdown::Both); // ends the flood
    let sent = flood.join().unwrap();
    let (handlers, stats) = stopper.join().unwrap();
    let shown: u64 = handlers.into_iter().map(|h| h.unwrap().shown).sum();
    let mut total = servercore::LoopStats::default();
    stats.iter().for_each(|s| total.merge(s));
    println!(
        "{model}: sent {sent}, read {}, shown {shown}, discarded {}, received {}, held at most {}",
        total.bytes_in,
        total.bytes_discarded,
        received.len(),
        total.recv_held_high_water
    );
    assert!(received.len() as u64 >= pause, "the queue came back");
    assert_eq!(
        received.len() as u64,
        shown,
        "every byte the handler was shown was echoed and delivered"
    );
    assert_eq!(
        total.bytes_in - total.bytes_discarded,
        shown,
        "every byte read before the stop was shown to the handler (none dropped unseen)"
    );
    assert!(
        received == stream_bytes(0, received.len()),
        "the echo is the stream, in order"
    );
}

both_models!(
    flood_then_stop,
    a_sender_that_never_reads_loses_nothing_at_stop
);
