//! The subscriber thread: subscribed to the channel of every room that has local members (and
//! only those, so traffic follows where players are), it checks each chat's sequence number
//! and hands it to the loop that delivers that room (`room % loops`, so one room's chats keep
//! their order), through that loop's bounded inbox and a notification.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};

use servercore::Notifier;

use crate::cluster::backplane::{Connector, IO_TIMEOUT, POLL};
use crate::cluster::link::Link;
use crate::cluster::relay::Incoming;
use crate::cluster::sequence::{Sequences, Verdict};
use crate::cluster::stats::ClusterStats;
use crate::cluster::wire::{channel_room, room_channel, Envelope};

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
) {
    if inboxes.is_empty() {
        return;
    }
    let loops = Loops {
        inboxes,
        notifier,
        dropping: AtomicBool::new(false),
    };
    let mut sequences = Sequences::default();
    while let Some(mut con) = connector.connect() {
        link.listening(true);
        let result = listen(&mut con, connector, link, &loops, &mut sequences);
        for index in link.listening(false) {
            notifier.notify(index); // nobody waits for a subscriber that is not there
        }
        match result {
            Ok(()) => return, // stopping
            Err(err) => connector.lost(&err),
        }
    }
}

/// Subscribes as local membership says and delivers messages until the connection fails
/// (`Err`) or the backplane stops (`Ok`).
fn listen(
    con: &mut redis::Connection,
    connector: &Connector,
    link: &Link,
    loops: &Loops<'_>,
    sequences: &mut Sequences,
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
                sequences,
            )?;
        }
        match pubsub.get_message() {
            Ok(msg) => deliver(link, loops, sequences, &msg),
            Err(err) if err.is_timeout() => {}
            Err(err) => return Err(err),
        }
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
    let envelope = match Envelope::decode(msg.get_payload_bytes()) {
        Ok(envelope) => envelope,
        Err(err) => {
            tracing::warn!(
                node = link.node(),
                room,
                "ignoring a message on the room channel: {err}"
            );
            return;
        }
    };
    if envelope.origin == link.node() {
        return; // our own chat: its local members already have it
    }
    ClusterStats::add(&stats.received, 1);
    match sequences.check(room, envelope.origin, envelope.epoch, envelope.seq) {
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
    }
    let index = room as usize % loops.inboxes.len();
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
