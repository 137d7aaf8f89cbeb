//! `gameserver --cluster`: one room across several instances through a real `redis-server`.
//! Every chat reaches every member exactly once and in per-sender order, on 2 and 3
//! instances and under join/leave churn; a Redis outage keeps local delivery going, is counted
//! as a gap, and heals when Redis returns; a node killed with SIGKILL stops being counted
//! within the heartbeat TTL; a frozen or absent backplane never holds more than the queue
//! bound.

// Unix only: the tests SIGKILL a node and SIGSTOP/SIGCONT redis-server (a Debian package).
#![cfg(unix)]

mod util;

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gameserver::protocol;
use servercore::Model;
use util::cluster::{free_port, node, wait_metric, wait_subscribers, RedisServer};
use util::process::{sample, Gameserver, STEP};
use util::*;

const ROOM: u32 = 1;
const LEN: usize = 48;

/// Reads packets until ROOM_JOINED or ROOM_FULL (skipping broadcasts); returns its id and
/// the count it carries (members after the join, or the capacity).
fn enter(stream: &mut TcpStream, room: u32) -> (u16, u32) {
    send_packet(stream, protocol::ENTER_ROOM, &room.to_le_bytes());
    loop {
        let (id, body) = read_packet(stream).expect("an answer to ENTER_ROOM");
        if id == protocol::ROOM_JOINED || id == protocol::ROOM_FULL {
            assert_eq!(protocol::parse_room(&body[..4]), Some(room));
            return (id, u32::from_le_bytes(body[4..8].try_into().unwrap()));
        }
    }
}

/// `per_node` members of ROOM on each node join, then every member sends `messages` chats
/// and must hear every member's chats exactly once, in order.
fn everyone_hears_everyone(nodes: &[Gameserver], per_node: usize, messages: u32) {
    let members: Vec<TcpStream> = nodes
        .iter()
        .flat_map(|n| (0..per_node).map(|_| connect(n.addr)))
        .collect();
    let total = members.len();
    let mut members = members;
    for m in &mut members {
        join(m, ROOM);
    }
    let threads: Vec<_> = members
        .into_iter()
        .enumerate()
        .map(|(me, mut stream)| {
            std::thread::spawn(move || {
                for seq in 0..messages {
                    send_packet(&mut stream, protocol::CHAT, &chat_body(me as u32, seq, LEN));
                }
                let mut heard = Heard::default();
                for _ in 0..total * messages as usize {
                    heard.check(read_packet(&mut stream).expect("a broadcast"), LEN);
                }
                assert_eq!(heard.0.len(), total, "member {me} heard from everyone");
                assert!(
                    heard.0.values().all(|&n| n == messages),
                    "member {me}: {:?}",
                    heard.0
                );
            })
        })
        .collect();
    for t in threads {
        t.join().expect("member");
    }
}

/// Starts Redis and `count` nodes; waits until each has its backplane up.
fn cluster(model: Model, count: usize, extra: &[&str]) -> (RedisServer, Vec<Gameserver>) {
    let redis = RedisServer::start();
    let nodes: Vec<Gameserver> = (0..count)
        .map(|i| node(model, &redis.url(), &format!("n{i}"), extra))
        .collect();
    for n in &nodes {
        wait_metric(n, "gameserver_cluster_backplane_up", |v| v == 1);
    }
    (redis, nodes)
}

fn room_over_instances(model: Model, count: usize) {
    const PER_NODE: usize = 3;
    const MESSAGES: u32 = 40;
    let (_redis, nodes) = cluster(model, count, &[]);
    // No waiting for subscriptions here: ROOM_JOINED itself says the node hears the room.
    everyone_hears_everyone(&nodes, PER_NODE, MESSAGES);
    let sent = (PER_NODE as u64) * u64::from(MESSAGES);
    for n in &nodes {
        wait_metric(n, "gameserver_cluster_published_total", |v| v == sent);
        let others = sent * (count as u64 - 1);
        wait_metric(n, "gameserver_cluster_received_total", |v| v == others);
        wait_metric(n, "gameserver_cluster_gaps_total", |v| v == 0);
        wait_metric(n, "gameserver_cluster_duplicates_total", |v| v == 0);
    }
}

fn two_instances(model: Model) {
    room_over_instances(model, 2);
}

fn three_instances(model: Model) {
    room_over_instances(model, 3);
}

one_model!(room_on_two_instances, two_instances);
one_model!(room_on_three_instances, three_instances);

/// Steady members on nodes 0 and 1 chat while churners join and leave on nodes 0 and 2
/// (node 2 has only churners, so it subscribes and unsubscribes again and again): the steady
/// members hear everything exactly once in order, the churners never a repeat or a reorder.
fn churn(model: Model) {
    const MESSAGES: u32 = 150;
    let (_redis, nodes) = cluster(model, 3, &[]);
    let mut steady: Vec<TcpStream> = [0, 0, 1, 1]
        .iter()
        .map(|&i| connect(nodes[i].addr))
        .collect();
    for s in &mut steady {
        join(s, ROOM);
    }
    let done = Arc::new(AtomicBool::new(false));
    let churners: Vec<_> = [0, 2, 2]
        .iter()
        .map(|&i| {
            let (addr, done) = (nodes[i].addr, done.clone());
            std::thread::spawn(move || {
                let mut stream = connect(addr);
                let (mut heard, mut rounds) = (Heard::default(), 0);
                while !done.load(Ordering::Acquire) || rounds < 3 {
                    send_packet(&mut stream, protocol::ENTER_ROOM, &ROOM.to_le_bytes());
                    loop {
                        let packet = read_packet(&mut stream).expect("a packet");
                        if packet.0 == protocol::ROOM_JOINED {
                            break;
                        }
                        heard.check_increasing(packet, LEN);
                    }
                    send_packet(&mut stream, protocol::LEAVE_ROOM, &[]);
                    rounds += 1;
                }
                // An echo marks the end: everything before it is checked too.
                send_packet(&mut stream, protocol::ECHO, b"end");
                loop {
                    let packet = read_packet(&mut stream).expect("a packet");
                    if packet.0 == protocol::ECHO {
                        break;
                    }
                    heard.check_increasing(packet, LEN);
                }
                rounds
            })
        })
        .collect();
    let total = steady.len();
    let talkers: Vec<_> = steady
        .into_iter()
        .enumerate()
        .map(|(me, mut stream)| {
            std::thread::spawn(move || {
                for seq in 0..MESSAGES {
                    let body = chat_body(me as u32, seq, LEN);
                    send_packet(&mut stream, protocol::CHAT, &body);
                }
                let mut heard = Heard::default();
                for _ in 0..total * MESSAGES as usize {
                    heard.check(read_packet(&mut stream).expect("a broadcast"), LEN);
                }
                assert!(heard.0.values().all(|&n| n == MESSAGES), "{:?}", heard.0);
            })
        })
        .collect();
    for t in talkers {
        t.join().expect("steady member");
    }
    done.store(true, Ordering::Release);
    for c in churners {
        assert!(c.join().expect("churner") >= 3);
    }
    for n in &nodes {
        wait_metric(n, "gameserver_cluster_gaps_total", |v| v == 0);
        wait_metric(n, "gameserver_cluster_duplicates_total", |v| v == 0);
    }
}

one_model!(join_leave_churn, churn);

/// Redis killed mid-chat: node A's members go on hearing A's chats and its echo answers at
/// once; chats beyond the queue bound are dropped and counted; when Redis is back the nodes
/// reconnect, B counts the hole, and cross-instance delivery resumes.
fn outage(model: Model) {
    const BOUND: u32 = 16;
    let bound = BOUND.to_string();
    let (mut redis, nodes) = cluster(model, 2, &["--cluster-queue", &bound]);
    let (a, b) = (&nodes[0], &nodes[1]);
    let (mut talker, mut local, mut remote) = (connect(a.addr), connect(a.addr), connect(b.addr));
    for s in [&mut talker, &mut local, &mut remote] {
        join(s, ROOM);
    }
    let mut seq = 0;
    let mut say = |talker: &mut TcpStream, n: u32| {
        let first = seq;
        for _ in 0..n {
            send_packet(talker, protocol::CHAT, &chat_body(0, seq, LEN));
            seq += 1;
        }
        first..seq
    };
    let mut heard_remote = Heard::default();
    let mut heard_local = Heard::default();
    let mut heard_talker = Heard::default();
    let before = say(&mut talker, 10);
    for _ in before.clone() {
        heard_talker.check(read_packet(&mut talker).unwrap(), LEN);
        heard_local.check(read_packet(&mut local).unwrap(), LEN);
        heard_remote.check(read_packet(&mut remote).unwrap(), LEN);
    }

    redis.kill();
    for n in &nodes {
        wait_metric(n, "gameserver_cluster_backplane_up", |v| v == 0);
    }
    let during = say(&mut talker, 5 * BOUND);
    for _ in during.clone() {
        heard_talker.check(read_packet(&mut talker).unwrap(), LEN);
        heard_local.check(read_packet(&mut local).unwrap(), LEN);
    }
    // The loops do not wait on the dead backplane: an echo comes straight back.
    let started = Instant::now();
    send_packet(&mut local, protocol::ECHO, b"still here");
    assert_eq!(
        read_packet(&mut local).unwrap(),
        (protocol::ECHO, b"still here".to_vec())
    );
    let echo = started.elapsed();
    assert!(
        echo < Duration::from_secs(3),
        "echo took {echo:?} while Redis was down"
    );
    // 5 x BOUND sent, the queue holds BOUND: the rest is dropped, at the full queue or (a
    // batch the publisher took before it saw Redis gone) when its publish failed.
    let at_least = u64::from(4 * BOUND);
    wait_dropped(a, at_least, None);

    let restarted = RedisServer::start_on(redis.port()).expect("redis-server back on its port");
    for n in &nodes {
        wait_metric(n, "gameserver_cluster_backplane_up", |v| v == 1);
        wait_metric(n, "gameserver_cluster_reconnects_total", |v| v >= 3);
    }
    wait_subscribers(&restarted, ROOM, 2);
    let after = say(&mut talker, 10);
    let last = after.end - 1;
    // B hears the chats after the outage (and maybe some queued during it), in order.
    loop {
        let (_, seq) = heard_remote.check_increasing(read_packet(&mut remote).unwrap(), LEN);
        if seq == last {
            break;
        }
    }
    let gaps = wait_metric(b, "gameserver_cluster_gaps_total", |v| v >= at_least);
    println!("B counted {gaps} lost chats; echo during the outage took {echo:?}");
    for _ in after {
        heard_talker.check(read_packet(&mut talker).unwrap(), LEN);
        heard_local.check(read_packet(&mut local).unwrap(), LEN);
    }
    drop(redis);
}

one_model!(redis_outage, outage);

/// Members on three nodes; B is killed with SIGKILL (no cleanup): within the heartbeat TTL
/// the others stop counting B's members, and the room's capacity is cluster-wide.
fn dead_node(model: Model) {
    let (_redis, mut nodes) = cluster(
        model,
        3,
        &["--cluster-ttl-ms", "900", "--max-room-members", "7"],
    );
    let mut members = Vec::new();
    for (i, n) in [1usize, 3, 2].iter().enumerate() {
        for _ in 0..*n {
            let mut s = connect(nodes[i].addr);
            join(&mut s, ROOM);
            members.push(s);
        }
    }
    // A probe on node A joins and leaves until it sees everyone: 6 members + itself.
    let mut probe = connect(nodes[0].addr);
    let count_with_probe = |probe: &mut TcpStream| {
        let (id, n) = enter(probe, ROOM);
        send_packet(probe, protocol::LEAVE_ROOM, &[]);
        (id, n)
    };
    let seen_all = wait_until(STEP, || {
        count_with_probe(&mut probe) == (protocol::ROOM_JOINED, 7)
    });
    assert!(
        seen_all,
        "A never counted all 6 members: {:?}",
        count_with_probe(&mut probe)
    );
    // Capacity is cluster-wide: with the probe in, the room (7) is full for a joiner on C.
    assert_eq!(enter(&mut probe, ROOM), (protocol::ROOM_JOINED, 7));
    // (Best effort: until C has read A's new count it may still let one in; it must not
    // for long.)
    let mut late = connect(nodes[2].addr);
    let full = wait_until(STEP, || match enter(&mut late, ROOM) {
        (protocol::ROOM_FULL, capacity) => capacity == 7,
        _ => {
            send_packet(&mut late, protocol::LEAVE_ROOM, &[]);
            false
        }
    });
    assert!(full, "C keeps letting an 8th member into a room of 7");
    send_packet(&mut probe, protocol::LEAVE_ROOM, &[]);

    let killed = Instant::now();
    nodes[1].signal(libc::SIGKILL);
    let _ = nodes[1].wait_exit();
    let dropped = wait_until(STEP, || {
        count_with_probe(&mut probe) == (protocol::ROOM_JOINED, 4)
    });
    let took = killed.elapsed();
    assert!(
        dropped,
        "A still counts B's members: {:?}",
        count_with_probe(&mut probe)
    );
    println!("A stopped counting the dead node's members after {took:?} (TTL 900 ms)");
    let mut on_c = connect(nodes[2].addr);
    assert!(wait_until(STEP, || {
        let (id, n) = enter(&mut on_c, ROOM);
        send_packet(&mut on_c, protocol::LEAVE_ROOM, &[]);
        (id, n) == (protocol::ROOM_JOINED, 4)
    }));
    nodes.remove(1);
}

one_model!(dead_node_leaves_counts, dead_node);

/// No Redis at all: local chat works, the publish queue stops at its bound, and every chat
/// beyond it is dropped and counted.
fn absent_backplane(model: Model) {
    const BOUND: u64 = 32;
    const CHATS: u32 = 500;
    let url = format!("redis://127.0.0.1:{}", free_port()); // nothing listens there
    let n = node(
        model,
        &url,
        "alone",
        &["--cluster-queue", &BOUND.to_string()],
    );
    let (mut talker, mut listener) = (connect(n.addr), connect(n.addr));
    join(&mut talker, ROOM);
    join(&mut listener, ROOM);
    let reader = std::thread::spawn(move || {
        let mut heard = Heard::default();
        for _ in 0..CHATS {
            heard.check(read_packet(&mut listener).expect("a broadcast"), LEN);
        }
    });
    for seq in 0..CHATS {
        send_packet(&mut talker, protocol::CHAT, &chat_body(0, seq, LEN));
        let (id, _) = read_packet(&mut talker).expect("own chat back");
        assert_eq!(id, protocol::CHAT_BROADCAST);
    }
    reader.join().expect("listener heard every chat");
    let dropped = u64::from(CHATS) - BOUND;
    wait_metric(
        &n,
        "gameserver_cluster_publish_dropped_total{reason=\"queue_full\"}",
        |v| v == dropped,
    );
    wait_metric(&n, "gameserver_cluster_publish_queue", |v| v == BOUND);
    wait_metric(&n, "gameserver_cluster_backplane_up", |v| v == 0);
    wait_metric(&n, "gameserver_cluster_published_total", |v| v == 0);
}

one_model!(absent_backplane_is_bounded, absent_backplane);

/// Redis frozen (SIGSTOP: connections open, nothing answered): A's members keep chatting
/// locally, the publish queue stays at its bound and the rest is dropped and counted; once
/// Redis resumes, B hears A again.
fn frozen_backplane(model: Model) {
    const BOUND: u64 = 32;
    const CHATS: u32 = 500;
    let bound = BOUND.to_string();
    let (redis, nodes) = cluster(model, 2, &["--cluster-queue", &bound]);
    let (a, b) = (&nodes[0], &nodes[1]);
    let (mut talker, mut remote) = (connect(a.addr), connect(b.addr));
    join(&mut talker, ROOM);
    join(&mut remote, ROOM);

    redis.freeze();
    let started = Instant::now();
    for seq in 0..CHATS {
        send_packet(&mut talker, protocol::CHAT, &chat_body(0, seq, LEN));
        let (id, _) = read_packet(&mut talker).expect("own chat back");
        assert_eq!(id, protocol::CHAT_BROADCAST);
    }
    println!(
        "{CHATS} local chats with Redis frozen took {:?}",
        started.elapsed()
    );
    // At most BOUND wait in the queue and one batch (at most what the queue held) in the
    // publisher's stuck round trip: everything else is dropped and counted.
    let at_least = u64::from(CHATS) - 3 * BOUND;
    wait_dropped(a, at_least, Some(BOUND));

    redis.thaw();
    for n in &nodes {
        wait_metric(n, "gameserver_cluster_backplane_up", |v| v == 1);
    }
    wait_subscribers(&redis, ROOM, 2);
    // A's publisher may still be reconnecting (its stuck round trip ends with the thaw), and
    // what it is handed meanwhile is dropped and counted: A chats on until B hears one.
    remote
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // Chats queued before the freeze may arrive first; every chat is heard at most once and
    // in order (check_increasing).
    let mut heard = Heard::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seq = CHATS;
    'resumed: loop {
        send_packet(&mut talker, protocol::CHAT, &chat_body(0, seq, LEN));
        seq += 1;
        loop {
            match read_packet(&mut remote) {
                Ok(packet) => {
                    if heard.check_increasing(packet, LEN).1 >= CHATS {
                        break 'resumed;
                    }
                }
                Err(err)
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(err) => panic!("B's member lost its connection: {err}"),
            }
        }
        assert!(
            Instant::now() < deadline,
            "B never heard A again after the thaw"
        );
    }
}

one_model!(frozen_backplane_is_bounded, frozen_backplane);

/// Waits until `node` counts at least `at_least` dropped publishes (queue full or backplane
/// down); with `bound`, checks at every look that its publish queue stays within it.
fn wait_dropped(node: &Gameserver, at_least: u64, bound: Option<u64>) {
    let mut dropped = 0;
    let counted = wait_until(STEP, || {
        let text = node.scrape();
        if let Some(bound) = bound {
            let queue = sample(&text, "gameserver_cluster_publish_queue").unwrap_or(u64::MAX);
            assert!(queue <= bound, "publish queue at {queue}, bound {bound}");
        }
        dropped = ["queue_full", "backplane_down"]
            .iter()
            .filter_map(|reason| {
                let series =
                    format!("gameserver_cluster_publish_dropped_total{{reason=\"{reason}\"}}");
                sample(&text, &series)
            })
            .sum();
        dropped >= at_least
    });
    assert!(
        counted,
        "counted {dropped} dropped chats, expected {at_least} or more"
    );
}

/// Two instances started with the same `--node-id` would skip each other's chats as their
/// own: the heartbeat notices and says so in the log.
fn same_node_id(model: Model) {
    let redis = RedisServer::start();
    let ttl = ["--cluster-ttl-ms", "900"];
    let _first = node(model, &redis.url(), "twin", &ttl);
    let mut second = node(model, &redis.url(), "twin", &ttl);
    let line = second.wait_for_line(&["another instance uses this node id"]);
    assert!(line.is_some(), "the clash was not reported");
}

one_model!(same_node_id_is_reported, same_node_id);
