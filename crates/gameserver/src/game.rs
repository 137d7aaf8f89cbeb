//! [`Game`]: the packet protocol — echo, rooms, chat — as a servercore `PacketHandler`, one
//! per event loop, over the chat rooms of the `rooms` facility ([`ChatRoom`]).
//!
//! A CHAT is serialized once here, on the sender's loop, and handed to the room's loop (a
//! direct call when it is this one, a posted job otherwise); the room queues the one buffer on
//! every member. No lock is taken on the way.

use game_protocol::login::hello_ok;
use rooms::{InputError, RoomHost, RoomId};
use servercore::packet::{Packet, PacketContext, PacketHandler, RateLimit};
use servercore::{CloseReason, Context, SessionId};

use crate::chat_room::{ChatRoom, Said};
use crate::cluster::Inbox;
use crate::login::Presence;
use crate::protocol;

/// One loop's share of the game: this loop's rooms and its sessions' seats, and (with
/// `--cluster`) its inbox of other instances' chats.
#[derive(Debug)]
pub struct Game {
    rooms: RoomHost<ChatRoom>,
    inbox: Option<Inbox>,
}

impl Game {
    /// A loop's handler over its host of the chat rooms
    /// ([`chat_rooms`](crate::chat_room::chat_rooms)`(..).host(loop)`).
    pub fn new(rooms: RoomHost<ChatRoom>) -> Game {
        Game { rooms, inbox: None }
    }

    /// As [`Game::new`], for rooms shared with other instances (made with the cluster's
    /// link), delivering their chats from this loop's `inbox`.
    pub fn clustered(rooms: RoomHost<ChatRoom>, inbox: Inbox) -> Game {
        Game {
            rooms,
            inbox: Some(inbox),
        }
    }

    fn chat(&mut self, ctx: &mut Context<'_>, id: SessionId, body: &[u8]) {
        // Serialized once; every member's queue shares this one buffer.
        let Ok(packet) = ctx.packet(protocol::CHAT_BROADCAST, body) else {
            return;
        };
        let result = self.rooms.input(ctx, id, Said::Chat(packet));
        refuse(ctx, id, result);
    }

    /// Tells the other members of `id`'s room `notice` about `player` (if it is in one).
    fn notice(&mut self, ctx: &mut Context<'_>, id: SessionId, notice: u16, player: &str) {
        let Some(body) = hello_ok(player) else {
            return;
        };
        if let Ok(packet) = ctx.packet(notice, &body) {
            let _ = self.rooms.input(ctx, id, Said::Notice(packet)); // not in a room: no one
        }
    }

    /// Closes the sessions whose waiting operations failed when their join was answered.
    fn rejected(&mut self, ctx: &mut Context<'_>) {
        for (id, err) in self.rooms.take_rejected() {
            refuse(ctx, id, Err(err));
        }
    }
}

/// What a failed room operation means for the session: a chat outside a room, or a flood
/// while joining, closes it (with a log line); a chat the room's loop could not take (far
/// behind) is dropped and counted, as a send to a loop that far behind is.
fn refuse(ctx: &mut Context<'_>, id: SessionId, result: Result<(), InputError>) {
    let why = match result {
        Ok(()) | Err(InputError::Busy) => return,
        Err(InputError::NotInRoom) => "CHAT outside a room",
        Err(InputError::Held) => "too many packets while joining a room",
    };
    tracing::info!(session = %id, "{why}");
    ctx.abort(id, CloseReason::Invalid(why));
}

/// A seated player's room hears it go away and come back.
impl Presence for Game {
    fn away(&mut self, ctx: &mut Context<'_>, id: SessionId, player: &str) {
        self.notice(ctx, id, protocol::PLAYER_AWAY, player);
    }

    fn back(&mut self, ctx: &mut Context<'_>, id: SessionId, player: &str) {
        self.notice(ctx, id, protocol::PLAYER_BACK, player);
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
                Some(room) => {
                    let result = self.rooms.join(ctx, id, RoomId(room), ());
                    refuse(ctx, id, result);
                }
                None => ctx.abort(id, CloseReason::Invalid("ENTER_ROOM body is not 4 bytes")),
            },
            protocol::LEAVE_ROOM => {
                let result = self.rooms.leave(ctx, id);
                refuse(ctx, id, result);
            }
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

    fn disconnected(&mut self, ctx: &mut Context<'_>, id: SessionId, _reason: CloseReason) {
        self.rooms.disconnected(ctx, id);
    }

    /// Jobs other loops posted to this loop's rooms, and (clustered) other instances' chats.
    fn notified(&mut self, ctx: &mut Context<'_>) {
        self.rooms.notified(ctx);
        if let Some(inbox) = &mut self.inbox {
            inbox.deliver(ctx, &mut self.rooms);
        }
        self.rejected(ctx);
    }

    fn tick(&mut self, ctx: &mut Context<'_>) {
        self.rooms.tick(ctx);
        self.rejected(ctx);
    }
}
