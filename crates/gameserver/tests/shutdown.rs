//! SIGTERM loses nothing: the real `gameserver` binary, a raw-echo client that floods it
//! without reading (the server pauses the session; io_uring holds receives already in
//! flight), SIGTERM while the client keeps sending, and only then does the client read. Every
//! byte the server read before the signal comes back, in order, before an orderly EOF; the
//! server's final totals (its `stopped` line) balance: read = discarded + echoed.
//!
//! Unix-only: the test signals one child process, which Windows cannot do.

#![cfg(unix)]

mod util;

use std::io::{Read, Write};
use std::net::Shutdown;

use servercore::Model;
use testkit::{both_models, connect, wait_until};
use util::process::{field, Gameserver, STEP};

both_models!(flood_then_sigterm, flood_then_sigterm_body);

/// Byte `offset..offset + len` of an endless deterministic stream.
fn stream_bytes(offset: u64, len: usize) -> Vec<u8> {
    (offset..offset + len as u64)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 13)) as u8)
        .collect()
}

fn flood_then_sigterm_body(model: Model) {
    // A discard budget the flood after the signal passes at once (the default 16 MiB is
    // passed too, but not by every run).
    let mut server = Gameserver::start(
        model,
        &["--lingering-time", "2", "--lingering-bytes", "65536"],
    );
    let mut stream = connect(server.addr);
    let mut writer = stream.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        let mut sent = 0u64;
        while writer.write_all(&stream_bytes(sent, 64 * 1024)).is_ok() {
            sent += 64 * 1024;
        }
        sent
    });
    let paused = wait_until(STEP, || {
        server.scrape_value("gameserver_send_queue_high_water_bytes") >= 256 * 1024
    });
    assert!(
        paused,
        "the flood filled the session's queue past the pause mark"
    );
    server.signal(libc::SIGTERM);
    let mut received = Vec::new();
    stream
        .read_to_end(&mut received)
        .expect("an orderly EOF, not a reset");
    let _ = stream.shutdown(Shutdown::Both); // ends the flood
    let sent = flood.join().unwrap();
    let stopped = server
        .wait_for_line(&[" stopped "])
        .expect("a `stopped` line");
    let total = |key: &str| -> u64 { field(&stopped, key).parse().expect(key) };
    let status = server.wait_exit().expect("exits after the drain");
    assert!(status.success(), "{status:?}");
    let (read, discarded, echoed) = (
        total("bytes_in"),
        total("bytes_discarded"),
        total("bytes_out"),
    );
    println!("{model}: sent {sent}, read {read}, discarded {discarded}, echoed {echoed}");
    assert!(echoed >= 256 * 1024, "the queue came back: {echoed}");
    assert_eq!(
        received.len() as u64,
        echoed,
        "everything echoed reached the client"
    );
    assert_eq!(
        read - discarded,
        echoed,
        "every byte read before the signal was echoed (none held and dropped)"
    );
    assert!(
        received == stream_bytes(0, received.len()),
        "the echo is the stream, in order"
    );
}
