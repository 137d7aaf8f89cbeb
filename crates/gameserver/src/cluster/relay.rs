//! [`Relay`]: a loop's handler plus its inbox from the backplane. The subscriber thread puts
//! the chats of other instances in a loop's bounded [`Inbox`] and notifies that loop; the loop
//! then runs [`Handler::notified`], where the relay serializes each chat once and queues it on
//! the room's local members, exactly as a local chat is.
//!
//! (It wraps the whole handler because `servercore::packet::Packets` does not pass
//! `notified` on to a `PacketHandler`.)

use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use servercore::packet::PacketContext;
use servercore::{CloseReason, Context, Handler, SessionId};

use crate::cluster::link::Link;
use crate::cluster::wire::unix_micros;
use crate::protocol;
use crate::room::Rooms;

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
    rooms: Arc<Rooms>,
    link: Arc<Link>,
}

/// Makes a bounded inbox for one loop: the sender goes to the subscriber thread.
pub fn inbox(bound: usize, rooms: Arc<Rooms>, link: Arc<Link>) -> (SyncSender<Incoming>, Inbox) {
    let (tx, chats) = std::sync::mpsc::sync_channel(bound);
    let inbox = Inbox {
        chats,
        bound,
        rooms,
        link,
    };
    (tx, inbox)
}

impl Inbox {
    /// Delivers what is waiting, at most the inbox bound (so one call is bounded too; the
    /// subscriber notifies again for what it queues later).
    fn deliver(&mut self, ctx: &mut Context<'_>) {
        self.answer_joins(ctx);
        for chat in self.chats.try_iter().take(self.bound) {
            // Serialized once per instance; every local member's queue shares it.
            if let Ok(packet) = ctx.packet(protocol::CHAT_BROADCAST, &chat.body) {
                self.rooms.broadcast(ctx, chat.room, &packet);
            }
            let waited = unix_micros().saturating_sub(chat.sent_at_us);
            self.link.stats().observe_latency(waited as f64 / 1e6);
        }
    }

    /// Sends the `ROOM_JOINED` answers that waited for this node to hear their rooms (to
    /// sessions still in that room).
    fn answer_joins(&mut self, ctx: &mut Context<'_>) {
        for waiter in self.link.take_ready(ctx.loop_index()) {
            if !self.rooms.contains(waiter.room, waiter.session) {
                continue; // left (or moved on) meanwhile
            }
            let count = u32::try_from(self.rooms.count(waiter.room)).unwrap_or(u32::MAX);
            let body = protocol::room_joined(waiter.room, count);
            if let Ok(reply) = ctx.packet(protocol::ROOM_JOINED, &body) {
                let _ = ctx.send(waiter.session, reply);
            }
        }
    }
}

/// `inner` (the loop's handler) with the loop's inbox, if the server is clustered.
#[derive(Debug)]
pub struct Relay<H> {
    inner: H,
    inbox: Option<Inbox>,
}

impl<H> Relay<H> {
    /// `inner`, receiving other instances' chats from `inbox` (None: not clustered).
    pub fn new(inner: H, inbox: Option<Inbox>) -> Relay<H> {
        Relay { inner, inbox }
    }

    /// The wrapped handler.
    pub fn inner(&self) -> &H {
        &self.inner
    }
}

impl<H: Handler> Handler for Relay<H> {
    fn connected(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        self.inner.connected(ctx, id);
    }

    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        self.inner.received(ctx, id, data)
    }

    fn sent(&mut self, ctx: &mut Context<'_>, id: SessionId, bytes: usize) {
        self.inner.sent(ctx, id, bytes);
    }

    fn disconnected(&mut self, ctx: &mut Context<'_>, id: SessionId, reason: CloseReason) {
        self.inner.disconnected(ctx, id, reason);
    }

    fn notified(&mut self, ctx: &mut Context<'_>) {
        if let Some(inbox) = &mut self.inbox {
            inbox.deliver(ctx);
        }
        self.inner.notified(ctx);
    }

    fn tick(&mut self, ctx: &mut Context<'_>) {
        self.inner.tick(ctx);
    }
}
