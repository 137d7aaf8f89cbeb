//! The TLS stage in the loop, on the fake driver with a manual clock: a real rustls client
//! talks to the loop through the fake socket (what the loop "writes" is what the client
//! reads), so the handshake, the echo, the deadlines, the alerts and the close_notify are
//! tested with no socket and no wall-clock wait. The same stage under both real drivers is
//! `tests/tls.rs`'s.

use std::io::{Read, Write};

use super::sim::Sim;
use super::*;
use crate::session::pipeline::Recipe;
use crate::tls::TlsConfig;
use rfc6455::{masked_frame, ClientHandshake, Opcode, WsConfig};
use rustls::pki_types::ServerName;
use rustls::ClientConnection;
use testkit::tls::TestPki;

const MS: Duration = Duration::from_millis(1);

/// A loop whose port speaks TLS with `pki`'s certificate; handshakes and partial messages
/// held to 1 s.
fn tls_sim(pki: &TestPki) -> (Sim<Echo>, Arc<Mutex<Vec<CloseReason>>>) {
    let tls = TlsConfig::from_pem_files(pki.cert_path(), pki.key_path()).unwrap();
    let config = ServiceConfig {
        tls: Some(tls),
        partial_timeout: Some(1000 * MS),
        idle_timeout: None,
        ..ServiceConfig::default()
    };
    let echo = Echo::default();
    let closed = echo.closed.clone();
    (Sim::new(config, echo), closed)
}

/// The peer: a rustls client, how much of what the loop wrote it has read, and the
/// plaintext that came of it.
struct Peer {
    conn: ClientConnection,
    read: usize,
    got: Vec<u8>,
}

impl Peer {
    fn new(pki: &TestPki) -> Peer {
        let name = ServerName::try_from("localhost").unwrap();
        Peer {
            conn: ClientConnection::new(pki.client_config(), name).unwrap(),
            read: 0,
            got: Vec::new(),
        }
    }

    /// What the client has to send.
    fn outgoing(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            self.conn.write_tls(&mut out).unwrap();
        }
        out
    }

    /// Sends what the client has to `id`; one iteration.
    fn send<H: Handler>(&mut self, sim: &mut Sim<H>, id: SessionId) {
        let out = self.outgoing();
        if !out.is_empty() {
            sim.input(id, &out);
        }
    }

    /// Takes in what the loop wrote to `id` since the last call.
    fn receive<H: Handler>(&mut self, sim: &Sim<H>, id: SessionId) -> Result<(), rustls::Error> {
        let fresh = &sim.written(id)[self.read..];
        self.read += fresh.len();
        let mut rest = fresh;
        while !rest.is_empty() {
            self.conn.read_tls(&mut rest).unwrap();
            self.conn.process_new_packets()?;
            let _ = self.conn.reader().read_to_end(&mut self.got); // WouldBlock at the end
        }
        Ok(())
    }

    /// The plaintext received since the last call.
    fn plaintext(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.got)
    }

    /// Writes `data` as application data (encrypted at the next `send`).
    fn write(&mut self, data: &[u8]) {
        self.conn.writer().write_all(data).unwrap();
    }

    /// The handshake with `id`, to the client's Finished delivered.
    fn handshake<H: Handler>(&mut self, sim: &mut Sim<H>, id: SessionId) {
        for _ in 0..8 {
            self.send(sim, id);
            self.receive(sim, id).unwrap();
            if !self.conn.is_handshaking() {
                self.send(sim, id); // the client's Finished
                return;
            }
        }
        panic!("the handshake did not finish");
    }
}

/// A TLS session on a fresh loop, its handshake done: the loop, its close reasons, the
/// session and its peer.
fn handshaken() -> (Sim<Echo>, Arc<Mutex<Vec<CloseReason>>>, SessionId, Peer) {
    let pki = TestPki::new();
    let (mut sim, closed) = tls_sim(&pki);
    let id = sim.accept([10, 0, 0, 1]).unwrap();
    let mut peer = Peer::new(&pki);
    peer.handshake(&mut sim, id);
    (sim, closed, id, peer)
}

fn introduced<H: Handler>(sim: &Sim<H>, id: SessionId) -> bool {
    sim.core
        .state
        .sessions
        .get(id)
        .is_some_and(|s| s.introduced)
}

fn closed_as<H: Handler>(sim: &Sim<H>, reason: CloseReason) -> u64 {
    sim.stats().closed[reason.index()]
}

#[test]
fn the_handler_hears_of_a_session_after_its_handshake_and_echoes_through_it() {
    let pki = TestPki::new();
    let (mut sim, closed) = tls_sim(&pki);
    let id = sim.accept([10, 0, 0, 1]).unwrap();
    let mut peer = Peer::new(&pki);
    peer.send(&mut sim, id); // ClientHello
    assert!(!introduced(&sim, id), "not before the handshake is done");
    peer.handshake(&mut sim, id);
    assert!(introduced(&sim, id));
    let data = testkit::pattern(7, 40_000); // several records each way
    peer.write(&data);
    peer.send(&mut sim, id);
    peer.receive(&sim, id).unwrap();
    assert_eq!(peer.plaintext(), data);
    assert!(closed.lock().unwrap().is_empty());
}

#[test]
fn a_handshake_not_done_by_the_partial_deadline_is_cut() {
    let pki = TestPki::new();
    let (mut sim, _) = tls_sim(&pki);
    let id = sim.accept([10, 0, 0, 1]).unwrap();
    let hello = Peer::new(&pki).outgoing();
    sim.input(id, &hello[..hello.len() / 2]);
    sim.advance(900 * MS);
    assert!(sim.live(id), "not before the deadline");
    sim.advance(300 * MS);
    sim.step();
    assert!(!sim.live(id));
    assert_eq!(closed_as(&sim, CloseReason::PartialTimeout), 1);
}

#[test]
fn plain_text_on_a_tls_port_gets_an_alert_and_a_close_reason_of_its_own() {
    let pki = TestPki::new();
    let (mut sim, closed) = tls_sim(&pki);
    let id = sim.accept([10, 0, 0, 1]).unwrap();
    sim.input(id, b"Hello World, in plain text\r\n");
    let written = sim.written(id).to_vec();
    assert_eq!(written.first(), Some(&21), "an alert record: {written:?}");
    assert_eq!(sim.driver.shut, [id], "closed after the alert");
    sim.eof(id);
    let reason = CloseReason::TlsHandshake("not TLS (plain text on a TLS port?)");
    assert_eq!(closed_as(&sim, reason), 1);
    assert!(
        closed.lock().unwrap().is_empty(),
        "the handler never heard of it"
    );
}

#[test]
fn a_client_that_refuses_the_certificate_is_closed_with_its_alert_named() {
    let pki = TestPki::new();
    let other = TestPki::new(); // a CA the server's certificate is not from
    let (mut sim, _) = tls_sim(&pki);
    let id = sim.accept([10, 0, 0, 1]).unwrap();
    let mut peer = Peer::new(&other);
    peer.send(&mut sim, id);
    let refused = peer.receive(&sim, id);
    assert!(refused.is_err(), "the client refuses the chain");
    peer.send(&mut sim, id); // its alert
    let reason = CloseReason::TlsHandshake("the peer refused the certificate");
    sim.eof(id);
    assert_eq!(closed_as(&sim, reason), 1);
}

#[test]
fn a_record_left_half_sent_meets_the_partial_deadline() {
    let (mut sim, closed, id, mut peer) = handshaken();
    peer.write(b"a whole record");
    peer.send(&mut sim, id);
    sim.advance(1500 * MS);
    assert!(sim.live(id), "whole records hold nothing");
    peer.write(b"a record sent a few bytes at a time");
    let record = peer.outgoing();
    sim.input(id, &record[..10]);
    sim.advance(900 * MS);
    sim.input(id, &record[10..12]); // progress within the record does not restart it
    sim.advance(300 * MS);
    sim.step();
    sim.eof(id);
    assert_eq!(*closed.lock().unwrap(), [CloseReason::PartialTimeout]);
}

#[test]
fn a_close_ends_with_close_notify_and_the_peer_sees_a_clean_end() {
    let pki = TestPki::new();
    let config = ServiceConfig {
        tls: Some(TlsConfig::from_pem_files(pki.cert_path(), pki.key_path()).unwrap()),
        ..ServiceConfig::default()
    };
    let echo = Echo {
        reply: Some(Box::new(|ctx, id, data| {
            let _ = ctx.send_copy(id, data);
            ctx.close(id);
        })),
        ..Echo::default()
    };
    let mut sim = Sim::new(config, echo);
    let id = sim.accept([10, 0, 0, 1]).unwrap();
    let mut peer = Peer::new(&pki);
    peer.handshake(&mut sim, id);
    peer.write(b"last words");
    peer.send(&mut sim, id);
    peer.receive(&sim, id).unwrap();
    assert_eq!(peer.plaintext(), b"last words");
    let end = peer.conn.reader().read(&mut [0; 1]);
    assert!(
        matches!(end, Ok(0)),
        "close_notify, not a truncation: {end:?}"
    );
    assert_eq!(sim.driver.shut, [id], "then the FIN");
}

#[test]
fn the_peers_close_notify_closes_the_session_as_peer_closed() {
    let (mut sim, closed, id, mut peer) = handshaken();
    peer.write(b"bye");
    peer.conn.send_close_notify();
    peer.send(&mut sim, id);
    peer.receive(&sim, id).unwrap();
    assert_eq!(peer.plaintext(), b"bye", "answered before the close");
    sim.eof(id);
    assert_eq!(*closed.lock().unwrap(), [CloseReason::PeerClosed]);
}

#[test]
fn garbage_after_the_handshake_is_a_tls_error_not_a_handshake_one() {
    let (mut sim, closed, id, _peer) = handshaken();
    let mut forged = vec![23, 3, 3, 0, 40];
    forged.extend([0x5a; 40]); // application data that no key made
    sim.input(id, &forged);
    sim.eof(id);
    assert_eq!(
        *closed.lock().unwrap(),
        [CloseReason::Tls("a record failed to decrypt")]
    );
}

/// WebSocket over TLS (`wss://`): the upgrade's answer and each pong are encrypted as they
/// are made, so a key update the peer asks for between two pings leaves every record in
/// order — the client decrypts both pongs (records out of order would fail its MAC check).
#[test]
fn websocket_over_tls_keeps_records_in_order_across_a_key_update() {
    let pki = TestPki::new();
    let (mut sim, _) = tls_sim(&pki);
    let recipe = Recipe {
        websocket: Some(Arc::new(WsConfig::new(4096))),
        ..Recipe::for_port(sim.core.config())
    };
    let id = sim.accept_with([10, 0, 0, 1], &recipe);
    let mut peer = Peer::new(&pki);
    peer.handshake(&mut sim, id);
    peer.write(ClientHandshake::new().request("localhost", "/").as_bytes());
    peer.send(&mut sim, id);
    peer.receive(&sim, id).unwrap();
    let answer = peer.plaintext();
    assert!(answer.starts_with(b"HTTP/1.1 101"), "{answer:?}");
    assert!(introduced(&sim, id));

    // One batch: a ping, the key update, a ping.
    peer.write(&masked_frame(Opcode::Ping, b"one", [1, 2, 3, 4]));
    let mut batch = peer.outgoing();
    peer.conn.refresh_traffic_keys().unwrap();
    peer.write(&masked_frame(Opcode::Ping, b"two", [5, 6, 7, 8]));
    batch.extend(peer.outgoing());
    sim.input(id, &batch);
    peer.receive(&sim, id).unwrap();
    let pongs = peer.plaintext();
    assert!(pongs.windows(3).any(|w| w == b"one"), "{pongs:?}");
    assert!(pongs.windows(3).any(|w| w == b"two"), "{pongs:?}");
}
