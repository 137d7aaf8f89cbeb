//! The loop's policies in simulated time: idle and partial-message timeouts, the lingering
//! close, the drain deadline, the send tick, the preludes' deadlines (a PROXY header, a
//! WebSocket upgrade), admission and the packet rate — on the fake driver (no socket) with a
//! [`ManualClock`] (no wall-clock wait): each test moves time exactly past a deadline.

use std::net::SocketAddr;

use super::*;
use crate::packet::{encode, PacketContext, PacketHandler, Packets, RateLimit};
use crate::proxy::V2_SIGNATURE;
use crate::session::Transport;
use crate::{AddressList, ProxyProtocol};
use rfc6455::{masked_frame, ClientHandshake, Opcode, WsConfig};

use super::sim::Sim;

/// Echo that records close reasons (shared with `Sim` callers).
fn echo() -> (Echo, Arc<Mutex<Vec<CloseReason>>>) {
    let echo = Echo::default();
    let closed = echo.closed.clone();
    (echo, closed)
}

fn timeouts(idle: u64, partial: u64) -> ServiceConfig {
    ServiceConfig {
        idle_timeout: Some(Duration::from_millis(idle)),
        partial_timeout: Some(Duration::from_millis(partial)),
        ..ServiceConfig::default()
    }
}

const MS: Duration = Duration::from_millis(1);

#[test]
fn an_idle_session_is_closed_at_the_idle_timeout_and_a_talking_one_is_not() {
    let (echo, closed) = echo();
    let mut sim = Sim::new(timeouts(400, 10_000), echo);
    let quiet = sim.accept([10, 0, 0, 1]).unwrap();
    let talker = sim.accept([10, 0, 0, 2]).unwrap();
    for _ in 0..7 {
        sim.advance(100 * MS); // 700 ms in all
        sim.input(talker, b"still here");
    }
    assert_eq!(
        sim.driver.shut,
        [quiet],
        "the quiet one closed gracefully: our FIN"
    );
    sim.eof(quiet);
    assert_eq!(*closed.lock().unwrap(), [CloseReason::IdleTimeout]);
    assert!(sim.live(talker));
    assert_eq!(sim.written(talker).len(), 7 * 10, "every echo left");
}

#[test]
fn the_idle_timeout_fires_at_its_deadline_and_not_before() {
    let (echo, closed) = echo();
    let mut sim = Sim::new(timeouts(1000, 10_000), echo);
    let id = sim.accept([10, 0, 0, 1]).unwrap();
    for _ in 0..39 {
        sim.advance(25 * MS); // 975 ms: just before the deadline
    }
    assert!(closed.lock().unwrap().is_empty(), "not before the deadline");
    sim.advance(25 * MS);
    sim.advance(250 * MS); // the sweep runs a quarter of the timeout apart at most
    assert_eq!(
        *closed.lock().unwrap(),
        [] as [CloseReason; 0],
        "lingering first"
    );
    assert_eq!(sim.driver.shut, [id], "closed gracefully: our FIN");
    sim.eof(id);
    assert_eq!(*closed.lock().unwrap(), [CloseReason::IdleTimeout]);
}

/// An echo of whole 4-byte records that keeps the rest (a "packet" handler in miniature).
fn records() -> Echo {
    Echo {
        reply: Some(Box::new(|ctx, id, data| {
            let whole = data.len() / 4 * 4;
            let _ = ctx.send_copy(id, &data[..whole]);
        })),
        ..Echo::default()
    }
}

/// `records()` consumes only whole records: the handler returns what it used.
struct Records(Echo);

impl Handler for Records {
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let whole = data.len() / 4 * 4;
        if whole > 0 {
            let _ = ctx.send_copy(id, &data[..whole]);
        }
        whole
    }

    fn disconnected(&mut self, ctx: &mut Context<'_>, id: SessionId, reason: CloseReason) {
        self.0.disconnected(ctx, id, reason);
    }
}

#[test]
fn a_slowloris_is_cut_at_the_partial_deadline_while_progress_is_not() {
    let records = Records(records());
    let closed = records.0.closed.clone();
    let mut sim = Sim::new(timeouts(60_000, 1000), records);
    let slow = sim.accept([10, 0, 0, 1]).unwrap();
    let steady = sim.accept([10, 0, 0, 2]).unwrap();
    sim.input(slow, b"ab"); // half a record, then a byte now and then, never the rest
    for i in 0..11 {
        sim.advance(100 * MS);
        if i == 4 {
            sim.input(slow, b"c");
        }
        // Each read ends mid-record but completes one: progress.
        sim.input(steady, if i % 2 == 0 { b"12345" } else { b"678" });
    }
    sim.advance(300 * MS);
    sim.eof(slow);
    let reasons = closed.lock().unwrap().clone();
    assert_eq!(reasons, [CloseReason::PartialTimeout], "only the slowloris");
    assert!(sim.live(steady));
    assert_eq!(sim.written(steady).len() % 4, 0);
    assert!(sim.written(steady).len() >= 36);
}

#[test]
fn the_partial_clock_stands_still_while_reading_is_paused() {
    let records = Records(records());
    let closed = records.0.closed.clone();
    let config = ServiceConfig {
        send_queue_pause: 8,
        ..timeouts(60_000, 1000)
    };
    let mut sim = Sim::new(config, records);
    sim.driver.capacity = 0; // the peer reads nothing
    let id = sim.accept([10, 0, 0, 1]).unwrap();
    sim.input(id, b"12345678ab"); // echo of 8 pauses reading; "ab" held
    for _ in 0..30 {
        sim.advance(100 * MS); // 3 s paused: no partial timeout
    }
    assert!(
        closed.lock().unwrap().is_empty(),
        "paused: not the peer's partial"
    );
    sim.driver.capacity = usize::MAX;
    sim.driver.events.push(Event::Writable(id));
    sim.step(); // resumed: the clock restarts
    for _ in 0..9 {
        sim.advance(100 * MS);
    }
    assert!(closed.lock().unwrap().is_empty());
    sim.advance(300 * MS);
    sim.eof(id);
    assert_eq!(*closed.lock().unwrap(), [CloseReason::PartialTimeout]);
}

#[test]
fn lingering_reads_until_the_peers_eof_or_its_deadline() {
    let closes_on_input = Echo {
        reply: Some(Box::new(|ctx, id, _| ctx.close(id))),
        ..Echo::default()
    };
    let closed = closes_on_input.closed.clone();
    let config = ServiceConfig {
        lingering_time: Duration::from_secs(5),
        ..ServiceConfig::default()
    };
    let mut sim = Sim::new(config, closes_on_input);
    let finishes = sim.accept([10, 0, 0, 1]).unwrap();
    let never = sim.accept([10, 0, 0, 2]).unwrap();
    sim.input(finishes, b"bye");
    sim.input(never, b"bye");
    assert_eq!(sim.driver.shut, [finishes, never], "both FINs sent");
    sim.input(finishes, b"late words"); // read and thrown away, no reset
    assert_eq!(sim.stats().bytes_discarded, 10);
    sim.eof(finishes);
    assert_eq!(*closed.lock().unwrap(), [CloseReason::Local]);
    for _ in 0..49 {
        sim.advance(100 * MS); // 4.9 s
    }
    assert!(sim.live(never), "lingering until its deadline");
    sim.advance(1100 * MS);
    sim.step();
    assert_eq!(
        *closed.lock().unwrap(),
        [CloseReason::Local, CloseReason::Local]
    );
    assert_eq!(sim.driver.closed, [finishes, never]);
}

#[test]
fn a_stop_drains_then_gives_up_at_the_drain_deadline() {
    let (echo, closed) = echo();
    let config = ServiceConfig {
        shutdown_drain: Duration::from_secs(2),
        ..ServiceConfig::default()
    };
    let mut sim = Sim::new(config, echo);
    sim.driver.capacity = 0; // the peer reads nothing: its echo never leaves
    let id = sim.accept([10, 0, 0, 1]).unwrap();
    sim.input(id, b"stuck");
    sim.core.mailbox().request_stop();
    assert!(sim.step(), "draining");
    for _ in 0..19 {
        assert!(sim.advance(100 * MS), "still draining before the deadline");
    }
    assert!(!sim.advance(100 * MS), "the deadline: the loop ends");
    assert!(sim.live(id), "closed by the run's end, not by the drain");
    assert!(closed.lock().unwrap().is_empty());
}

#[test]
fn the_send_tick_holds_output_and_sends_it_in_one_write() {
    let (echo, _) = echo();
    let config = ServiceConfig {
        flush_interval: Some(Duration::from_millis(20)),
        ..ServiceConfig::default()
    };
    let mut sim = Sim::new(config, echo);
    let id = sim.accept([10, 0, 0, 1]).unwrap();
    for chunk in [&b"one,"[..], b"two,", b"three"] {
        sim.input(id, chunk);
        sim.advance(5 * MS);
    }
    assert!(sim.written(id).is_empty(), "held for the tick");
    sim.advance(10 * MS);
    assert_eq!(sim.written(id), b"one,two,three");
    assert_eq!(sim.driver.writes, 1, "one write for the tick");
}

fn proxied(header_ms: u64) -> ServiceConfig {
    ServiceConfig {
        proxy_protocol: Some(ProxyProtocol {
            trusted_proxies: "10.0.0.0/8".parse().unwrap(),
            header_timeout: Duration::from_millis(header_ms),
        }),
        trusted_sources: AddressList::empty(),
        farewell: Some(Bytes::from_static(b"FULL")),
        ..ServiceConfig::default()
    }
}

#[test]
fn a_proxy_header_names_the_peer_and_a_late_one_is_cut_at_its_deadline() {
    let (echo, closed) = echo();
    let mut sim = Sim::new(proxied(300), echo);
    let named = sim.accept([10, 0, 0, 1]).unwrap();
    sim.input(named, b"PROXY TCP4 203.0.113.7 10.0.0.9 5555 7777\r\nhel");
    sim.input(named, b"lo");
    let peer = sim.core.state.sessions.get(named).unwrap().peer;
    assert_eq!(peer, "203.0.113.7:5555".parse::<SocketAddr>().unwrap());
    assert_eq!(
        sim.written(named),
        b"hello",
        "the bytes behind the header, then more"
    );
    assert!(
        matches!(
            sim.core.state.sessions.get(named).unwrap().transport,
            Transport::Raw
        ),
        "the stage stepped aside: a raw session"
    );
    let silent = sim.accept([10, 0, 0, 2]).unwrap();
    sim.input(silent, b"PROXY TCP4 "); // and never the rest
    sim.advance(200 * MS);
    assert!(sim.live(silent));
    sim.advance(200 * MS);
    assert!(!sim.live(silent));
    assert_eq!(sim.stats().closed_by("proxy_header_timeout"), 1);
    let untrusted = sim.accept([192, 168, 0, 1]);
    assert!(untrusted.is_none(), "closed at once");
    assert_eq!(sim.stats().closed_by("untrusted_proxy"), 1);
    let mut local = V2_SIGNATURE.to_vec();
    local.extend_from_slice(&[0x20, 0x00, 0, 0]);
    let check = sim.accept([10, 0, 0, 3]).unwrap();
    sim.input(check, &local);
    assert!(!sim.live(check));
    assert_eq!(sim.stats().closed_by("health_check"), 1);
    assert!(
        closed.lock().unwrap().is_empty(),
        "none of them reached the handler"
    );
    assert_eq!(
        sim.stats().accepted,
        sim.stats().closed_total() + 1,
        "counters balance"
    );
}

#[test]
fn a_refused_proxied_client_gets_the_farewell_and_a_truncated_header_is_a_bad_one() {
    let (echo, closed) = echo();
    let config = ServiceConfig {
        max_sessions_per_ip: 1,
        ..proxied(3000)
    };
    let mut sim = Sim::new(config, echo);
    let first = sim.accept([10, 0, 0, 1]).unwrap();
    sim.input(first, b"PROXY TCP4 203.0.113.7 10.0.0.9 1 7777\r\n");
    let second = sim.accept([10, 0, 0, 1]).unwrap();
    sim.input(second, b"PROXY TCP4 203.0.113.7 10.0.0.9 2 7777\r\n");
    assert_eq!(
        sim.written(second),
        b"FULL",
        "refused under the named client's cap"
    );
    assert_eq!(sim.stats().refused, 1);
    let cut = sim.accept([10, 0, 0, 2]).unwrap();
    sim.input(cut, b"PROXY TCP");
    sim.eof(cut);
    assert_eq!(sim.stats().closed_by("proxy_header"), 1);
    assert!(sim.live(first));
    assert!(closed.lock().unwrap().is_empty());
}

#[test]
fn a_websocket_upgrade_is_held_to_the_partial_deadline() {
    let (echo, closed) = echo();
    let mut sim = Sim::new(timeouts(60_000, 500), echo);
    let id = sim.accept_websocket([10, 0, 0, 1], WsConfig::new(4096));
    sim.input(id, b"GET / HTTP/1.1\r\nHost: x\r\n"); // and never the blank line
    sim.advance(400 * MS);
    assert!(sim.live(id));
    sim.advance(200 * MS);
    assert!(!sim.live(id));
    assert_eq!(sim.stats().closed_by("partial_timeout"), 1);
    assert!(closed.lock().unwrap().is_empty(), "never introduced");
}

/// The client side of an upgrade: the request, and the length of the 101 response.
fn upgrade() -> (Vec<u8>, usize) {
    let request = ClientHandshake::new().request("x", "/");
    let key = request
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap()
        .to_owned();
    let response = rfc6455::answer_request(request.as_bytes(), 8192, None)
        .unwrap()
        .unwrap();
    let _ = key;
    let rfc6455::Answer::Upgrade { response, .. } = response.1 else {
        panic!("an upgrade")
    };
    (request.into_bytes(), response.len())
}

#[test]
fn a_websocket_frame_left_half_sent_meets_the_partial_deadline_with_a_1008() {
    let (echo, closed) = echo();
    let mut sim = Sim::new(timeouts(60_000, 500), echo);
    let id = sim.accept_websocket([10, 0, 0, 1], WsConfig::new(4096));
    let (request, response_len) = upgrade();
    let mut first = request;
    first.extend(masked_frame(Opcode::Binary, b"ping!", [1, 2, 3, 4]));
    sim.input(id, &first); // upgrade and a message in one read
    assert_eq!(
        &sim.written(id)[response_len..][2..],
        b"ping!",
        "echoed as a message"
    );
    sim.input(id, &[0x82]); // one byte of the next frame's header, then silence
    sim.advance(600 * MS);
    let written = sim.written(id);
    let close = &written[response_len + 7..];
    assert_eq!(close[0], 0x88, "a close frame");
    assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1008);
    assert!(String::from_utf8_lossy(&close[4..]).contains("not completed"));
    sim.eof(id);
    assert_eq!(*closed.lock().unwrap(), [CloseReason::PartialTimeout]);
}

/// Echoes packets (for the rate limit), and tells a client it cuts why with packet 99.
struct PacketEcho;

impl PacketHandler for PacketEcho {
    fn packet(&mut self, ctx: &mut Context<'_>, id: SessionId, packet: crate::packet::Packet<'_>) {
        let _ = ctx.send_packet(id, packet.id, packet.body);
    }

    fn rate_limited(&mut self, ctx: &mut Context<'_>, id: SessionId, limit: RateLimit) {
        let _ = ctx.send_packet(id, 99, &limit.per_sec.to_le_bytes());
    }
}

#[test]
fn the_packet_rate_cuts_a_flood_after_its_burst_and_spares_trusted_sources() {
    let config = ServiceConfig {
        trusted_sources: "10.9.0.0/16".parse().unwrap(),
        ..ServiceConfig::default()
    };
    let limit = RateLimit {
        per_sec: 50,
        burst: 20,
    };
    let mut sim = Sim::new(
        config,
        Packets::new(PacketEcho, 4096).with_rate_limit(limit),
    );
    let packet = encode(1, b"x").unwrap();
    let honest = sim.accept([10, 0, 0, 1]).unwrap();
    for _ in 0..40 {
        sim.input(honest, &packet); // 50/s: one every 20 ms
        sim.advance(20 * MS);
    }
    let flood = sim.accept([10, 0, 0, 2]).unwrap();
    let burst: Vec<u8> = packet
        .iter()
        .copied()
        .cycle()
        .take(packet.len() * 30)
        .collect();
    sim.input(flood, &burst);
    let trusted = sim.accept([10, 9, 0, 1]).unwrap();
    sim.input(trusted, &burst);
    assert_eq!(sim.stats().closed_by("rate_limited"), 0, "lingering first");
    assert!(sim.driver.shut.contains(&flood), "the flood is closed");
    let notice = encode(99, &50u32.to_le_bytes()).unwrap();
    let served = [packet.repeat(20), notice.to_vec()].concat();
    assert_eq!(
        sim.written(flood),
        served,
        "its burst was served, then told why"
    );
    assert_eq!(
        sim.written(honest).len(),
        packet.len() * 40,
        "the honest rate was not cut"
    );
    assert_eq!(
        sim.written(trusted).len(),
        packet.len() * 30,
        "trusted: no limit"
    );
    assert!(!sim.driver.shut.contains(&honest) && !sim.driver.shut.contains(&trusted));
}

#[test]
fn admission_caps_refuse_with_the_farewell_and_a_source_waits_for_its_connect_rate() {
    let (echo, _) = echo();
    let config = ServiceConfig {
        max_sessions_per_ip: 2,
        connect_rate_per_ip: 5,
        trusted_sources: AddressList::empty(),
        farewell: Some(Bytes::from_static(b"FULL")),
        ..ServiceConfig::default()
    };
    let mut sim = Sim::new(config, echo);
    let a = sim.accept([10, 0, 0, 1]).unwrap();
    let b = sim.accept([10, 0, 0, 1]).unwrap();
    assert!(
        sim.accept([10, 0, 0, 1]).is_none(),
        "over the per-source cap"
    );
    assert_eq!(sim.driver.farewells, [b"FULL".to_vec()]);
    for id in [a, b] {
        sim.eof(id);
    }
    assert!(
        sim.accept([10, 0, 0, 1]).is_none(),
        "its burst is spent: the connect rate"
    );
    sim.advance(200 * MS); // one token at 5 per second
    assert!(sim.accept([10, 0, 0, 1]).is_some());
    assert!(
        sim.accept([10, 0, 0, 2]).is_some(),
        "another source has its own"
    );
    assert_eq!(sim.stats().refused, 2);
}

#[test]
fn a_quiet_websocket_session_is_pinged_once_at_half_the_idle_timeout() {
    let (echo, closed) = echo();
    let mut sim = Sim::new(timeouts(1000, 10_000), echo);
    let id = sim.accept_websocket([10, 0, 0, 1], WsConfig::new(4096));
    let (request, response_len) = upgrade();
    sim.input(id, &request);
    for _ in 0..4 {
        sim.advance(100 * MS); // 400 ms: not yet half the idle timeout
    }
    assert_eq!(sim.written(id).len(), response_len, "no ping yet");
    for _ in 0..3 {
        sim.advance(100 * MS);
    }
    assert_eq!(
        &sim.written(id)[response_len..],
        [0x89, 0],
        "one empty ping"
    );
    sim.input(id, &masked_frame(Opcode::Pong, b"", [9, 9, 9, 9]));
    sim.advance(100 * MS);
    assert_eq!(
        sim.written(id).len(),
        response_len + 2,
        "answered: no second ping"
    );
    assert!(closed.lock().unwrap().is_empty());
}
