//! [`Link`]: the event loops' side of the backplane. Nothing here waits on Redis: a chat is
//! numbered and put on a bounded queue (or dropped and counted), a membership change is noted
//! in a map and the Redis threads are nudged, a member count is read from a cache.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::chat_room::Peers;
use crate::cluster::auth::Auth;
use crate::cluster::stats::ClusterStats;
use crate::cluster::subscriptions::{Subscriptions, Waiter};
use crate::cluster::wire::{unix_micros, Envelope};

/// A chat on its way to the publisher: the room and the encoded [`Envelope`].
#[derive(Debug)]
pub struct Outgoing {
    pub room: u32,
    pub payload: Vec<u8>,
}

/// This node's stream of chats for one room: its epoch and the next sequence number. Owned by
/// the room (on its loop), so numbering a chat takes no lock; a room that gets its first local
/// member again is a new room object with a new stream.
#[derive(Debug, Clone, Copy)]
pub struct Stream {
    epoch: u32,
    next: u64,
}

/// Local membership as the Redis threads need it.
#[derive(Debug, Default)]
pub(crate) struct Local {
    /// Members on this node, per room with at least one.
    pub(crate) counts: HashMap<u32, usize>,
    /// Rooms whose count changed since the presence thread last wrote them.
    pub(crate) dirty: HashSet<u32>,
}

/// What the presence data says of one room on the other nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Others {
    /// Their members, summed.
    pub(crate) members: usize,
    /// The live nodes with members there (the origins its chats may come from).
    pub(crate) nodes: Vec<String>,
}

/// Shared by every loop (through the chat rooms and `Game`) and the backplane threads.
#[derive(Debug)]
pub struct Link {
    node: String,
    stats: Arc<ClusterStats>,
    /// Signs what this node publishes and checks what it hears.
    auth: Auth,
    /// The largest CHAT body a client may send (`--max-packet` minus the header): a relayed
    /// one is held to the same bound.
    max_body: usize,
    queue: SyncSender<Outgoing>,
    next_epoch: AtomicU32,
    local: Mutex<Local>,
    /// Members on other nodes, per room with local members (refreshed by presence).
    others: Mutex<HashMap<u32, Others>>,
    /// Wakes the presence thread (capacity 1: nudges coalesce).
    presence_wake: SyncSender<()>,
    /// Set when the set of rooms with local members changed (read by the subscriber).
    rooms_changed: AtomicBool,
    /// Set while chats are being dropped at the full queue (one log line per episode).
    dropping: AtomicBool,
    /// Active channels and members waiting for theirs.
    subscriptions: Mutex<Subscriptions>,
}

/// The receiving ends the backplane threads take over.
#[derive(Debug)]
pub struct LinkEnds {
    pub queue: Receiver<Outgoing>,
    pub presence_wake: Receiver<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Link {
    /// A link for node `node` whose publish queue holds at most `queue` chats, signing and
    /// checking with `auth`, relaying CHAT bodies of at most `max_body` bytes.
    pub fn new(
        node: &str,
        stats: Arc<ClusterStats>,
        queue: usize,
        auth: Auth,
        max_body: usize,
    ) -> (Arc<Link>, LinkEnds) {
        let (queue_tx, queue_rx) = std::sync::mpsc::sync_channel(queue);
        let (wake_tx, wake_rx) = std::sync::mpsc::sync_channel(1);
        // Epochs start at a random point, so a node restarted under the same id does not
        // reuse its previous streams' names.
        let first_epoch = crate::cluster::config::NodeId::random()
            .as_str()
            .get(..8)
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .unwrap_or(0);
        let link = Link {
            node: node.to_string(),
            stats,
            auth,
            max_body,
            queue: queue_tx,
            next_epoch: AtomicU32::new(first_epoch),
            local: Mutex::default(),
            others: Mutex::default(),
            presence_wake: wake_tx,
            rooms_changed: AtomicBool::new(true),
            dropping: AtomicBool::new(false),
            subscriptions: Mutex::default(),
        };
        let ends = LinkEnds {
            queue: queue_rx,
            presence_wake: wake_rx,
        };
        (Arc::new(link), ends)
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The shared counters.
    pub fn stats(&self) -> &Arc<ClusterStats> {
        &self.stats
    }

    /// How this node signs and checks.
    pub(crate) fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The largest CHAT body relayed.
    pub(crate) fn max_body(&self) -> usize {
        self.max_body
    }

    /// Counts (and logs, once per episode) a message from Redis that is not believed.
    pub(crate) fn reject(
        &self,
        reason: crate::cluster::stats::Rejected,
        detail: &dyn std::fmt::Display,
    ) {
        self.stats.reject(&self.node, reason, detail);
    }

    /// True if the presence data names `node` as a live node with members in `room`.
    pub(crate) fn knows(&self, room: u32, node: &str) -> bool {
        lock(&self.others)
            .get(&room)
            .is_some_and(|o| o.nodes.iter().any(|n| n == node))
    }

    /// A new stream of chats (a room's first publish).
    pub fn new_stream(&self) -> Stream {
        Stream {
            epoch: self.next_epoch.fetch_add(1, Ordering::Relaxed),
            next: 0,
        }
    }

    /// Numbers a chat of `room` in `stream` and queues it for the publisher; if the queue is
    /// at its bound the chat is dropped and counted (its number is used up, so the receivers
    /// see the hole). Called by the room on its loop: one room's chats are queued in the order
    /// they are numbered.
    pub fn publish(&self, room: u32, stream: &mut Stream, body: &[u8]) {
        let seq = stream.next;
        stream.next += 1;
        let payload = Envelope {
            origin: &self.node,
            epoch: stream.epoch,
            seq,
            sent_at_us: unix_micros(),
            body,
        }
        .encode(room, &self.auth);
        match self.queue.try_send(Outgoing { room, payload }) {
            Ok(()) => ClusterStats::add(&self.stats.queued, 1),
            Err(TrySendError::Full(_)) => {
                ClusterStats::add(&self.stats.dropped_queue_full, 1);
                if !self.dropping.swap(true, Ordering::Relaxed) {
                    tracing::warn!(node = %self.node, "publish queue full: dropping chats for other instances (counted)");
                }
            }
            Err(TrySendError::Disconnected(_)) => ClusterStats::add(&self.stats.dropped_down, 1),
        }
    }

    /// The publisher took chats off the queue: ends a dropping episode (logged).
    pub(crate) fn taken(&self, n: usize) {
        self.stats
            .queued
            .fetch_sub(n as u64, std::sync::atomic::Ordering::Relaxed);
        if self.dropping.swap(false, Ordering::Relaxed) {
            tracing::info!(node = %self.node, "publish queue has room again");
        }
    }

    /// The presence thread's view of local membership (drains the dirty list).
    pub(crate) fn take_local(&self) -> (HashMap<u32, usize>, Vec<u32>) {
        let mut local = lock(&self.local);
        let dirty = std::mem::take(&mut local.dirty).into_iter().collect();
        (local.counts.clone(), dirty)
    }

    /// Rooms with local members, if they changed since the last call (for the subscriber);
    /// `force` returns them anyway.
    pub(crate) fn rooms_if_changed(&self, force: bool) -> Option<Vec<u32>> {
        if !self.rooms_changed.swap(false, Ordering::AcqRel) && !force {
            return None;
        }
        Some(lock(&self.local).counts.keys().copied().collect())
    }

    /// Replaces the cache of other nodes' members.
    pub(crate) fn set_others(&self, others: HashMap<u32, Others>) {
        *lock(&self.others) = others;
    }

    /// `waiter` joined its room: true if its `ROOM_JOINED` may go now; otherwise it is
    /// answered (through [`Link::take_ready`]) once this node listens to the room.
    pub fn answer_now(&self, waiter: Waiter) -> bool {
        lock(&self.subscriptions).answer_now(waiter)
    }

    /// The `ROOM_JOINED` answers due on loop `index`.
    pub fn take_ready(&self, index: usize) -> Vec<Waiter> {
        lock(&self.subscriptions).take_ready(index)
    }

    /// See `Subscriptions::subscribed`.
    pub(crate) fn subscribed(&self, room: u32) -> Vec<usize> {
        lock(&self.subscriptions).subscribed(room)
    }

    /// See `Subscriptions::unsubscribed`.
    pub(crate) fn unsubscribed(&self, room: u32) {
        lock(&self.subscriptions).unsubscribed(room);
    }

    /// See `Subscriptions::listening`.
    pub(crate) fn listening(&self, listening: bool) -> Vec<usize> {
        lock(&self.subscriptions).listening(listening)
    }

    /// Updates the cache for `rooms` only.
    pub(crate) fn merge_others(&self, rooms: &[u32], mut fresh: HashMap<u32, Others>) {
        let mut others = lock(&self.others);
        for room in rooms {
            match fresh.remove(room) {
                Some(n) => others.insert(*room, n),
                None => others.remove(room),
            };
        }
    }
}

impl Peers for Link {
    fn members_elsewhere(&self, room: u32) -> usize {
        lock(&self.others).get(&room).map_or(0, |o| o.members)
    }

    fn local_members_changed(&self, room: u32, members: usize) {
        let mut local = lock(&self.local);
        let had = local.counts.contains_key(&room);
        if members == 0 {
            local.counts.remove(&room);
            lock(&self.subscriptions).emptied(room);
        } else {
            local.counts.insert(room, members);
        }
        local.dirty.insert(room);
        drop(local);
        if had != (members > 0) {
            self.rooms_changed.store(true, Ordering::Release);
        }
        let _ = self.presence_wake.try_send(()); // full: a nudge is already pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(queue: usize) -> (Arc<Link>, LinkEnds) {
        let stats = Arc::new(ClusterStats::new("me"));
        Link::new("me", stats, queue, Auth::Insecure, 4092)
    }

    /// (epoch, seq, body) of every chat waiting in the queue.
    fn queued(ends: &LinkEnds) -> Vec<(u32, u64, Vec<u8>)> {
        ends.queue
            .try_iter()
            .map(|chat| {
                let e = Envelope::decode(&chat.payload, chat.room, &Auth::Insecure)
                    .expect("an envelope");
                assert_eq!(e.origin, "me");
                (e.epoch, e.seq, e.body.to_vec())
            })
            .collect()
    }

    #[test]
    fn chats_are_numbered_per_stream_and_a_full_queue_drops_and_counts() {
        let (link, ends) = link(3);
        let (mut one, mut two) = (link.new_stream(), link.new_stream());
        link.publish(1, &mut one, b"a");
        link.publish(2, &mut two, b"b");
        link.publish(1, &mut one, b"c");
        link.publish(1, &mut one, b"dropped");
        assert_eq!(link.stats().dropped_queue_full(), 1);
        let got = queued(&ends);
        assert_eq!(got.len(), 3);
        let (e1, e2) = (got[0].0, got[1].0);
        assert_ne!(e1, e2, "each room has its own stream");
        assert_eq!(got[0], (e1, 0, b"a".to_vec()));
        assert_eq!(got[1], (e2, 0, b"b".to_vec()));
        assert_eq!(got[2], (e1, 1, b"c".to_vec()));
        link.taken(3);
        link.publish(1, &mut one, b"e");
        assert_eq!(
            queued(&ends),
            vec![(e1, 3, b"e".to_vec())],
            "the drop used up seq 2"
        );
        let mut again = link.new_stream();
        link.publish(1, &mut again, b"f");
        let got = queued(&ends);
        assert_eq!(got[0].1, 0);
        assert_ne!(got[0].0, e1, "a new stream, a new epoch");
    }

    #[test]
    fn membership_changes_reach_presence_and_subscriber() {
        let (link, ends) = link(8);
        assert_eq!(
            link.rooms_if_changed(false),
            Some(vec![]),
            "starts as changed"
        );
        assert_eq!(link.rooms_if_changed(false), None);
        link.local_members_changed(7, 1);
        assert!(ends.presence_wake.try_recv().is_ok(), "presence nudged");
        link.local_members_changed(7, 2); // same set of rooms
        assert_eq!(link.rooms_if_changed(false), Some(vec![7]));
        link.local_members_changed(7, 3);
        assert_eq!(link.rooms_if_changed(false), None, "only counts changed");
        let (counts, dirty) = link.take_local();
        assert_eq!((counts.get(&7), dirty), (Some(&3), vec![7]));
        link.local_members_changed(7, 0);
        assert_eq!(link.rooms_if_changed(false), Some(vec![]));
        let (counts, dirty) = link.take_local();
        assert!(counts.is_empty());
        assert_eq!(dirty, vec![7]);
    }

    #[test]
    fn counts_elsewhere_come_from_the_cache() {
        let (link, _ends) = link(8);
        assert_eq!(link.members_elsewhere(1), 0);
        let others = |members, nodes: &[&str]| Others {
            members,
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
        };
        link.set_others(HashMap::from([
            (1, others(4, &["b"])),
            (2, others(9, &["c"])),
        ]));
        link.merge_others(&[2, 3], HashMap::from([(3, others(1, &["b"]))]));
        assert!(link.knows(1, "b") && link.knows(3, "b"));
        assert!(!link.knows(2, "c"), "room 2 was refreshed without c");
        assert_eq!(
            (
                link.members_elsewhere(1),
                link.members_elsewhere(2),
                link.members_elsewhere(3)
            ),
            (4, 0, 1)
        );
    }
}
