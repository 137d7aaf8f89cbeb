//! The subscriber thread: subscribed to the channel of every room that has local members (and
//! only those, so traffic follows where players are), it checks each chat — its signature,
//! its origin, its size against the packet bound a client is held to, its sequence number —
//! and hands it to the loop that owns that room (`rooms::RoomId::owner`, so one room's chats keep
//! their order), through that loop's bounded inbox and a notification. What it does not
//! believe is dropped and counted (`cluster_rejected_total{reason}`), never delivered.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant};

use servercore::Notifier;

use crate::cluster::backplane::{Connector, IO_TIMEOUT, POLL};
use crate::cluster::inbox::Incoming;
use crate::cluster::link::Link;
use crate::cluster::sequence::{Heard, Sequences, Verdict};
use crate::cluster::stats::{ClusterStats, Rejected};
use crate::cluster::wire::{channel_room, room_channel, unix_micros, Envelope, WireError};

/// A chat may start a stream only if the origin's clock put it at most this far from ours:
/// an older one is a replay of a recorded envelope (clocks are assumed within this of each
/// other, as NTP keeps them).
const FRESH: Duration = Duration::from_secs(60);
/// How often the streams of silent origins the presence data no longer names are forgotten.
const PURGE_EVERY: Duration = Duration::from_secs(1);

/// Where the subscriber delivers: one inbox per loop, and the loops' notifier.
struct Loops<'a> {
    inboxes: &'a [SyncSender<Incoming>],
    notifier: &'a Notifier,
    /// Set while an inbox is refusing chats (one log line per episode).
    dropping: AtomicBool,
}

/// Runs until the backplane stops. The sequence book survives reconnections: what was
/// published while this node was disconnected shows up as a gap.
pub(crate) fn run(
    connector: &mut Connector,
    link: &Link,
    inboxes: &[SyncSender<Incoming>],
    notifier: &Notifier,
    ttl: Duration,
) {
    if inboxes.is_empty() {
        return;
    }
    let loops = Loops {
        inboxes,
        notifier,
        dropping: AtomicBool::new(false),
    };
    let mut book = Book {
        sequences: Sequences::default(),
        silent: ttl * 2,
        next_purge: Instant::now(),
    };
    while let Some(mut con) = connector.connect() {
        link.listening(true);
        let result = listen(&mut con, connector, link, &loops, &mut book);
        for index in link.listening(false) {
            notifier.notify(index); // nobody waits for a subscriber that is not there
        }
        match result {
            Ok(()) => return, // stopping
            Err(err) => connector.lost(&err),
        }
    }
}

/// The streams heard, and when silent unknown origins are next forgotten.
struct Book {
    sequences: Sequences,
    /// An origin the presence data does not name is forgotten after this long without a chat.
    silent: Duration,
    next_purge: Instant,
}

impl Book {
    /// Forgets silent origins the presence data does not name, once per [`PURGE_EVERY`].
    fn purge(&mut self, link: &Link) {
        let now = Instant::now();
        if now < self.next_purge {
            return;
        }
        self.next_purge = now + PURGE_EVERY;
        self.sequences
            .purge(now, self.silent, |room, origin| link.knows(room, origin));
    }
}

/// Subscribes as local membership says and delivers messages until the connection fails
/// (`Err`) or the backplane stops (`Ok`).
fn listen(
    con: &mut redis::Connection,
    connector: &Connector,
    link: &Link,
    loops: &Loops<'_>,
    book: &mut Book,
) -> redis::RedisResult<()> {
    let mut pubsub = con.as_pubsub();
    pubsub.set_read_timeout(Some(POLL))?;
    let mut subscribed = HashSet::new();
    let mut force = true; // a new connection has no subscriptions
    loop {
        if connector.stopping() {
            return Ok(());
        }
        if let Some(rooms) = link.rooms_if_changed(force) {
            force = false;
            reconcile(
                link,
                loops.notifier,
                &mut pubsub,
                &rooms,
                &mut subscribed,
                &mut book.sequences,
            )?;
        }
        match pubsub.get_message() {
            Ok(msg) => {
                deliver(link, loops, &mut book.sequences, &msg);
                let origins = book.sequences.origins() as u64;
                link.stats().origins.store(origins, Ordering::Relaxed);
            }
            Err(err) if err.is_timeout() => {}
            Err(err) => return Err(err),
        }
        book.purge(link);
    }
}

/// Subscribes to the rooms in `wanted` not yet subscribed, unsubscribes from the others.
fn reconcile(
    link: &Link,
    notifier: &Notifier,
    pubsub: &mut redis::PubSub<'_>,
    wanted: &[u32],
    subscribed: &mut HashSet<u32>,
    sequences: &mut Sequences,
) -> redis::RedisResult<()> {
    let wanted: HashSet<u32> = wanted.iter().copied().collect();
    if wanted == *subscribed {
        return Ok(());
    }
    // A (un)subscribe waits for its reply as long as any command may; the short poll
    // timeout is for waiting on messages only.
    pubsub.set_read_timeout(Some(IO_TIMEOUT))?;
    for &room in wanted.difference(&subscribed.clone()) {
        pubsub.subscribe(room_channel(room))?;
        subscribed.insert(room);
        for index in link.subscribed(room) {
            notifier.notify(index); // members waiting for their ROOM_JOINED
        }
    }
    let gone: Vec<u32> = subscribed.difference(&wanted).copied().collect();
    for room in gone {
        pubsub.unsubscribe(room_channel(room))?;
        subscribed.remove(&room);
        link.unsubscribed(room);
        sequences.forget(room);
    }
    pubsub.set_read_timeout(Some(POLL))
}

/// Checks one message and queues it on its room's loop.
fn deliver(link: &Link, loops: &Loops<'_>, sequences: &mut Sequences, msg: &redis::Msg) {
    let stats = link.stats();
    let Some(room) = channel_room(msg.get_channel_name()) else {
        return;
    };
    let envelope = match Envelope::decode(msg.get_payload_bytes(), room, link.auth()) {
        Ok(envelope) => envelope,
        Err(err) => {
            let reason = match err {
                WireError::Truncated { .. } | WireError::Version(_) => Rejected::Malformed,
                WireError::Origin => Rejected::Origin,
                WireError::Signature => Rejected::Signature,
            };
            link.reject(reason, &format_args!("room {room}: {err}"));
            return;
        }
    };
    if envelope.origin == link.node() {
        return; // our own chat: its local members already have it
    }
    if envelope.body.len() > link.max_body() {
        let detail = format_args!(
            "room {room}: a chat of {} bytes from {}, over the {}-byte bound",
            envelope.body.len(),
            envelope.origin,
            link.max_body()
        );
        link.reject(Rejected::TooLarge, &detail);
        return;
    }
    let heard = Heard {
        room,
        origin: envelope.origin,
        epoch: envelope.epoch,
        seq: envelope.seq,
        fresh: Duration::from_micros(unix_micros().abs_diff(envelope.sent_at_us)) <= FRESH,
    };
    let verdict = sequences.check(heard, Instant::now(), |origin| link.knows(room, origin));
    if !matches!(verdict, Verdict::Stale | Verdict::Full) {
        ClusterStats::add(&stats.received, 1);
    }
    match verdict {
        Verdict::InOrder => {}
        Verdict::Gap { missing } => {
            ClusterStats::add(&stats.gaps, missing);
            tracing::warn!(
                node = link.node(),
                origin = envelope.origin,
                room,
                missing,
                "chats from another instance were lost (gap in its sequence)"
            );
        }
        Verdict::Duplicate => {
            ClusterStats::add(&stats.duplicates, 1);
            return;
        }
        Verdict::Stale => {
            let detail = format_args!(
                "room {room}: an old chat from {} would start a stream (a replay?)",
                envelope.origin
            );
            link.reject(Rejected::Stale, &detail);
            return;
        }
        Verdict::Full => {
            let detail = format_args!(
                "room {room}: a new stream from {}, over the bound of streams per room",
                envelope.origin
            );
            link.reject(Rejected::OriginsFull, &detail);
            return;
        }
    }
    let index = rooms::RoomId(room).owner(loops.inboxes.len());
    let chat = Incoming {
        room,
        body: envelope.body.to_vec(),
        sent_at_us: envelope.sent_at_us,
    };
    match loops.inboxes[index].try_send(chat) {
        Ok(()) => {
            if loops.dropping.swap(false, Ordering::Relaxed) {
                tracing::info!(node = link.node(), "loop inboxes take chats again");
            }
        }
        Err(TrySendError::Full(_)) => {
            ClusterStats::add(&stats.inbox_dropped, 1);
            if !loops.dropping.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    node = link.node(),
                    loop_index = index,
                    "a loop's inbox is full: dropping chats from other instances (counted)"
                );
            }
        }
        Err(TrySendError::Disconnected(_)) => return, // the loops are stopping
    }
    loops.notifier.notify(index);
}
