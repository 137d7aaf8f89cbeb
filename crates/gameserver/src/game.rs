//! [`Game`]: the packet protocol — echo, rooms, chat — as a servercore `PacketHandler`.

use std::collections::HashMap;
use std::sync::Arc;

use servercore::packet::{Packet, PacketContext, PacketHandler, RateLimit};
use servercore::{CloseReason, Context, SessionId};

use crate::cluster::{Link, Waiter};
use crate::protocol;
use crate::room::Rooms;

/// One loop's share of the game: which room each of its sessions is in, plus the rooms
/// shared by all loops.
#[derive(Debug)]
pub struct Game {
    rooms: Arc<Rooms>,
    room_of: HashMap<SessionId, u32>,
    /// Set with `--cluster`: chats are also published for the room's other instances.
    cluster: Option<Arc<Link>>,
}

impl Game {
    /// A loop's handler over the shared `rooms`.
    pub fn new(rooms: Arc<Rooms>) -> Game {
        Game {
            rooms,
            room_of: HashMap::new(),
            cluster: None,
        }
    }

    /// A loop's handler over `rooms` shared with other instances: each chat is also published
    /// through `link` (the rooms should be made with `Rooms::with_peers(.., link)`).
    pub fn clustered(rooms: Arc<Rooms>, link: Arc<Link>) -> Game {
        Game {
            cluster: Some(link),
            ..Game::new(rooms)
        }
    }

    /// Joins `room` (then leaves the previous one) and answers ROOM_JOINED, or answers
    /// ROOM_FULL and stays where it was. Clustered, ROOM_JOINED may wait until this instance
    /// hears the room's other instances (see `cluster::Link::answer_now`).
    fn enter(&mut self, ctx: &mut Context<'_>, id: SessionId, room: u32) {
        let (reply_id, count) = match self.rooms.join(room, id) {
            Ok(members) => {
                if let Some(previous) = self.room_of.insert(id, room) {
                    if previous != room {
                        self.rooms.leave(previous, id);
                    }
                }
                (protocol::ROOM_JOINED, members)
            }
            Err(full) => (protocol::ROOM_FULL, full.capacity),
        };
        if reply_id == protocol::ROOM_JOINED {
            if let Some(link) = &self.cluster {
                let waiter = Waiter {
                    session: id,
                    room,
                    loop_index: ctx.loop_index(),
                };
                if !link.answer_now(waiter) {
                    return; // answered by `cluster::Relay` once this node hears the room
                }
            }
        }
        let body = protocol::room_joined(room, u32::try_from(count).unwrap_or(u32::MAX));
        if let Ok(reply) = ctx.packet(reply_id, &body) {
            let _ = ctx.send(id, reply);
        }
    }

    fn leave(&mut self, id: SessionId) {
        if let Some(room) = self.room_of.remove(&id) {
            self.rooms.leave(room, id);
        }
    }

    fn chat(&mut self, ctx: &mut Context<'_>, id: SessionId, body: &[u8]) {
        let Some(&room) = self.room_of.get(&id) else {
            ctx.abort(id, CloseReason::Invalid("CHAT outside a room"));
            return;
        };
        // Serialized once; every member's queue shares this one buffer.
        if let Ok(packet) = ctx.packet(protocol::CHAT_BROADCAST, body) {
            self.rooms.broadcast(ctx, room, &packet);
        }
        if let Some(link) = &self.cluster {
            link.publish(room, body); // never waits: queued or dropped and counted
        }
    }
}

impl PacketHandler for Game {
    fn packet(&mut self, ctx: &mut Context<'_>, id: SessionId, packet: Packet<'_>) {
        match packet.id {
            protocol::ECHO => {
                if let Ok(reply) = ctx.packet(protocol::ECHO, packet.body) {
                    let _ = ctx.send(id, reply);
                }
            }
            protocol::ENTER_ROOM => match protocol::parse_room(packet.body) {
                Some(room) => self.enter(ctx, id, room),
                None => ctx.abort(id, CloseReason::Invalid("ENTER_ROOM body is not 4 bytes")),
            },
            protocol::LEAVE_ROOM => self.leave(id),
            protocol::CHAT => self.chat(ctx, id, packet.body),
            _ => {
                tracing::info!(session = %id, packet_id = packet.id, "unknown packet id");
                ctx.abort(id, CloseReason::Invalid("unknown packet id"));
            }
        }
    }

    /// Tells the client why it is being closed: RATE_LIMITED with the limit, which leaves
    /// after the replies already queued and before the FIN.
    fn rate_limited(&mut self, ctx: &mut Context<'_>, id: SessionId, limit: RateLimit) {
        let _ = ctx.send_packet(id, protocol::RATE_LIMITED, &protocol::rate_limited(limit));
    }

    fn disconnected(&mut self, _ctx: &mut Context<'_>, id: SessionId, _reason: CloseReason) {
        self.leave(id);
    }
}
