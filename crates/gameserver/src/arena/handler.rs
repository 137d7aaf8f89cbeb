//! [`Arena`]: one event loop's packet handler for `--game arena` — ARENA_JOIN, ARENA_INPUT,
//! ARENA_LEAVE (and ECHO) — over the arenas of the `rooms` facility. Clustered, a join first
//! asks [`Leases`] who owns the arena: here (join it), another instance (REDIRECT), or not
//! known yet (the join waits for the lease keeper's answer, delivered in `notified`).

use std::sync::Arc;

use game_protocol::arena::{Input, Join, Redirect};
use game_protocol::{chat, ids};
use rooms::{InputError, RoomHost, RoomId, RoomsHub};
use servercore::packet::{Packet, PacketContext, PacketHandler, RateLimit};
use servercore::{CloseReason, Context, SessionId};

use crate::arena::config::ArenaConfig;
use crate::arena::room::{ArenaRoom, OnClose};
use crate::arena::stats::ArenaStats;
use crate::arena::waiting::Waiting;
use crate::cluster::{LeaseStats, Leases, Owner};
use crate::login::Presence;
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
    /// With `--cluster`: who owns which arena, and the joins waiting to know.
    cluster: Option<(Arc<Leases>, Waiting)>,
}

impl Arena {
    /// A loop's handler over its host of the arenas ([`arena_rooms`]`(..).host(loop)`).
    pub fn new(rooms: RoomHost<ArenaRoom>) -> Arena {
        Arena {
            rooms,
            cluster: None,
        }
    }

    /// As [`Arena::new`], in a cluster: arenas live where `leases` say (the arenas made with
    /// the same leases as their `OnClose`).
    pub fn clustered(rooms: RoomHost<ArenaRoom>, leases: Arc<Leases>) -> Arena {
        Arena {
            rooms,
            cluster: Some((leases, Waiting::default())),
        }
    }

    fn join(&mut self, ctx: &mut Context<'_>, id: SessionId, body: &[u8]) {
        let Some(room) = Join::parse(body).map(|join| join.room) else {
            return invalid(
                ctx,
                id,
                "ARENA_JOIN body is not a room and a 1..=16-byte name",
            );
        };
        let Some((leases, waiting)) = &mut self.cluster else {
            return self.enter(ctx, id, room);
        };
        match leases.owner(room) {
            Some(owner) => self.answer(ctx, id, room, owner),
            None => match waiting.add(room, id) {
                Ok(true) if !leases.request(room, ctx.loop_index()) => {
                    for id in waiting.take(room) {
                        self.answer(ctx, id, room, Owner::Unavailable);
                    }
                }
                Ok(_) => {} // answered when the keeper knows
                Err(_) => self.answer(ctx, id, room, Owner::Unavailable),
            },
        }
    }

    /// Joins arena `room` here.
    fn enter(&mut self, ctx: &mut Context<'_>, id: SessionId, room: u32) {
        let result = self.rooms.join(ctx, id, RoomId(room), ());
        refuse(ctx, id, result);
    }

    /// Answers a join of `room` as its `owner` says.
    fn answer(&mut self, ctx: &mut Context<'_>, id: SessionId, room: u32, owner: Owner) {
        let Some((leases, _)) = &self.cluster else {
            return self.enter(ctx, id, room);
        };
        let stats = &leases.stats;
        match owner {
            Owner::Here => self.enter(ctx, id, room),
            Owner::There { addr, websocket } => {
                LeaseStats::add(&stats.redirects);
                let body = Redirect {
                    room,
                    addr: &addr,
                    websocket: &websocket,
                }
                .encode();
                let _ = ctx.send_packet(id, ids::REDIRECT, &body);
            }
            Owner::Unavailable => {
                LeaseStats::add(&stats.unavailable);
                let _ = ctx.send_packet(id, ids::ROOM_UNAVAILABLE, &chat::room(room));
            }
        }
    }

    /// The lease keeper's answers for this loop's waiting joins, and its arenas whose lease
    /// another node took (their players are redirected there and removed).
    fn leases(&mut self, ctx: &mut Context<'_>) {
        let Some((leases, waiting)) = &mut self.cluster else {
            return;
        };
        let leases = leases.clone();
        let mut answers = Vec::new();
        for room in leases.take_ready(ctx.loop_index()) {
            let owner = leases.owner(room).unwrap_or(Owner::Unavailable);
            let waiters = waiting.take(room);
            answers.extend(waiters.into_iter().map(|id| (id, room, owner.clone())));
        }
        for (id, room, owner) in answers {
            self.answer(ctx, id, room, owner);
        }
        for room in leases.take_lost(ctx.loop_index()) {
            let owner = leases.owner(room).unwrap_or(Owner::Unavailable);
            self.evict(ctx, room, &owner);
        }
    }

    /// Sends every player of `room` (owned here) where `owner` says, and removes them.
    fn evict(&mut self, ctx: &mut Context<'_>, room: u32, owner: &Owner) {
        let members: Vec<SessionId> = self
            .rooms
            .members(RoomId(room))
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        let (addr, websocket) = match owner {
            Owner::There { addr, websocket } => (addr.as_str(), websocket.as_str()),
            Owner::Here | Owner::Unavailable => ("", ""),
        };
        let body = Redirect {
            room,
            addr,
            websocket,
        }
        .encode();
        self.rooms.with_room(ctx, RoomId(room), |_, arena| {
            for &member in &members {
                let _ = arena.send_packet(member, ids::REDIRECT, &body);
            }
        });
        for member in members {
            self.rooms.remove_member(ctx, RoomId(room), member);
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

/// An arena shows who is there in its snapshots: a held seat's player simply stands still.
impl Presence for Arena {}

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
        if let Some((_, waiting)) = &mut self.cluster {
            waiting.remove(id);
        }
    }

    fn notified(&mut self, ctx: &mut Context<'_>) {
        self.rooms.notified(ctx);
        self.leases(ctx);
        self.rejected(ctx);
    }

    fn tick(&mut self, ctx: &mut Context<'_>) {
        self.rooms.tick(ctx);
        self.rejected(ctx);
    }
}
