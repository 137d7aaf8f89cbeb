//! PROXY protocol in the shared loop, on both models: the header names the session's peer,
//! per-source limits apply to that client (not to the balancer), health checks count against
//! nobody, and anything else — an untrusted peer, a bad, missing or late header — is closed
//! with its own reason. Ends with a real HAProxy (`send-proxy-v2`) in front.

mod util;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use servercore::proxy::V2_SIGNATURE;
use servercore::{
    AddressList, CloseReason, Context, Handler, Model, ProxyProtocol, Service, ServiceConfig,
    SessionId,
};
use testkit::haproxy::Haproxy;
use util::*;

/// Echo that records each session's peer as the handler sees it, and its close reasons.
#[derive(Default, Clone)]
struct Seen {
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    closed: Arc<Mutex<Vec<CloseReason>>>,
}

struct PeerEcho(Seen);

impl Handler for PeerEcho {
    fn connected(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        self.0
            .peers
            .lock()
            .unwrap()
            .push(ctx.peer_addr(id).unwrap());
    }

    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let _ = ctx.send_copy(id, data);
        data.len()
    }

    fn disconnected(&mut self, _: &mut Context<'_>, _: SessionId, reason: CloseReason) {
        self.0.closed.lock().unwrap().push(reason);
    }
}

fn proxied(model: Model, per_ip: usize) -> ServiceConfig {
    ServiceConfig {
        max_sessions_per_ip: per_ip,
        connect_rate_per_ip: 0,
        trusted_sources: AddressList::empty(),
        proxy_protocol: Some(ProxyProtocol {
            trusted_proxies: "127.0.0.1/32".parse().unwrap(),
            header_timeout: Duration::from_millis(300),
        }),
        farewell: Some(bytes::Bytes::from_static(b"FULL")),
        ..config(model)
    }
}

fn start(config: ServiceConfig) -> (Service<PeerEcho>, Seen) {
    let seen = Seen::default();
    let shared = seen.clone();
    let service = Service::bind(loopback(), config, move |_| PeerEcho(shared.clone())).unwrap();
    (service, seen)
}

fn v1(client: &str, port: u16) -> Vec<u8> {
    format!("PROXY TCP4 {client} 127.0.0.1 {port} 7777\r\n").into_bytes()
}

/// How many sessions closed with reason `name`, once that many have (waiting for it).
fn closed_by<H: Handler>(service: &Service<H>, name: &str, want: u64) -> bool {
    wait_until(Duration::from_secs(30), || {
        let mut all = servercore::LoopStats::default();
        for s in service.stats() {
            all.merge(&s);
        }
        all.closed_by(name) >= want
    })
}

fn the_header_names_the_peer(model: Model) {
    let (service, seen) = start(proxied(model, 64));
    let mut stream = connect(addr(&service));
    let mut hello = v1("203.0.113.7", 5555);
    hello.extend_from_slice(b"hello, right behind the header");
    stream.write_all(&hello).unwrap(); // one write: header and payload together
    assert_eq!(
        read_n(&mut stream, 30).unwrap(),
        b"hello, right behind the header"
    );
    assert_eq!(
        *seen.peers.lock().unwrap(),
        ["203.0.113.7:5555".parse::<SocketAddr>().unwrap()]
    );
}

/// `UNKNOWN` (v1, with or without addresses) and a v2 `PROXY` with an unspecified family:
/// the balancer cannot name the client, so the spec has the connection served under its own
/// addresses (only a v2 `LOCAL` is a health check).
fn an_unknown_client_is_served_as_the_connection(model: Model) {
    let (service, seen) = start(proxied(model, 64));
    let mut v2_unspecified = V2_SIGNATURE.to_vec();
    v2_unspecified.extend_from_slice(&[0x21, 0x00, 0, 0]); // v2 PROXY, no address
    let headers: [&[u8]; 3] = [
        b"PROXY UNKNOWN\r\n",
        b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n",
        &v2_unspecified,
    ];
    for (round, header) in headers.iter().enumerate() {
        let mut stream = connect(addr(&service));
        let own = stream.local_addr().unwrap();
        let mut hello = header.to_vec();
        hello.extend_from_slice(b"served");
        stream.write_all(&hello).unwrap();
        assert_eq!(read_n(&mut stream, 6).unwrap(), b"served", "header {round}");
        assert_eq!(seen.peers.lock().unwrap()[round], own, "its own address");
    }
    assert!(!closed_by_now(&service, "health_check"));
}

/// True if any session has closed with reason `name` so far (no waiting).
fn closed_by_now<H: Handler>(service: &Service<H>, name: &str) -> bool {
    service.stats().iter().any(|s| s.closed_by(name) > 0)
}

fn without_it_a_header_is_just_bytes(model: Model) {
    let (service, seen) = start(config(model));
    let mut stream = connect(addr(&service));
    let header = v1("203.0.113.7", 5555);
    stream.write_all(&header).unwrap();
    assert_eq!(
        read_n(&mut stream, header.len()).unwrap(),
        header,
        "echoed, not trusted"
    );
    assert_eq!(
        seen.peers.lock().unwrap()[0].ip(),
        IpAddr::from([127, 0, 0, 1])
    );
}

/// HAProxy with `send-proxy-v2` and TCP health checks in front of the server: clients from
/// 127.0.0.2 and 127.0.0.3 are limited per their own address; the checks keep the backend
/// up and count against nobody.
fn behind_a_real_haproxy(model: Model) {
    let (service, seen) = start(proxied(model, 1));
    let haproxy = match Haproxy::start(addr(&service)) {
        Ok(h) => h,
        Err(err) => panic!("haproxy (installed by .ci/run) did not start: {err}"),
    };
    assert!(
        wait_until(Duration::from_secs(30), || haproxy
            .backend_stat("status")
            .is_ok_and(|s| s.starts_with("UP"))),
        "health checks keep the backend UP: {}",
        haproxy.log()
    );
    assert!(closed_by(&service, "health_check", 1));
    let front = haproxy.frontend();
    let mut a = connect_from(IpAddr::from([127, 0, 0, 2]), front);
    a.write_all(b"from .2").unwrap();
    assert_eq!(read_n(&mut a, 7).unwrap(), b"from .2");
    let mut b = connect_from(IpAddr::from([127, 0, 0, 3]), front);
    b.write_all(b"from .3").unwrap();
    assert_eq!(read_n(&mut b, 7).unwrap(), b"from .3");
    let mut again = connect_from(IpAddr::from([127, 0, 0, 2]), front);
    again.write_all(b"x").unwrap();
    assert_eq!(
        read_to_eof(&mut again).unwrap_or_default(),
        b"FULL",
        "127.0.0.2's cap is 1"
    );
    let peers: Vec<IpAddr> = seen.peers.lock().unwrap().iter().map(|p| p.ip()).collect();
    assert_eq!(peers.len(), 2, "{peers:?}");
    assert!(peers.contains(&IpAddr::from([127, 0, 0, 2])));
    assert!(peers.contains(&IpAddr::from([127, 0, 0, 3])));
    assert!(closed_by(&service, "refused", 1));
    let mut all = servercore::LoopStats::default();
    for s in service.stats() {
        all.merge(&s);
    }
    assert_eq!(all.refused, 1, "health checks were refused by nobody");
}

one_model!(header_names_peer, the_header_names_the_peer);
one_model!(
    unknown_is_served,
    an_unknown_client_is_served_as_the_connection
);
one_model!(no_proxy_protocol, without_it_a_header_is_just_bytes);
one_model!(
    #[cfg_attr(
        not(target_os = "linux"),
        ignore = "needs HAProxy (the Debian package .ci/run installs) and 127.0.0.2-3 as sources"
    )]
    haproxy,
    behind_a_real_haproxy
);
