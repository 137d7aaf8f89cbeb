//! The presence thread: who is in which room, cluster-wide, best effort.
//!
//! In Redis, per room a hash `gameserver:members:{room}` (field = node id, value = that node's
//! member count) and per node a heartbeat key `gameserver:node:{id}` that expires after the
//! TTL. Every third of the TTL this thread renews the heartbeat, rewrites this node's counts,
//! and reads the other nodes' counts of the rooms it has members in — counting only nodes
//! whose heartbeat is alive and deleting the fields of dead ones. A node killed without
//! cleaning up therefore stops being counted within TTL + TTL/3. A join or a leave is written
//! at once (the loops nudge this thread), and the joined room's other counts read with it.
//! The loops read the resulting cache (`Link::members_elsewhere`), never Redis.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::cluster::backplane::{Connector, POLL};
use crate::cluster::config::NodeId;
use crate::cluster::link::Link;
use crate::cluster::wire::{members_key, node_key};

/// What this thread has written, kept across reconnections.
#[derive(Debug)]
struct Written {
    /// Rooms with a field of ours in Redis (as far as we know).
    rooms: HashSet<u32>,
    /// This process's value of the heartbeat key: another value found there means another
    /// instance runs with the same node id.
    token: String,
    /// Set while such a clash is being seen (one log line per episode).
    clash: bool,
}

/// Runs until the backplane stops; then removes this node's entries (best effort).
pub(crate) fn run(connector: &mut Connector, link: &Link, wake: &Receiver<()>, ttl: Duration) {
    let mut written = Written {
        rooms: HashSet::new(),
        token: NodeId::random().to_string(),
        clash: false,
    };
    while let Some(mut con) = connector.connect() {
        match serve(&mut con, connector, link, wake, ttl, &mut written) {
            Ok(()) => {
                if let Err(err) = leave(&mut con, link, &written) {
                    tracing::debug!(node = link.node(), "presence cleanup: {err}");
                }
                return;
            }
            Err(err) => connector.lost(&err),
        }
    }
}

/// Heartbeats and syncs counts until stopped (`Ok`) or the connection fails.
fn serve(
    con: &mut redis::Connection,
    connector: &Connector,
    link: &Link,
    wake: &Receiver<()>,
    ttl: Duration,
    written: &mut Written,
) -> redis::RedisResult<()> {
    let period = ttl / 3;
    // At once on (re)connecting: Redis may have restarted empty.
    let mut next_refresh = Instant::now();
    loop {
        if connector.stopping() {
            return Ok(());
        }
        let (counts, dirty) = link.take_local();
        if Instant::now() >= next_refresh {
            heartbeat(con, link, ttl, written)?;
            let all: Vec<u32> = counts
                .keys()
                .copied()
                .chain(written.rooms.iter().copied())
                .collect();
            write_counts(con, link, &counts, &all, written)?;
            let rooms: Vec<u32> = counts.keys().copied().collect();
            let others = read_others(con, link, &rooms)?;
            link.set_others(others);
            next_refresh = Instant::now() + period;
        } else if !dirty.is_empty() {
            write_counts(con, link, &counts, &dirty, written)?;
            let joined: Vec<u32> = dirty
                .iter()
                .copied()
                .filter(|r| counts.contains_key(r))
                .collect();
            let others = read_others(con, link, &joined)?;
            link.merge_others(&joined, others);
        }
        let left = next_refresh.saturating_duration_since(Instant::now());
        match wake.recv_timeout(left.clamp(Duration::from_millis(1), POLL)) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

/// Renews this node's heartbeat key, and says (once per episode) if another process was
/// renewing it too: two instances with one node id skip each other's chats as their own.
fn heartbeat(
    con: &mut redis::Connection,
    link: &Link,
    ttl: Duration,
    written: &mut Written,
) -> redis::RedisResult<()> {
    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let previous: Option<String> = redis::cmd("SET")
        .arg(node_key(link.node()))
        .arg(&written.token)
        .arg("PX")
        .arg(ms)
        .arg("GET")
        .query(con)?;
    let clash = previous.is_some_and(|p| p != written.token);
    if clash && !written.clash {
        tracing::error!(
            node = link.node(),
            "another instance uses this node id: chats between the two are lost; give each its own --node-id"
        );
    }
    written.clash = clash;
    Ok(())
}

/// Writes this node's count of each room in `rooms` (deleting the field where it is 0).
fn write_counts(
    con: &mut redis::Connection,
    link: &Link,
    counts: &HashMap<u32, usize>,
    rooms: &[u32],
    written: &mut Written,
) -> redis::RedisResult<()> {
    if rooms.is_empty() {
        return Ok(()); // Redis refuses an empty pipeline
    }
    let mut pipe = redis::pipe();
    for &room in rooms {
        match counts.get(&room) {
            Some(&n) => pipe.hset(members_key(room), link.node(), n).ignore(),
            None => pipe.hdel(members_key(room), link.node()).ignore(),
        };
    }
    pipe.exec(con)?;
    for &room in rooms {
        if counts.contains_key(&room) {
            written.rooms.insert(room);
        } else {
            written.rooms.remove(&room);
        }
    }
    Ok(())
}

/// The members of each of `rooms` on other live nodes; deletes the fields of dead nodes.
fn read_others(
    con: &mut redis::Connection,
    link: &Link,
    rooms: &[u32],
) -> redis::RedisResult<HashMap<u32, usize>> {
    if rooms.is_empty() {
        return Ok(HashMap::new());
    }
    let mut pipe = redis::pipe();
    for &room in rooms {
        pipe.hgetall(members_key(room));
    }
    let tables: Vec<HashMap<String, usize>> = pipe.query(con)?;
    let nodes: Vec<&String> = tables
        .iter()
        .flat_map(HashMap::keys)
        .filter(|n| *n != link.node())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut pipe = redis::pipe();
    for node in &nodes {
        pipe.exists(node_key(node));
    }
    let alive: Vec<bool> = if nodes.is_empty() {
        Vec::new()
    } else {
        pipe.query(con)?
    };
    let dead: HashSet<&String> = nodes
        .iter()
        .zip(&alive)
        .filter(|(_, alive)| !**alive)
        .map(|(n, _)| *n)
        .collect();
    let mut others = HashMap::new();
    let mut cleanup = redis::pipe();
    for (&room, table) in rooms.iter().zip(&tables) {
        let mut sum = 0;
        for (node, n) in table {
            if dead.contains(node) {
                cleanup.hdel(members_key(room), node).ignore();
            } else if node != link.node() {
                sum += n;
            }
        }
        others.insert(room, sum);
    }
    if !dead.is_empty() {
        tracing::info!(node = link.node(), dead = ?dead, "presence: not counting nodes whose heartbeat expired");
        cleanup.exec(con)?;
    }
    Ok(others)
}

/// Removes this node's heartbeat and counts (a clean stop).
fn leave(con: &mut redis::Connection, link: &Link, written: &Written) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    for &room in &written.rooms {
        pipe.hdel(members_key(room), link.node()).ignore();
    }
    pipe.del(node_key(link.node())).ignore();
    pipe.exec(con)
}
