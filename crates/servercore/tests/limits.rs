//! Limits: the session caps (service-wide and per source IP, with several 127.0.0.x source
//! addresses), the packet rate limit, and churn leaving descriptors and sessions at baseline.

mod util;

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use servercore::packet::{encode, Packet, PacketContext, PacketHandler, Packets, RateLimit};
use servercore::{
    AddressList, CloseReason, Context, LoopStats, Model, Service, ServiceConfig, SessionId,
};
use socket2::{Domain, Socket, Type};
use util::*;

const FAREWELL: &[u8] = b"server full\n";

/// Connects from source address `from` (any 127.0.0.0/8 address works on loopback).
fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::new(IpAddr::from(from), 0).into())
        .unwrap();
    socket.connect(&to.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

fn refused(stream: &mut TcpStream) -> bool {
    read_to_eof(stream).is_ok_and(|bytes| bytes == FAREWELL)
}

fn echoes(stream: &mut TcpStream) -> bool {
    stream.write_all(b"ping").is_ok() && read_n(stream, 4).is_ok_and(|b| b == b"ping")
}

fn merged<H: servercore::Handler>(service: &Service<H>) -> LoopStats {
    let mut total = LoopStats::default();
    service.stats().iter().for_each(|s| total.merge(s));
    total
}

fn session_cap(model: Model) {
    let config = ServiceConfig {
        max_sessions: 5,
        farewell: Some(Bytes::from_static(FAREWELL)),
        ..config(model)
    };
    let (service, _) = echo_server(config);
    let addr = addr(&service);
    let mut admitted: Vec<_> = (0..5).map(|_| connect(addr)).collect();
    for s in &mut admitted {
        assert!(echoes(s));
    }
    let mut extra = connect(addr);
    assert!(
        refused(&mut extra),
        "the sixth connection gets the farewell and EOF"
    );
    assert!(
        admitted.iter_mut().all(echoes),
        "the admitted ones are unaffected"
    );
    drop(admitted.pop());
    assert_live(&service, 4);
    let mut again = connect(addr);
    assert!(echoes(&mut again), "a freed slot admits a new session");
    assert!(wait_until(Duration::from_secs(3), || merged(&service)
        .refused
        == 1));
    println!("refused counted: {}", merged(&service).refused);
}

fn per_ip_cap(model: Model) {
    let config = ServiceConfig {
        max_sessions_per_ip: 3,
        connect_rate_per_ip: 0, // the cap alone (the rate has its own test)
        trusted_sources: AddressList::empty(), // loopback clients are limited here
        farewell: Some(Bytes::from_static(FAREWELL)),
        ..config(model)
    };
    let (service, _) = echo_server(config);
    let addr = addr(&service);
    let mut from_one: Vec<_> = (0..3).map(|_| connect_from([127, 0, 0, 1], addr)).collect();
    let mut from_two: Vec<_> = (0..3).map(|_| connect_from([127, 0, 0, 2], addr)).collect();
    for s in from_one.iter_mut().chain(&mut from_two) {
        assert!(echoes(s));
    }
    assert!(refused(&mut connect_from([127, 0, 0, 1], addr)));
    assert!(refused(&mut connect_from([127, 0, 0, 2], addr)));
    let mut from_three = connect_from([127, 0, 0, 3], addr);
    assert!(
        echoes(&mut from_three),
        "another address has its own allowance"
    );
    drop(from_one.pop());
    assert_live(&service, 6);
    assert!(
        echoes(&mut connect_from([127, 0, 0, 1], addr)),
        "released per-IP slot"
    );
}

/// A source that used its burst of new sessions must wait for the connect rate, also after
/// closing them: reconnecting cannot reset per-session limits faster than that.
fn connect_rate_per_source(model: Model) {
    let config = ServiceConfig {
        max_sessions_per_ip: 4,
        connect_rate_per_ip: 5, // one new session per 200 ms after the burst of 4
        trusted_sources: AddressList::empty(),
        farewell: Some(Bytes::from_static(FAREWELL)),
        ..config(model)
    };
    let (service, _) = echo_server(config);
    let addr = addr(&service);
    let burst: Vec<_> = (0..4).map(|_| connect_from([127, 0, 0, 5], addr)).collect();
    for mut s in burst {
        assert!(echoes(&mut s));
    }
    assert_live(&service, 0);
    assert!(
        refused(&mut connect_from([127, 0, 0, 5], addr)),
        "closing the burst gave no new sessions back"
    );
    assert!(
        echoes(&mut connect_from([127, 0, 0, 6], addr)),
        "another source is not affected"
    );
    std::thread::sleep(Duration::from_millis(450));
    assert!(
        echoes(&mut connect_from([127, 0, 0, 5], addr)),
        "the rate refilled a token"
    );
}

/// Echoes packets.
struct PacketEcho;

impl PacketHandler for PacketEcho {
    fn packet(&mut self, ctx: &mut Context<'_>, id: SessionId, packet: Packet<'_>) {
        if let Ok(reply) = ctx.packet(packet.id, packet.body) {
            let _ = ctx.send(id, reply);
        }
    }
}

/// Records close reasons of a packet service, and tells a rate-limited client why with a
/// [`SLOW_DOWN`] packet.
struct Recording {
    closed: std::sync::Arc<std::sync::Mutex<Vec<CloseReason>>>,
}

/// The packet id [`Recording`] sends a client it is closing for its rate.
const SLOW_DOWN: u16 = 99;

impl PacketHandler for Recording {
    fn packet(&mut self, ctx: &mut Context<'_>, id: SessionId, packet: Packet<'_>) {
        PacketEcho.packet(ctx, id, packet);
    }

    fn rate_limited(&mut self, ctx: &mut Context<'_>, id: SessionId, limit: RateLimit) {
        let _ = ctx.send_packet(id, SLOW_DOWN, &limit.per_sec.to_le_bytes());
    }

    fn disconnected(&mut self, _ctx: &mut Context<'_>, _id: SessionId, reason: CloseReason) {
        self.closed.lock().unwrap().push(reason);
    }
}

/// A packet echo service limited to 50 packets/s (burst 20), with the given trusted sources.
fn rate_limited_service(
    model: Model,
    trusted_sources: AddressList,
) -> (Service<Packets<Recording>>, Reasons) {
    let limit = RateLimit {
        per_sec: 50,
        burst: 20,
    };
    let closed = Reasons::default();
    let shared = closed.clone();
    let config = ServiceConfig {
        trusted_sources,
        ..config(model)
    };
    let service = Service::bind(loopback(), config, move |_| {
        Packets::new(
            Recording {
                closed: shared.clone(),
            },
            4096,
        )
        .with_rate_limit(limit)
    })
    .unwrap();
    (service, closed)
}

type Reasons = std::sync::Arc<std::sync::Mutex<Vec<CloseReason>>>;

fn rate_limit(model: Model) {
    // Loopback is trusted by default: this test's clients must not be.
    let (service, closed) = rate_limited_service(model, AddressList::empty());
    let addr = addr(&service);
    let packet = encode(1, b"tick").unwrap();
    // A polite client: 20 packets/s for 1 s stays under 50/s.
    let mut polite = connect(addr);
    for _ in 0..20 {
        polite.write_all(&packet).unwrap();
        assert_eq!(read_n(&mut polite, packet.len()).unwrap(), packet.to_vec());
        std::thread::sleep(Duration::from_millis(50));
    }
    // A flood: 1,000 packets at once is far over the burst of 20.
    let mut flood = connect(addr);
    let _ = flood.write_all(&packet.repeat(1000));
    // The cut is graceful: the echoes the burst paid for arrive, then why (the handler's
    // SLOW_DOWN packet), then EOF (not a reset).
    let mut echoed = read_to_eof(&mut flood).expect("EOF after the paid-for echoes");
    flood.shutdown(std::net::Shutdown::Write).unwrap(); // ends the server's lingering close
    let why = encode(SLOW_DOWN, &50u32.to_le_bytes()).unwrap();
    assert!(echoed.ends_with(&why), "no SLOW_DOWN last: {echoed:?}");
    echoed.truncate(echoed.len() - why.len());
    assert!(echoed.chunks(packet.len()).all(|p| p == &packet[..]));
    let echoed = echoed.len() / packet.len();
    println!("flood: {echoed} of 1000 packets echoed before the cut (burst 20)");
    assert!(
        (20..=21).contains(&echoed),
        "the burst is served, no more: {echoed}"
    );
    let cut = wait_until(Duration::from_secs(5), || {
        !closed.lock().unwrap().is_empty()
    });
    assert!(cut, "the flooder was never closed");
    assert_eq!(*closed.lock().unwrap(), vec![CloseReason::RateLimited]);
    assert!(
        echoes_packet(&mut polite, &packet),
        "the polite client is unaffected"
    );
}

/// A trusted source (loopback, by default) is not held to the packet rate: a flood of 1,000
/// packets is echoed whole and the session stays open.
fn rate_limit_spares_trusted(model: Model) {
    let (service, closed) = rate_limited_service(model, AddressList::loopback());
    let mut flood = connect(addr(&service));
    let packet = encode(1, b"tick").unwrap();
    let burst = packet.repeat(1000);
    flood.write_all(&burst).unwrap();
    assert_eq!(read_n(&mut flood, burst.len()).unwrap(), burst);
    assert!(echoes_packet(&mut flood, &packet), "still open");
    assert!(closed.lock().unwrap().is_empty());
}

fn echoes_packet(stream: &mut TcpStream, packet: &[u8]) -> bool {
    stream.write_all(packet).is_ok() && read_n(stream, packet.len()).is_ok_and(|b| b == packet)
}

both_models!(session_cap_refuses_with_farewell, session_cap);
both_models!(
    #[cfg_attr(
        target_os = "macos",
        ignore = "macOS has only 127.0.0.1 on lo0: `sudo ifconfig lo0 alias 127.0.0.N` for N = 2..6, then --ignored"
    )]
    per_ip_cap_counts_each_address,
    per_ip_cap
);
both_models!(packet_rate_limit, rate_limit);
both_models!(
    packet_rate_limit_spares_trusted_sources,
    rate_limit_spares_trusted
);
both_models!(
    #[cfg_attr(
        target_os = "macos",
        ignore = "macOS has only 127.0.0.1 on lo0: `sudo ifconfig lo0 alias 127.0.0.N` for N = 2..6, then --ignored"
    )]
    connect_rate,
    connect_rate_per_source
);
