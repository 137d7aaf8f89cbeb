//! TLS over real sockets: rustls clients against a service whose port speaks TLS, on both
//! I/O models where each does its own thing (many clients at once, a flood at shutdown: the
//! io_uring driver reads ahead where epoll does not), once for the rest (a certificate
//! reloaded under running sessions, the client side through `Service::adopt_tls`). The
//! stage's protocol cases (alerts, deadlines, close_notify, record order) run on the fake
//! driver in `src/loop_core/tests/tls.rs`.

mod util;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use servercore::tls::rustls::pki_types::ServerName;
use servercore::tls::rustls::{self, ClientConnection, ProtocolVersion};
use servercore::tls::TlsConfig;
use servercore::{
    CloseReason, Context, Handler, LoopStats, Model, Service, ServiceConfig, SessionId,
};
use testkit::tls::{tls_connect, tls_echo, tls_over, TestPki};
use util::*;

fn tls_config(model: Model, pki: &TestPki) -> ServiceConfig {
    ServiceConfig {
        tls: Some(TlsConfig::from_pem_files(pki.cert_path(), pki.key_path()).unwrap()),
        ..config(model)
    }
}

/// Clients on TLS 1.3 and 1.2 echo messages of every size from 1 byte to several records,
/// all at once, while others send plain text to the TLS port and are turned away with an
/// alert: every byte comes back, and the broken clients touch no one else.
fn many_clients_echo_over_tls(model: Model) {
    let pki = TestPki::new();
    let (service, closed) = echo_server(tls_config(model, &pki));
    let addr = addr(&service);
    let clients: Vec<_> = (0..12u64)
        .map(|i| {
            let version = match i % 2 {
                0 => &rustls::version::TLS13,
                _ => &rustls::version::TLS12,
            };
            let config = pki.client_config_with(&[version]);
            std::thread::spawn(move || {
                let mut tls = tls_connect(addr, config).expect("handshake");
                for round in 0..60u64 {
                    let len = [1, 100, 1500, 16_384, 40_000][(round % 5) as usize];
                    let data = pattern(i * 1000 + round, len);
                    assert_eq!(tls_echo(&mut tls, &data).unwrap(), data);
                }
                tls.conn.protocol_version()
            })
        })
        .collect();
    let plain: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut tcp = connect(addr);
                let _ = tcp.write_all(b"Hello World\r\n\r\n");
                read_to_eof(&mut tcp).unwrap_or_default()
            })
        })
        .collect();
    let versions: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(versions.contains(&Some(ProtocolVersion::TLSv1_3)));
    assert!(versions.contains(&Some(ProtocolVersion::TLSv1_2)));
    for answer in plain {
        let answer = answer.join().unwrap();
        assert_eq!(
            answer.first(),
            Some(&21),
            "an alert record, then EOF: {answer:?}"
        );
    }
    let stats = merged(&service.stop_with_stats().1);
    let refused = CloseReason::TlsHandshake("not TLS (plain text on a TLS port?)");
    assert_eq!(stats.closed[refused.index()], 4);
    let reasons = closed.lock().unwrap().clone();
    assert_eq!(
        reasons.len(),
        12,
        "the handler heard of the TLS clients only"
    );
}

both_models!(many_clients, many_clients_echo_over_tls);

/// A TLS client floods the server without reading, and keeps sending while the service
/// stops (io_uring's receives in flight, epoll's reads that stop at the pause): everything
/// the handler was shown comes back decrypted, in order, then close_notify and an orderly
/// EOF — no reset, nothing lost to what the peer sent after the stop.
fn a_tls_sender_that_never_reads_loses_nothing_at_stop(model: Model) {
    const FLOOD: usize = 24 * 1024 * 1024;
    let pki = TestPki::new();
    let config = ServiceConfig {
        lingering_bytes: 256 * 1024,
        lingering_time: Duration::from_secs(2),
        ..tls_config(model, &pki)
    };
    let pause = config.send_queue_pause as u64;
    let service = Service::bind(loopback(), config, |_| CountingEcho::default()).unwrap();
    let tcp = connect(addr(&service));
    let mut tls = tls_over(tcp.try_clone().unwrap(), pki.client_config()).unwrap();
    // The flood's records, made up front: the socket is written raw from another thread
    // while this one reads.
    let mut flood = Vec::with_capacity(FLOOD + FLOOD / 100);
    for offset in (0..FLOOD).step_by(64 * 1024) {
        tls.conn
            .writer()
            .write_all(&stream_bytes(offset as u64, 64 * 1024))
            .unwrap();
        while tls.conn.wants_write() {
            tls.conn.write_tls(&mut flood).unwrap();
        }
    }
    let mut writer = tcp.try_clone().unwrap();
    let flooder = std::thread::spawn(move || writer.write_all(&flood).is_ok());
    wait_for_pause(&service, pause);
    let stopper = std::thread::spawn(move || service.stop_with_stats());
    let mut raw = Vec::new();
    let mut reader = tcp.try_clone().unwrap();
    reader
        .read_to_end(&mut raw)
        .expect("an orderly EOF, not a reset");
    let _ = tcp.shutdown(Shutdown::Both); // ends the flood
    let _ = flooder.join().unwrap();
    let (handlers, _) = stopper.join().unwrap();
    let shown: u64 = handlers.into_iter().map(|h| h.unwrap().shown).sum();
    let (echoed, clean) = decrypt(&mut tls.conn, &raw);
    println!("{model}: shown {shown}, echoed {}", echoed.len());
    assert!(echoed.len() as u64 >= pause, "the queue came back");
    assert_eq!(
        echoed.len() as u64,
        shown,
        "every byte shown was echoed and delivered"
    );
    assert!(echoed == stream_bytes(0, echoed.len()), "in order");
    assert!(clean, "the stream ended with close_notify");
}

both_models!(
    flood_then_stop,
    a_tls_sender_that_never_reads_loses_nothing_at_stop
);

/// Feeds `raw` to `conn`; the plaintext, and whether close_notify ended it.
fn decrypt(conn: &mut ClientConnection, mut raw: &[u8]) -> (Vec<u8>, bool) {
    let mut plain = Vec::new();
    while !raw.is_empty() {
        conn.read_tls(&mut raw).unwrap();
        conn.process_new_packets().unwrap();
        let _ = conn.reader().read_to_end(&mut plain);
    }
    let clean = matches!(conn.reader().read(&mut [0; 1]), Ok(0));
    (plain, clean)
}

/// A reload serves the new certificate to new handshakes; a session opened before it goes
/// on with the old one, undisturbed.
fn a_reload_reaches_new_sessions_only(model: Model) {
    let mut pki = TestPki::new();
    let tls = TlsConfig::from_pem_files(pki.cert_path(), pki.key_path()).unwrap();
    let config = ServiceConfig {
        tls: Some(tls.clone()),
        ..config(model)
    };
    let (service, _) = echo_server(config);
    let addr = addr(&service);
    let mut old = tls_connect(addr, pki.client_config()).unwrap();
    let first = pki.server_cert().clone();
    assert_eq!(old.conn.peer_certificates().unwrap()[0], first);

    pki.renew();
    tls.reload().unwrap();
    let mut new = tls_connect(addr, pki.client_config()).unwrap();
    assert_eq!(new.conn.peer_certificates().unwrap()[0], *pki.server_cert());
    assert_ne!(*pki.server_cert(), first);
    assert_eq!(tls_echo(&mut old, b"still here").unwrap(), b"still here");
    assert_eq!(tls_echo(&mut new, b"new here").unwrap(), b"new here");

    // A broken file is refused and the current certificate stays.
    std::fs::write(pki.key_path(), b"not a key").unwrap();
    assert!(tls.reload().is_err());
    let mut after = tls_connect(addr, pki.client_config()).unwrap();
    assert_eq!(
        after.conn.peer_certificates().unwrap()[0],
        *pki.server_cert()
    );
    assert_eq!(tls_echo(&mut after, b"ok").unwrap(), b"ok");
}

one_model!(reload, a_reload_reaches_new_sessions_only);

/// The client side in the loop: sockets adopted with a started rustls client connection
/// finish their handshakes there, and the handler hears of each when it is done.
#[derive(Default)]
struct Greeter {
    echoed: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Handler for Greeter {
    fn connected(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        let _ = ctx.send_copy(id, format!("hello from {id}").as_bytes());
    }

    fn received(&mut self, _: &mut Context<'_>, _: SessionId, data: &[u8]) -> usize {
        self.echoed.lock().unwrap().push(data.to_vec());
        data.len()
    }
}

fn adopted_tls_clients_shake_hands_in_the_loop(model: Model) {
    let pki = TestPki::new();
    let (server, _) = echo_server(tls_config(model, &pki));
    let echoed = Arc::new(Mutex::new(Vec::new()));
    let shared = echoed.clone();
    let clients = Service::unbound(config(model), move |_| Greeter {
        echoed: shared.clone(),
    })
    .unwrap();
    for _ in 0..8 {
        let tcp = TcpStream::connect(addr(&server)).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(pki.client_config(), name).unwrap();
        clients.adopt_tls(tcp, conn);
    }
    let all = wait_until(Duration::from_secs(20), || {
        let got = echoed.lock().unwrap();
        got.iter().map(Vec::len).sum::<usize>() >= 8 * "hello from 0.0.0".len()
    });
    assert!(
        all,
        "every client's greeting came back: {:?}",
        echoed.lock().unwrap()
    );
    let text: Vec<u8> = echoed.lock().unwrap().concat();
    assert_eq!(
        String::from_utf8(text)
            .unwrap()
            .matches("hello from")
            .count(),
        8
    );
    clients.stop();
    server.stop();
}

one_model!(adopt_tls, adopted_tls_clients_shake_hands_in_the_loop);

fn merged(stats: &[LoopStats]) -> LoopStats {
    let mut total = LoopStats::default();
    stats.iter().for_each(|s| total.merge(s));
    total
}
