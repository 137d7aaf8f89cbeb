//! [`ChatRoom`]: a chat room on the `rooms` facility. The room lives on one event loop (`room %
//! loops`); a member's CHAT, serialized once as CHAT_BROADCAST on the member's loop, is posted
//! to the room's loop (or handed over directly when that is the same loop) and queued there on
//! every member, in one pass, with no lock: the same shared buffer for each (members on other
//! loops get it through their loop's mailbox, never copied).
//!
//! Delivery rules (docs/protocol.md): every member, the sender included, gets each chat
//! exactly once; one sender's chats arrive in the order sent — its loop posts them to the
//! room's loop in order (a FIFO queue per poster), the room queues them on every member in
//! that order, and a member on a third loop gets them through that loop's FIFO mailbox.
//!
//! With `--cluster` the room also publishes each chat (numbered in the room's own stream,
//! which no other thread touches) and counts the members of other instances ([`Peers`]) in
//! its capacity and in ROOM_JOINED.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use rooms::{Refused, Room, RoomContext, RoomId, RoomsConfig, RoomsHub};
use servercore::packet::HEADER_LEN;
use servercore::SessionId;

use crate::cluster::{Link, Stream, Waiter};
use crate::protocol;

/// Default most members of one room (`gameserver --max-room-members`).
pub const DEFAULT_ROOM_CAPACITY: usize = 1000;

/// The other instances sharing the rooms, as a room sees them. Neither call may block (no
/// I/O): they read a cache or note a change. A room calls `local_members_changed` on its own
/// loop as its membership changes, so one room's changes reach the peers in order.
pub trait Peers: Send + Sync + fmt::Debug {
    /// Members of `room` on other instances, as last known.
    fn members_elsewhere(&self, room: u32) -> usize;
    /// This instance's member count of `room` is now `members` (0: none left).
    fn local_members_changed(&self, room: u32, members: usize);
}

/// The chat rooms of a service of `loops` loops, each holding at most `capacity` members
/// (across instances when `link` is given: `--cluster`).
pub fn chat_rooms(loops: usize, capacity: usize, link: Option<Arc<Link>>) -> RoomsHub<ChatRoom> {
    let config = RoomsConfig {
        capacity,
        ..RoomsConfig::default()
    };
    RoomsHub::new(loops, config, move |id| {
        ChatRoom::new(id, capacity, link.clone())
    })
}

/// What a member puts into its room.
#[derive(Debug, Clone)]
pub enum Said {
    /// A CHAT_BROADCAST packet: to every member (the sender too), and published with
    /// `--cluster`.
    Chat(Bytes),
    /// A notice about the member (PLAYER_AWAY, PLAYER_BACK): to the other members of this
    /// instance.
    Notice(Bytes),
}

/// One chat room.
#[derive(Debug)]
pub struct ChatRoom {
    id: u32,
    capacity: usize,
    /// With `--cluster`: the backplane, and this room's stream of published chats (made at
    /// the first publish: a room that gets its first local member again starts a new one).
    cluster: Option<(Arc<Link>, Option<Stream>)>,
}

impl ChatRoom {
    /// Room `id` of `capacity` members, published through `link` if clustered.
    pub fn new(id: RoomId, capacity: usize, link: Option<Arc<Link>>) -> ChatRoom {
        ChatRoom {
            id: id.0,
            capacity,
            cluster: link.map(|link| (link, None)),
        }
    }

    fn elsewhere(&self) -> usize {
        self.cluster
            .as_ref()
            .map_or(0, |(link, _)| link.members_elsewhere(self.id))
    }

    fn changed(&self, members: usize) {
        if let Some((link, _)) = &self.cluster {
            link.local_members_changed(self.id, members);
        }
    }

    /// Members on every instance, this one's included.
    pub fn count(&self, local: usize) -> u32 {
        u32::try_from(local + self.elsewhere()).unwrap_or(u32::MAX)
    }

    /// Sends `member` its ROOM_JOINED now, unless (clustered) this node does not hear the
    /// room's other instances yet: then `Game` answers it once it does (see
    /// `cluster::Link::answer_now`).
    fn answer(&self, ctx: &mut RoomContext<'_, '_, ()>, member: SessionId, members: u32) {
        if let Some((link, _)) = &self.cluster {
            let waiter = Waiter {
                session: member,
                room: self.id,
                loop_index: ctx.core().loop_index(),
            };
            if !link.answer_now(waiter) {
                return;
            }
        }
        let body = protocol::room_joined(self.id, members);
        let _ = ctx.send_packet(member, protocol::ROOM_JOINED, &body);
    }

    fn refuse(&self, ctx: &mut RoomContext<'_, '_, ()>, member: SessionId) {
        let capacity = u32::try_from(self.capacity).unwrap_or(u32::MAX);
        let body = protocol::room_joined(self.id, capacity);
        let _ = ctx.send_packet(member, protocol::ROOM_FULL, &body);
    }
}

impl Room for ChatRoom {
    type Join = ();
    /// A CHAT_BROADCAST packet, serialized once on the sender's loop, or a notice about the
    /// member.
    type Input = Said;
    type Timer = ();

    /// In if the room (on every instance) has a place: ROOM_JOINED with the count after the
    /// join; else ROOM_FULL. A member already in is answered again and stays.
    fn join(
        &mut self,
        ctx: &mut RoomContext<'_, '_, ()>,
        member: SessionId,
        (): (),
    ) -> Result<(), Refused> {
        let here = ctx.members().len();
        if ctx.is_member(member) {
            self.answer(ctx, member, self.count(here));
            return Ok(());
        }
        if here + self.elsewhere() >= self.capacity {
            self.refuse(ctx, member);
            return Err(Refused);
        }
        self.changed(here + 1);
        self.answer(ctx, member, self.count(here + 1));
        Ok(())
    }

    fn full(&mut self, ctx: &mut RoomContext<'_, '_, ()>, member: SessionId, (): ()) {
        self.refuse(ctx, member);
    }

    fn leave(&mut self, ctx: &mut RoomContext<'_, '_, ()>, _member: SessionId) {
        self.changed(ctx.members().len());
    }

    /// One pass over the members with the one buffer; then, clustered, one publish.
    fn input(&mut self, ctx: &mut RoomContext<'_, '_, ()>, member: SessionId, said: Said) {
        match said {
            Said::Chat(packet) => {
                ctx.broadcast(&packet);
                if let Some((link, stream)) = &mut self.cluster {
                    let stream = stream.get_or_insert_with(|| link.new_stream());
                    link.publish(self.id, stream, &packet[HEADER_LEN..]); // never waits
                }
            }
            Said::Notice(packet) => {
                let others: Vec<SessionId> = ctx
                    .members()
                    .iter()
                    .copied()
                    .filter(|&m| m != member)
                    .collect();
                for other in others {
                    let _ = ctx.send(other, packet.clone());
                }
            }
        }
    }
}
