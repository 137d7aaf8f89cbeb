//! [`ArenaRoom`]: one arena on the `rooms` facility. It lives on one event loop and ticks at
//! `tick_hz`:
//!
//! ```text
//!   inputs      the facility applies the intents queued since the last tick (heading, speed
//!               clamped to max_speed and counted, the tag action), at most 4 per player
//!   simulation  every player moves one step (game_protocol::arena::Rules::step); tags
//!   grid        every player's cell in the spatial grid (cells as wide as the view radius)
//!   encode      each player: the entities within its view radius (3 x 3 cells), the nearest
//!               max_in_view, diffed against what it was last sent, into one pooled buffer
//!   send        each snapshot queued on its player's session (the loop flushes after the tick)
//! ```
//!
//! Inputs are intents, never positions: the server alone moves players, by the rules every
//! client knows, so a client can check its own moves ([`game_protocol::arena::ClientWorld`]).

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use game_protocol::arena::{EntityState, Input, Welcome, ACTION_TAG};
use game_protocol::{chat, ids};
use rooms::interest::Grid;
use rooms::{Refused, Room, RoomContext, RoomId};
use servercore::SessionId;

use crate::arena::config::ArenaConfig;
use crate::arena::snapshot::{Frame, Writer};
use crate::arena::stats::{ArenaStats, Clamped, Phase};
use crate::arena::tag;
use crate::arena::world::{Player, Rng, World};

/// Something to tell outside the room when it closes (the cluster's lease: see
/// `crate::arena::ownership`).
pub trait OnClose: Send + Sync + std::fmt::Debug {
    /// Arena `room` has no player left on this instance.
    fn closed(&self, room: u32);
}

/// One arena.
#[derive(Debug)]
pub struct ArenaRoom {
    id: RoomId,
    config: ArenaConfig,
    world: World,
    /// Every player's position and state this tick (what snapshots list), by cell.
    grid: Grid<EntityState>,
    writer: Writer,
    /// Players who asked to tag this tick.
    taggers: Vec<u16>,
    /// This tick's snapshots, waiting for the send phase.
    outgoing: Vec<(SessionId, Bytes)>,
    rng: Rng,
    stats: Arc<ArenaStats>,
    on_close: Option<Arc<dyn OnClose>>,
    /// The number of the last tick run (0: none yet).
    last_tick: u64,
}

impl ArenaRoom {
    /// Arena `id` under `config`, counting into `stats`.
    pub fn new(
        id: RoomId,
        config: ArenaConfig,
        stats: Arc<ArenaStats>,
        on_close: Option<Arc<dyn OnClose>>,
    ) -> ArenaRoom {
        let extent = config.rules.extent();
        let radius = i32::from(config.rules.view_radius) * i32::from(game_protocol::arena::QUANTA);
        ArenaStats::add(&stats.arenas, 1);
        ArenaRoom {
            id,
            config,
            world: World::default(),
            grid: Grid::new(extent, extent, radius),
            writer: Writer::default(),
            taggers: Vec::new(),
            outgoing: Vec::new(),
            rng: Rng::new(u64::from(id.0)),
            stats,
            on_close,
            last_tick: 0,
        }
    }

    /// The players, for a look from outside (tests: [`rooms::RoomsHub::visit`]).
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The number of the last tick run: the players' positions are the ones its snapshots
    /// showed (0: no tick yet).
    pub fn last_tick(&self) -> u64 {
        self.last_tick
    }

    /// Everyone moves one step.
    fn simulate(&mut self) {
        let rules = &self.config.rules;
        for (_, p) in self.world.iter_mut() {
            p.pos = rules.step(p.pos, rules.velocity(p.heading, p.speed));
        }
    }

    /// Everyone's cell, and the states snapshots are made of.
    fn place(&mut self, tick: u64) {
        for (id, p) in self.world.iter() {
            self.grid
                .update(u32::from(id), p.pos.0, p.pos.1, p.state(tick));
        }
    }

    /// Every player's snapshot, into `outgoing`; returns (bytes, entities listed).
    fn encode(&mut self, ctx: &mut RoomContext<'_, '_, ()>, frame: Frame) -> (u64, u64) {
        let (rules, grid) = (&self.config.rules, &self.grid);
        let (mut bytes, mut listed) = (0, 0);
        for (id, player) in self.world.iter_mut() {
            let member = player.member;
            let snapshot = self
                .writer
                .write(ctx.core(), rules, grid, (id, player), frame);
            bytes += snapshot.len() as u64;
            listed += player.view.len() as u64;
            self.outgoing.push((member, snapshot));
        }
        (bytes, listed)
    }
}

/// The wall clock in µs since the Unix epoch, low 32 bits (snapshots carry it).
fn wall_us() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u32)
}

impl Room for ArenaRoom {
    type Join = ();
    type Input = Input;
    type Timer = ();

    /// A new player, at a random point, told its id and the rules.
    fn join(
        &mut self,
        ctx: &mut RoomContext<'_, '_, ()>,
        member: SessionId,
        (): (),
    ) -> Result<(), Refused> {
        if self.world.id_of(member).is_some() {
            return Ok(()); // joined again: it is in already
        }
        let extent = u32::try_from(self.config.rules.extent()).unwrap_or(1);
        let pos = (self.rng.below(extent) as i32, self.rng.below(extent) as i32);
        let player = Player::new(member, pos);
        let Some(id) = self.world.add(player) else {
            return Err(Refused); // every id taken (the capacity flag stops short of it)
        };
        let state = EntityState {
            x: pos.0 as u16,
            y: pos.1 as u16,
            flags: 0,
        };
        self.grid.insert(u32::from(id), pos.0, pos.1, state);
        tag::balance(&mut self.world);
        ArenaStats::add(&self.stats.players, 1);
        let welcome = Welcome {
            room: self.id.0,
            you: id,
            rules: self.config.rules,
        };
        let _ = ctx.send_packet(member, ids::ARENA_WELCOME, &welcome.encode());
        Ok(())
    }

    fn full(&mut self, ctx: &mut RoomContext<'_, '_, ()>, member: SessionId, (): ()) {
        let capacity = u32::try_from(self.config.capacity).unwrap_or(u32::MAX);
        let _ = ctx.send_packet(
            member,
            ids::ROOM_FULL,
            &chat::room_joined(self.id.0, capacity),
        );
    }

    fn leave(&mut self, _ctx: &mut RoomContext<'_, '_, ()>, member: SessionId) {
        if let Some((id, _)) = self.world.remove(member) {
            self.grid.remove(u32::from(id));
            tag::balance(&mut self.world);
            ArenaStats::sub(&self.stats.players, 1);
        }
    }

    /// An intent: heading, speed (clamped to the rules, counted if it asked for more), the
    /// tag action (other action bits are ignored and counted).
    fn input(&mut self, _ctx: &mut RoomContext<'_, '_, ()>, member: SessionId, input: Input) {
        let Some(id) = self.world.id_of(member) else {
            return;
        };
        let rules = self.config.rules;
        if input.speed > rules.max_speed {
            self.stats.clamped(Clamped::Speed);
        }
        if input.actions & !ACTION_TAG != 0 {
            self.stats.clamped(Clamped::Actions);
        }
        if let Some(p) = self.world.get_mut(id) {
            p.heading = input.direction;
            p.speed = rules.clamp_speed(input.speed);
            p.input_ack = input.seq;
        }
        if input.actions & ACTION_TAG != 0 {
            self.taggers.push(id);
        }
    }

    fn tick(&mut self, ctx: &mut RoomContext<'_, '_, ()>) {
        let info = ctx.tick();
        self.last_tick = info.number;
        let frame = Frame {
            tick: info.number as u32,
            sent_at_us: wall_us(),
            at: info.number,
        };
        let stats = self.stats.clone();
        stats.phase(Phase::Inputs, info.inputs);
        let started = Instant::now();
        self.simulate();
        let moved = Instant::now();
        self.place(info.number);
        let placed = Instant::now();
        let rules = self.config.rules;
        let cooldown = self.config.cooldown_ticks();
        let taggers = std::mem::take(&mut self.taggers);
        let tags = tag::resolve(
            &mut self.world,
            &self.grid,
            &rules,
            &taggers,
            info.number,
            cooldown,
        );
        self.taggers = taggers;
        self.taggers.clear();
        if tags > 0 {
            self.place(info.number); // the tagged players' flags
        }
        let tagged = Instant::now();
        let (bytes, listed) = self.encode(ctx, frame);
        let encoded = Instant::now();
        for (member, snapshot) in self.outgoing.drain(..) {
            let _ = ctx.send(member, snapshot);
        }
        let sent = Instant::now();
        self.world.recycle();
        stats.phase(Phase::Simulation, (moved - started) + (tagged - placed));
        stats.phase(Phase::Grid, placed - moved);
        stats.phase(Phase::Encode, encoded - tagged);
        stats.phase(Phase::Send, sent - encoded);
        let players = self.world.len() as u64;
        for (counter, n) in [
            (&stats.ticks, 1),
            (&stats.player_ticks, players),
            (&stats.snapshots, players),
            (&stats.snapshot_bytes, bytes),
            (&stats.in_view, listed),
            (&stats.tags, tags),
        ] {
            ArenaStats::add(counter, n);
        }
    }

    fn closing(&mut self, _ctx: &mut RoomContext<'_, '_, ()>) {
        ArenaStats::sub(&self.stats.arenas, 1);
        if let Some(on_close) = &self.on_close {
            on_close.closed(self.id.0);
        }
    }
}
