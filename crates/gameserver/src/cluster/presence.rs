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
//!
//! Every value is signed ([`Auth`]) and dated with the Redis server's own clock (`TIME`, so
//! the instances' clocks need not agree):
//!
//! ```text
//!   gameserver:node:{id}         "{token} {ms} {tag}"   tag = HMAC("heartbeat", id, token, ms)
//!   gameserver:members:{room}    {id} -> "{count} {ms} {tag}"
//!                                                       tag = HMAC("members", room, id, count, ms)
//! ```
//!
//! A value that does not verify, or is older than [`STALE_TTLS`] TTLs, is not counted (and is
//! counted as rejected): a forged or replayed entry cannot make a room look full, and a forged
//! heartbeat cannot keep a dead node's members counted.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use data_encoding::HEXLOWER;

use crate::cluster::auth::Auth;
use crate::cluster::backplane::{Connector, POLL};
use crate::cluster::config::NodeId;
use crate::cluster::link::{Link, Others};
use crate::cluster::stats::Rejected;
use crate::cluster::wire::{is_node_id, members_key, node_key};

/// An entry older than this many TTLs (by the Redis server's clock) is not believed: live
/// nodes rewrite theirs every third of a TTL.
const STALE_TTLS: u64 = 2;

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
            let now = redis_now_ms(con)?;
            heartbeat(con, link, ttl, now, written)?;
            let all: Vec<u32> = counts
                .keys()
                .copied()
                .chain(written.rooms.iter().copied())
                .collect();
            write_counts(con, link, &counts, &all, now, written)?;
            let rooms: Vec<u32> = counts.keys().copied().collect();
            let others = read_others(con, link, &rooms, now, ttl)?;
            link.set_others(others);
            next_refresh = Instant::now() + period;
        } else if !dirty.is_empty() {
            let now = redis_now_ms(con)?;
            write_counts(con, link, &counts, &dirty, now, written)?;
            let joined: Vec<u32> = dirty
                .iter()
                .copied()
                .filter(|r| counts.contains_key(r))
                .collect();
            let others = read_others(con, link, &joined, now, ttl)?;
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
    now: u64,
    written: &mut Written,
) -> redis::RedisResult<()> {
    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let value = Entry::heartbeat(link.node(), &written.token).signed(link.auth(), now);
    let previous: Option<String> = redis::cmd("SET")
        .arg(node_key(link.node()))
        .arg(value)
        .arg("PX")
        .arg(ms)
        .arg("GET")
        .query(con)?;
    let clash = previous.is_some_and(|p| p.split(' ').next() != Some(written.token.as_str()));
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
    now: u64,
    written: &mut Written,
) -> redis::RedisResult<()> {
    if rooms.is_empty() {
        return Ok(()); // Redis refuses an empty pipeline
    }
    let mut pipe = redis::pipe();
    for &room in rooms {
        match counts.get(&room) {
            Some(&n) => {
                let value = Entry::members(room, link.node(), n).signed(link.auth(), now);
                pipe.hset(members_key(room), link.node(), value).ignore()
            }
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

/// The members of each of `rooms` on other live nodes, and which nodes they are; deletes the
/// fields of dead nodes (no heartbeat key at all). Entries that do not verify are skipped and
/// counted, never deleted (they may be a live node's with another secret: a misconfiguration
/// the count and the log show).
fn read_others(
    con: &mut redis::Connection,
    link: &Link,
    rooms: &[u32],
    now: u64,
    ttl: Duration,
) -> redis::RedisResult<HashMap<u32, Others>> {
    if rooms.is_empty() {
        return Ok(HashMap::new());
    }
    let mut pipe = redis::pipe();
    for &room in rooms {
        pipe.hgetall(members_key(room));
    }
    let tables: Vec<HashMap<String, String>> = pipe.query(con)?;
    let nodes: Vec<&String> = tables
        .iter()
        .flat_map(HashMap::keys)
        .filter(|n| *n != link.node() && is_node_id(n))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut pipe = redis::pipe();
    for node in &nodes {
        pipe.get(node_key(node));
    }
    let beats: Vec<Option<String>> = if nodes.is_empty() {
        Vec::new()
    } else {
        pipe.query(con)?
    };
    let stale_after = STALE_TTLS * u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let mut alive = HashSet::new();
    let mut dead = HashSet::new();
    for (node, beat) in nodes.iter().zip(&beats) {
        match beat {
            None => {
                dead.insert(*node);
            }
            Some(value) => {
                match Entry::heartbeat(node, "").check(link.auth(), value, now, stale_after) {
                    Ok(()) => {
                        alive.insert(*node);
                    }
                    Err(why) => link.reject(
                        Rejected::Presence,
                        &format_args!("heartbeat of {node}: {why}"),
                    ),
                }
            }
        }
    }
    let mut others = HashMap::new();
    let mut cleanup = redis::pipe();
    for (&room, table) in rooms.iter().zip(&tables) {
        let mut room_others = Others::default();
        for (node, value) in table {
            if node == link.node() {
                continue;
            }
            if dead.contains(node) {
                cleanup.hdel(members_key(room), node).ignore();
                continue;
            }
            if !alive.contains(node) {
                if !is_node_id(node) {
                    link.reject(
                        Rejected::Presence,
                        &format_args!("room {room}: a member field that is no node id"),
                    );
                }
                continue; // its heartbeat did not verify: already counted
            }
            match Entry::parse_count(value).and_then(|count| {
                Entry::members(room, node, count)
                    .check(link.auth(), value, now, stale_after)
                    .map(|()| count)
            }) {
                Ok(count) => {
                    room_others.members = room_others.members.saturating_add(count);
                    room_others.nodes.push(node.clone());
                }
                Err(why) => link.reject(
                    Rejected::Presence,
                    &format_args!("room {room}, node {node}: {why}"),
                ),
            }
        }
        others.insert(room, room_others);
    }
    if !dead.is_empty() {
        tracing::info!(node = link.node(), dead = ?dead, "presence: not counting nodes whose heartbeat expired");
        cleanup.exec(con)?;
    }
    Ok(others)
}

/// The Redis server's clock, in ms since the Unix epoch: one clock for every instance.
pub(crate) fn redis_now_ms(con: &mut redis::Connection) -> redis::RedisResult<u64> {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query(con)?;
    Ok(secs.saturating_mul(1000).saturating_add(micros / 1000))
}

/// A presence value's signed content: a domain word and its fields (the value's first word
/// is the last field, the count or the token).
#[derive(Debug)]
struct Entry {
    parts: Vec<Vec<u8>>,
}

impl Entry {
    /// Node `node`'s heartbeat with `token`.
    fn heartbeat(node: &str, token: &str) -> Entry {
        Entry {
            parts: vec![
                b"heartbeat".to_vec(),
                node.as_bytes().to_vec(),
                token.as_bytes().to_vec(),
            ],
        }
    }

    /// Node `node`'s member count of `room`.
    fn members(room: u32, node: &str, count: usize) -> Entry {
        Entry {
            parts: vec![
                b"members".to_vec(),
                room.to_le_bytes().to_vec(),
                node.as_bytes().to_vec(),
                count.to_string().into_bytes(),
            ],
        }
    }

    /// The value to store: `"{first} {ms} {tag}"`, where `first` is the last part.
    fn signed(&self, auth: &Auth, ms: u64) -> String {
        let first = String::from_utf8_lossy(self.parts.last().map_or(&[][..], Vec::as_slice));
        let ms_bytes = ms.to_le_bytes();
        let tag = auth.tag(&self.with_time(&ms_bytes));
        format!("{first} {ms} {}", HEXLOWER.encode(&tag))
    }

    /// Checks a stored `value` against this content (for a heartbeat, whatever its token):
    /// the tag verifies and it is at most `stale_after` ms older than `now`.
    fn check(
        mut self,
        auth: &Auth,
        value: &str,
        now: u64,
        stale_after: u64,
    ) -> Result<(), &'static str> {
        let mut words = value.split(' ');
        let (Some(first), Some(ms), Some(tag), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return Err("not a signed entry");
        };
        if self.parts.first().is_some_and(|d| d == b"heartbeat") {
            if let Some(token) = self.parts.last_mut() {
                *token = first.as_bytes().to_vec();
            }
        }
        let ms: u64 = ms.parse().map_err(|_| "bad time")?;
        let tag = HEXLOWER.decode(tag.as_bytes()).map_err(|_| "bad tag")?;
        let ms_bytes = ms.to_le_bytes();
        if !auth.verify(&self.with_time(&ms_bytes), &tag) {
            return Err("signature does not verify");
        }
        if ms.saturating_add(stale_after) < now || ms > now.saturating_add(stale_after) {
            return Err("stale");
        }
        Ok(())
    }

    /// The count a member entry's value starts with.
    fn parse_count(value: &str) -> Result<usize, &'static str> {
        value
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or("not a count")
    }

    /// The parts a tag covers: the content, then the time.
    fn with_time<'a>(&'a self, ms: &'a [u8; 8]) -> Vec<&'a [u8]> {
        let mut parts: Vec<&[u8]> = self.parts.iter().map(Vec::as_slice).collect();
        parts.push(ms);
        parts
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::signed(b"a cluster secret of 32 bytes....").unwrap()
    }

    #[test]
    fn signed_entries_verify_and_forged_or_stale_ones_do_not() {
        let (now, stale) = (1_000_000, 12_000);
        let value = Entry::members(7, "a", 3).signed(&auth(), now);
        assert_eq!(Entry::parse_count(&value), Ok(3));
        assert_eq!(
            Entry::members(7, "a", 3).check(&auth(), &value, now, stale),
            Ok(())
        );
        assert!(
            Entry::members(8, "a", 3)
                .check(&auth(), &value, now, stale)
                .is_err(),
            "another room"
        );
        assert!(
            Entry::members(7, "b", 3)
                .check(&auth(), &value, now, stale)
                .is_err(),
            "another node"
        );
        let inflated = value.replacen('3', "500", 1);
        assert!(Entry::members(7, "a", 500)
            .check(&auth(), &inflated, now, stale)
            .is_err());
        assert_eq!(
            Entry::members(7, "a", 3).check(&auth(), &value, now + stale + 1, stale),
            Err("stale")
        );
        assert_eq!(
            Entry::members(7, "a", 500).check(&auth(), "500", now, stale),
            Err("not a signed entry")
        );
        let other = Auth::signed(b"another secret, 32 bytes long..").unwrap();
        assert!(Entry::members(7, "a", 3)
            .check(&other, &value, now, stale)
            .is_err());
    }

    #[test]
    fn a_heartbeat_verifies_whatever_its_token() {
        let value = Entry::heartbeat("a", "tok123").signed(&auth(), 5);
        assert!(value.starts_with("tok123 5 "));
        assert_eq!(
            Entry::heartbeat("a", "").check(&auth(), &value, 5, 100),
            Ok(())
        );
        assert!(Entry::heartbeat("b", "")
            .check(&auth(), &value, 5, 100)
            .is_err());
        let insecure = Entry::heartbeat("a", "tok").signed(&Auth::Insecure, 5);
        assert_eq!(
            Entry::heartbeat("a", "").check(&Auth::Insecure, &insecure, 5, 100),
            Ok(())
        );
        assert!(Entry::heartbeat("a", "")
            .check(&auth(), &insecure, 5, 100)
            .is_err());
    }
}
