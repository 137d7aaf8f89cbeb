//! [`Arena`]: one event loop's packet handler for `--game arena` — ARENA_JOIN, ARENA_INPUT,
//! ARENA_LEAVE (and ECHO) — over the arenas of the `rooms` facility.

use std::sync::Arc;

use game_protocol::arena::{Input, Join};
use game_protocol::ids;
use rooms::{InputError, RoomHost, RoomId, RoomsHub};
use servercore::packet::{Packet, PacketContext, PacketHandler, RateLimit};
use servercore::{CloseReason, Context, SessionId};

use crate::arena::config::ArenaConfig;
use crate::arena::room::{ArenaRoom, OnClose};
use crate::arena::stats::ArenaStats;
use crate::protocol;

/// The arenas of a service of `loops` loops, counting into `stats`; `on_close` hears when an
/// arena empties (the cluster's lease).
pub fn arena_rooms(
    loops: usize,
    config: ArenaConfig,
    stats: Arc<ArenaStats>,
    on_close: Option<Arc<dyn OnClose>>,
) -> RoomsHub<ArenaRoom> {
    RoomsHub::new(loops, config.rooms(), move |id| {
        ArenaRoom::new(id, config, stats.clone(), on_close.clone())
    })
}

/// One loop's arena handler.
#[derive(Debug)]
pub struct Arena {
    rooms: RoomHost<ArenaRoom>,
}

impl Arena {
    /// A loop's handler over its host of the arenas ([`arena_rooms`]`(..).host(loop)`).
    pub fn new(rooms: RoomHost<ArenaRoom>) -> Arena {
        Arena { rooms }
    }

    fn join(&mut self, ctx: &mut Context<'_>, id: SessionId, body: &[u8]) {
        match Join::parse(body) {
            Some(join) => {
                let result = self.rooms.join(ctx, id, RoomId(join.room), ());
                refuse(ctx, id, result);
            }
            None => invalid(
                ctx,
                id,
                "ARENA_JOIN body is not a room and a 1..=16-byte name",
            ),
        }
    }

    fn input(&mut self, ctx: &mut Context<'_>, id: SessionId, body: &[u8]) {
        match Input::parse(body) {
            Some(input) => {
                let result = self.rooms.input(ctx, id, input);
                refuse(ctx, id, result);
            }
            None => invalid(ctx, id, "ARENA_INPUT body is not 6 bytes"),
        }
    }

    fn rejected(&mut self, ctx: &mut Context<'_>) {
        for (id, err) in self.rooms.take_rejected() {
            refuse(ctx, id, Err(err));
        }
    }
}

/// Closes a session that broke the protocol, with a log line.
fn invalid(ctx: &mut Context<'_>, id: SessionId, why: &'static str) {
    tracing::info!(session = %id, "{why}");
    ctx.abort(id, CloseReason::Invalid(why));
}

/// What a failed room operation means: an input outside an arena or a flood while joining
/// closes the session; an input the arena's loop could not take (far behind) is dropped and
/// counted.
fn refuse(ctx: &mut Context<'_>, id: SessionId, result: Result<(), InputError>) {
    match result {
        Ok(()) | Err(InputError::Busy) => {}
        Err(InputError::NotInRoom) => invalid(ctx, id, "ARENA_INPUT outside an arena"),
        Err(InputError::Held) => invalid(ctx, id, "too many packets while joining an arena"),
    }
}

impl PacketHandler for Arena {
    fn packet(&mut self, ctx: &mut Context<'_>, id: SessionId, packet: Packet<'_>) {
        match packet.id {
            ids::ECHO => {
                if let Ok(reply) = ctx.packet(ids::ECHO, packet.body) {
                    let _ = ctx.send(id, reply);
                }
            }
            ids::ARENA_JOIN => self.join(ctx, id, packet.body),
            ids::ARENA_INPUT => self.input(ctx, id, packet.body),
            ids::ARENA_LEAVE => {
                let result = self.rooms.leave(ctx, id);
                refuse(ctx, id, result);
            }
            _ => {
                tracing::info!(session = %id, packet_id = packet.id, "unknown packet id");
                ctx.abort(id, CloseReason::Invalid("unknown packet id"));
            }
        }
    }

    fn rate_limited(&mut self, ctx: &mut Context<'_>, id: SessionId, limit: RateLimit) {
        let _ = ctx.send_packet(id, ids::RATE_LIMITED, &protocol::rate_limited(limit));
    }

    fn disconnected(&mut self, ctx: &mut Context<'_>, id: SessionId, _reason: CloseReason) {
        self.rooms.disconnected(ctx, id);
    }

    fn notified(&mut self, ctx: &mut Context<'_>) {
        self.rooms.notified(ctx);
        self.rejected(ctx);
    }

    fn tick(&mut self, ctx: &mut Context<'_>) {
        self.rooms.tick(ctx);
        self.rejected(ctx);
    }
}
