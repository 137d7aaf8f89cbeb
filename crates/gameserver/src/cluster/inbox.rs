//! [`Inbox`]: one loop's receiving end of the backplane. The subscriber thread puts the chats
//! of other instances for room R in the bounded inbox of R's loop (`rooms::RoomId::owner`: the
//! loop that owns the room) and notifies that loop; the loop's `Game::notified` then delivers
//! each chat with [`Inbox::deliver`]: serialized once and queued on the room's members, exactly
//! as a local chat is, on the room's own loop.

use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use rooms::{RoomHost, RoomId};
use servercore::packet::PacketContext;
use servercore::Context;

use crate::chat_room::ChatRoom;
use crate::cluster::link::Link;
use crate::cluster::wire::unix_micros;
use crate::protocol;

/// A chat from another instance, for the local members of `room`.
#[derive(Debug)]
pub struct Incoming {
    pub room: u32,
    pub body: Vec<u8>,
    /// When the origin queued it (µs since the Unix epoch).
    pub sent_at_us: u64,
}

/// One loop's receiving end of the backplane.
#[derive(Debug)]
pub struct Inbox {
    chats: Receiver<Incoming>,
    bound: usize,
    link: Arc<Link>,
}

/// Makes a bounded inbox for one loop: the sender goes to the subscriber thread.
pub fn inbox(bound: usize, link: Arc<Link>) -> (SyncSender<Incoming>, Inbox) {
    let (tx, chats) = std::sync::mpsc::sync_channel(bound);
    let inbox = Inbox { chats, bound, link };
    (tx, inbox)
}

impl Inbox {
    /// Delivers what is waiting to the rooms of `host` (this loop's), at most the inbox bound
    /// (so one call is bounded too; the subscriber notifies again for what it queues later).
    pub fn deliver(&mut self, ctx: &mut Context<'_>, host: &mut RoomHost<ChatRoom>) {
        self.answer_joins(ctx, host);
        for chat in self.chats.try_iter().take(self.bound) {
            // Serialized once per instance; every local member's queue shares it.
            if let Ok(packet) = ctx.packet(protocol::CHAT_BROADCAST, &chat.body) {
                host.with_room(ctx, RoomId(chat.room), |_, room| room.broadcast(&packet));
            }
            let waited = unix_micros().saturating_sub(chat.sent_at_us);
            self.link.stats().observe_latency(waited as f64 / 1e6);
        }
    }

    /// Sends the `ROOM_JOINED` answers that waited for this node to hear their rooms (to
    /// sessions still in that room; the rooms are this loop's).
    fn answer_joins(&mut self, ctx: &mut Context<'_>, host: &mut RoomHost<ChatRoom>) {
        for waiter in self.link.take_ready(ctx.loop_index()) {
            host.with_room(ctx, RoomId(waiter.room), |chat, room| {
                if !room.is_member(waiter.session) {
                    return; // left (or moved on) meanwhile
                }
                let count = chat.count(room.members().len());
                let body = protocol::room_joined(waiter.room, count);
                let _ = room.send_packet(waiter.session, protocol::ROOM_JOINED, &body);
            });
        }
    }
}
