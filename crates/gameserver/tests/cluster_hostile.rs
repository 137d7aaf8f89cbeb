//! The Redis backplane against someone who can write to the Redis server but does not hold
//! the cluster's secret (and against an instance that does but misbehaves): forged chats, a
//! forged sequence jump, oversized bodies, a flood of invented origins, garbage, and forged
//! presence entries. None of it reaches a player, each kind is counted by reason, the log gets
//! one warning per episode, per-origin state stays bounded, and real chats keep flowing.
//! Against real `redis-server` and `gameserver` processes.

// Unix only: like the other cluster tests (redis-server is a Debian package, SIGTERM).
#![cfg(unix)]

mod util;

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use gameserver::cluster::auth::Auth;
use gameserver::cluster::wire::{members_key, node_key, room_channel, unix_micros, Envelope};
use gameserver::protocol;
use servercore::Model;
use util::cluster::{node, wait_metric, wait_subscribers, RedisServer};
use util::process::{sample, Gameserver, CLUSTER_SECRET, CLUSTER_SECRET_ENV};
use util::*;

const ROOM: u32 = 1;
const LEN: usize = 48;

/// Redis, nodes `a` and `b` (signed with the test secret), and a member of `ROOM` on each.
struct Setup {
    redis: RedisServer,
    _a: Gameserver,
    b: Gameserver,
    alice: TcpStream,
    bob: TcpStream,
    forger: redis::Connection,
}

fn setup(model: Model, extra: &[&str]) -> Setup {
    let redis = RedisServer::start();
    let a = node(model, &redis.url(), "a", extra);
    let b = node(model, &redis.url(), "b", extra);
    for n in [&a, &b] {
        wait_metric(n, "gameserver_cluster_backplane_up", |v| v == 1);
    }
    let (mut alice, mut bob) = (connect(a.addr), connect(b.addr));
    join(&mut alice, ROOM);
    join(&mut bob, ROOM);
    wait_subscribers(&redis, ROOM, 2);
    let client = redis::Client::open(redis.url()).unwrap();
    let forger = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    Setup {
        redis,
        _a: a,
        b,
        alice,
        bob,
        forger,
    }
}

fn publish(con: &mut redis::Connection, room: u32, payload: &[u8]) {
    let _: usize = redis::cmd("PUBLISH")
        .arg(room_channel(room))
        .arg(payload)
        .query(con)
        .expect("PUBLISH");
}

fn secret() -> Auth {
    Auth::signed(CLUSTER_SECRET.as_bytes()).unwrap()
}

fn rejected(node: &Gameserver, reason: &str) -> u64 {
    let series = format!("gameserver_cluster_rejected_total{{reason=\"{reason}\"}}");
    sample(&node.scrape(), &series).unwrap_or_else(|| panic!("{series}"))
}

/// Alice sends chats `from..to`; Bob must hear exactly those, in order, and nothing else.
fn alice_to_bob(s: &mut Setup, from: u32, to: u32) {
    for seq in from..to {
        send_packet(&mut s.alice, protocol::CHAT, &chat_body(0, seq, LEN));
    }
    for seq in from..to {
        for stream in [&mut s.alice, &mut s.bob] {
            let (id, body) = read_packet(stream).expect("a broadcast");
            assert_eq!(id, protocol::CHAT_BROADCAST);
            assert_eq!(body, chat_body(0, seq, LEN), "only Alice's chats, in order");
        }
    }
}

/// A real envelope of `origin` on `room`, as its stream stands (epoch and next seq), read off
/// the channel as anyone subscribed could.
fn sniff(s: &mut Setup) -> (u32, u64) {
    let client = redis::Client::open(s.redis.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let mut pubsub = con.as_pubsub();
    pubsub.subscribe(room_channel(ROOM)).unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    send_packet(&mut s.alice, protocol::CHAT, &chat_body(0, 0, LEN));
    let msg = pubsub.get_message().expect("Alice's chat on the channel");
    let envelope = Envelope::decode(msg.get_payload_bytes(), ROOM, &secret()).unwrap();
    assert_eq!(envelope.origin, "a");
    for stream in [&mut s.alice, &mut s.bob] {
        read_packet(stream).expect("Alice's chat 0");
    }
    (envelope.epoch, envelope.seq)
}

/// A forged jump of Alice's stream, forged chats of any origin, and a chat signed with
/// another secret: all rejected as unsigned, never delivered, no gap counted; Alice's later
/// chats all reach Bob.
fn forgeries(model: Model) {
    let mut s = setup(model, &[]);
    let (epoch, seq) = sniff(&mut s);
    let forge = |origin, seq, body: &[u8], auth: &Auth| {
        Envelope {
            origin,
            epoch,
            seq,
            sent_at_us: unix_micros(),
            body,
        }
        .encode(ROOM, auth)
    };
    let wrong = Auth::signed(b"a guess at the cluster's secret").unwrap();
    let forged = [
        forge("a", seq + 1_000_000, &chat_body(9, 0, LEN), &Auth::Insecure),
        forge("a", seq + 1_000_000, &chat_body(9, 1, LEN), &wrong),
        forge("mallory", 0, &chat_body(9, 2, LEN), &Auth::Insecure),
        forge("b", 0, &chat_body(9, 3, LEN), &wrong),
    ];
    for payload in &forged {
        publish(&mut s.forger, ROOM, payload);
    }
    wait_metric(
        &s.b,
        "gameserver_cluster_rejected_total{reason=\"bad_signature\"}",
        |v| v >= 4,
    );
    alice_to_bob(&mut s, 1, 21);
    assert_eq!(
        sample(&s.b.scrape(), "gameserver_cluster_gaps_total"),
        Some(0)
    );
    assert_eq!(
        sample(&s.b.scrape(), "gameserver_cluster_duplicates_total"),
        Some(0)
    );
    // A replay of Alice's own chat 0 is a duplicate, not a second delivery.
    let replay = Envelope {
        origin: "a",
        epoch,
        seq,
        sent_at_us: unix_micros(),
        body: &chat_body(0, 0, LEN),
    }
    .encode(ROOM, &secret());
    publish(&mut s.forger, ROOM, &replay);
    wait_metric(&s.b, "gameserver_cluster_duplicates_total", |v| v == 1);
    alice_to_bob(&mut s, 21, 22);
}

/// What only a holder of the secret could publish, misbehaving: a body over the packet bound
/// is refused (as a client's would be), an old chat starting a stream is refused as a
/// replay, and thousands of origins keep at most the per-room bound of streams.
fn a_misbehaving_instance_is_bounded(model: Model) {
    let mut s = setup(model, &[]);
    let signed = |origin: &str, sent_at_us, body: &[u8]| {
        Envelope {
            origin,
            epoch: 1,
            seq: 0,
            sent_at_us,
            body,
        }
        .encode(ROOM, &secret())
    };
    publish(
        &mut s.forger,
        ROOM,
        &signed("c", unix_micros(), &vec![7; 5000]),
    );
    wait_metric(
        &s.b,
        "gameserver_cluster_rejected_total{reason=\"too_large\"}",
        |v| v == 1,
    );
    let an_hour_ago = unix_micros() - 3_600_000_000;
    publish(
        &mut s.forger,
        ROOM,
        &signed("d", an_hour_ago, &chat_body(9, 0, LEN)),
    );
    wait_metric(
        &s.b,
        "gameserver_cluster_rejected_total{reason=\"stale\"}",
        |v| v == 1,
    );
    // Many origins, on a room of their own (Carol's, on B), so Bob's stream stays clean.
    let mut carol = connect(s.b.addr);
    join(&mut carol, 2);
    wait_subscribers(&s.redis, 2, 1);
    const ORIGINS: u64 = 5000;
    let mut pipe = redis::pipe();
    for i in 0..ORIGINS {
        let payload = Envelope {
            origin: &format!("invented-{i}"),
            epoch: 1,
            seq: 0,
            sent_at_us: unix_micros(),
            body: b"x",
        }
        .encode(2, &secret());
        pipe.cmd("PUBLISH")
            .arg(room_channel(2))
            .arg(payload)
            .ignore();
    }
    pipe.exec(&mut s.forger).unwrap();
    let full = wait_metric(
        &s.b,
        "gameserver_cluster_rejected_total{reason=\"origins_full\"}",
        |v| v >= ORIGINS - 64,
    );
    let tracked = wait_metric(&s.b, "gameserver_cluster_origins_tracked", |v| v >= 64);
    println!("{model}: {ORIGINS} origins published: {full} refused, {tracked} streams kept");
    assert_eq!(tracked, 64, "streams kept: the per-room bound");
    alice_to_bob(&mut s, 0, 10);
}

/// 20,000 garbage messages: all counted, and the log says so once, not 20,000 times.
fn garbage_is_counted_and_logged_once(model: Model) {
    let mut s = setup(model, &[]);
    const GARBAGE: u64 = 20_000;
    let mut pipe = redis::pipe();
    for i in 0..GARBAGE {
        let junk = format!("garbage {i} ").repeat((i % 7) as usize + 1);
        pipe.cmd("PUBLISH")
            .arg(room_channel(ROOM))
            .arg(junk)
            .ignore();
    }
    pipe.exec(&mut s.forger).unwrap();
    wait_metric(
        &s.b,
        "gameserver_cluster_rejected_total{reason=\"malformed\"}",
        |v| v == GARBAGE,
    );
    alice_to_bob(&mut s, 0, 5);
    s.b.signal(libc::SIGTERM);
    let lines = s.b.lines_until(&[" stopped "]).expect("node b stopped");
    let warnings = lines
        .iter()
        .filter(|l| l.contains("rejecting messages from Redis"))
        .count();
    assert_eq!(warnings, 1, "one warning for the episode");
}

/// A forged heartbeat and member count (500 members on a node that does not exist, in a room
/// of at most 7) does not make the room full; the entries are counted as rejected.
fn forged_presence_cannot_fill_a_room(model: Model) {
    let mut s = setup(model, &["--max-room-members", "7"]);
    let _: () = redis::pipe()
        .set(node_key("ghost"), "whatever")
        .hset(members_key(ROOM), "ghost", "500")
        .set(node_key("ghost2"), format!("tok {} {}", 0, "00".repeat(32)))
        .hset(
            members_key(ROOM),
            "ghost2",
            format!("500 {} {}", 0, "00".repeat(32)),
        )
        .query(&mut s.forger)
        .unwrap();
    // Another member joins on B: its join makes B read the room's presence at once.
    let mut dave = connect(s.b.addr);
    send_packet(&mut dave, protocol::ENTER_ROOM, &ROOM.to_le_bytes());
    let (id, body) = read_packet(&mut dave).expect("an answer to ENTER_ROOM");
    assert_eq!(id, protocol::ROOM_JOINED, "not ROOM_FULL");
    let count = u32::from_le_bytes(body[4..8].try_into().unwrap());
    assert!(
        count <= 3,
        "the ghosts' 1,000 members are not counted: {count}"
    );
    let first = wait_metric(
        &s.b,
        "gameserver_cluster_rejected_total{reason=\"presence\"}",
        |v| v >= 2,
    );
    println!("{model}: {first} presence entries rejected");
    // And a second joiner after the next refresh: still not full.
    wait_metric(
        &s.b,
        "gameserver_cluster_rejected_total{reason=\"presence\"}",
        |v| v > first,
    );
    let mut erin = connect(s.b.addr);
    send_packet(&mut erin, protocol::ENTER_ROOM, &ROOM.to_le_bytes());
    assert_eq!(read_packet(&mut erin).unwrap().0, protocol::ROOM_JOINED);
    assert!(rejected(&s.b, "presence") >= 2);
    alice_to_bob(&mut s, 0, 3);
}

one_model!(forged_chats, forgeries);
one_model!(misbehaving_instance, a_misbehaving_instance_is_bounded);
one_model!(garbage, garbage_is_counted_and_logged_once);
one_model!(forged_presence, forged_presence_cannot_fill_a_room);

/// `gameserver --cluster` on `redis` with `extra` flags and, if given, the secret in the
/// environment; its output once it exits (or is killed at its `ready` line), and whether it
/// exited successfully on its own (`None`: it was ready).
fn run_cluster(
    redis: &RedisServer,
    extra: &[&str],
    secret: Option<&str>,
) -> (String, Option<bool>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gameserver"));
    command
        .args(["--protocol", "packet", "--port", "0", "--bind", "127.0.0.1"])
        .args(["--cluster", &redis.url()])
        .args(extra)
        .env_remove(CLUSTER_SECRET_ENV)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(secret) = secret {
        command.env(CLUSTER_SECRET_ENV, secret);
    }
    let mut child = command.spawn().expect("run gameserver");
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut out, &mut line).unwrap_or(0) > 0 {
        text.push_str(&line);
        if line.contains(" ready ") {
            let _ = child.kill();
            let _ = child.wait();
            return (text, None);
        }
        line.clear();
    }
    let status = child.wait().expect("wait");
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
    (text + &err, Some(status.success()))
}

/// `--cluster` without a secret refuses to start and says how to give one; a secret and
/// `--cluster-insecure` together are refused; `--cluster-insecure` alone starts, with a
/// warning; a short secret is refused.
#[test]
fn a_cluster_needs_a_secret_or_an_explicit_insecure() {
    let redis = RedisServer::start();
    let (text, exit) = run_cluster(&redis, &[], None);
    assert_eq!(exit, Some(false), "{text}");
    assert!(text.contains("--cluster-secret-file"), "{text}");
    assert!(text.contains(CLUSTER_SECRET_ENV), "{text}");
    let (text, exit) = run_cluster(&redis, &["--cluster-insecure"], Some(CLUSTER_SECRET));
    assert_eq!(exit, Some(false), "{text}");
    assert!(text.contains("choose one"), "{text}");
    let (text, exit) = run_cluster(&redis, &[], Some("short"));
    assert_eq!(exit, Some(false), "{text}");
    assert!(text.contains("at least 16"), "{text}");
    let (text, exit) = run_cluster(&redis, &["--cluster-insecure"], None);
    assert_eq!(exit, None, "it starts: {text}");
    assert!(text.contains("not signed"), "a start-up warning: {text}");
}
