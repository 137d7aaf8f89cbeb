//! The TLS stage against hostile input, sans I/O: a real client hello cut and spoiled at
//! random places, then random bytes, fed in random chunks. Whatever comes in, the stage never
//! panics, says at most one close, passes nothing up after it, owes only what an alert or a
//! handshake flight takes, and a peer that never finishes its handshake is never "ready".

use proptest::prelude::*;

use super::*;
use crate::session::pipeline::Emit;
use crate::tls::TlsConfig;
use rustls::pki_types::ServerName;
use testkit::tls::TestPki;

/// A server-side stage with a fresh test certificate, and a client hello to spoil.
fn stage_and_hello() -> (TlsStage, Vec<u8>) {
    let pki = TestPki::new();
    let config = TlsConfig::from_pem_files(pki.cert_path(), pki.key_path()).unwrap();
    let stage = TlsStage::server(config.server_config()).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut client = rustls::ClientConnection::new(pki.client_config(), name).unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    (stage, hello)
}

/// What came out of feeding the stage.
#[derive(Default)]
struct Seen {
    up: usize,
    down: usize,
    closes: usize,
    up_after_close: usize,
    ready: bool,
}

/// Feeds `data` to `stage` the way the pipeline does: until it reports nothing more.
fn feed(stage: &mut TlsStage, data: &[u8], seen: &mut Seen) {
    let mut at = 0;
    loop {
        let step = stage.input(&data[at..]);
        at += step.consumed;
        match step.emit {
            None => break,
            Some(Emit::Up(bytes)) if seen.closes > 0 => seen.up_after_close += bytes.len(),
            Some(Emit::Up(bytes)) => seen.up += bytes.len(),
            Some(Emit::Down(bytes)) => seen.down += bytes.len(),
            Some(Emit::Signal(Signal::Ready)) => seen.ready = true,
            Some(Emit::Signal(Signal::Close(_) | Signal::Abort(_))) => seen.closes += 1,
            Some(Emit::Signal(Signal::Source(_))) => unreachable!("TLS names no source"),
        }
    }
    assert_eq!(
        at,
        data.len(),
        "every byte taken (or thrown away after the end)"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn spoiled_hellos_and_noise_are_refused_cleanly(
        cut in 0usize..600,
        flips in proptest::collection::vec((0usize..600, any::<u8>()), 0..4),
        noise in proptest::collection::vec(any::<u8>(), 0..3000),
        chunks in proptest::collection::vec(1usize..700, 1..12),
    ) {
        let (mut stage, mut input) = stage_and_hello();
        input.truncate(cut.min(input.len()));
        for (at, byte) in flips {
            if let Some(b) = input.get_mut(at) {
                *b ^= byte | 1;
            }
        }
        input.extend_from_slice(&noise);
        let mut seen = Seen::default();
        let mut rest = &input[..];
        for chunk in chunks.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (now, later) = rest.split_at((*chunk).min(rest.len()));
            feed(&mut stage, now, &mut seen);
            rest = later;
        }
        prop_assert!(seen.closes <= 1, "one close at most");
        prop_assert_eq!(seen.up_after_close, 0);
        prop_assert_eq!(seen.up, 0, "no application data without a handshake");
        prop_assert!(!seen.ready, "a hello alone finishes no handshake");
        prop_assert!(seen.down < 16 * 1024, "a flight or an alert: {}", seen.down);
    }
}
