//! [`RoomHost`]: one event loop's share of the rooms, held by that loop's handler. It has two
//! sides:
//!
//! - **member side**, for the loop's own sessions: [`RoomHost::join`], [`RoomHost::input`],
//!   [`RoomHost::leave`], [`RoomHost::disconnected`] route each operation to the room's owning
//!   loop — a direct call when that is this loop, a posted job otherwise — and keep each
//!   session's [`Seat`];
//! - **owner side**, for the rooms this loop owns: it runs the jobs other loops post
//!   ([`RoomHost::notified`]), the ticks and timers ([`RoomHost::tick`]), and lets the handler
//!   reach a room ([`RoomHost::with_room`]).
//!
//! The handler calls `notified` and `tick` from its own `Handler::notified` and
//! `Handler::tick`, with `ServiceConfig::tick` set to `RoomsConfig::loop_tick()`.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use servercore::{Context, SessionId};

use crate::context::{RoomContext, TickInfo};
use crate::hub::HubShared;
use crate::jobs::Job;
use crate::outbound::{Outbound, Outgoing};
use crate::room::{Room, RoomId};
use crate::seat::{hold, Held, Seat};
use crate::slot::RoomSlot;
use crate::stats::{histogram, Dropped, LoopRoomStats};

/// Most jobs run in one call; the rest wait for the next (the loop notifies itself), so a
/// flood of posts cannot hold the loop's other sessions up for long.
const MAX_JOBS_PER_DRAIN: usize = 65_536;

/// How often the loop publishes its room stats.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Why a member's operation was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputError {
    /// The session is in no room.
    NotInRoom,
    /// The room's loop already holds `max_posted_inputs` inputs from other loops: dropped and
    /// counted (the room's loop is far behind).
    Busy,
    /// The session already has `max_held` operations waiting for its join's answer.
    Held,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InputError::NotInRoom => "not in a room",
            InputError::Busy => "the room's loop is far behind",
            InputError::Held => "too many operations while joining a room",
        })
    }
}

impl std::error::Error for InputError {}

/// One loop's rooms and seats.
pub struct RoomHost<R: Room> {
    index: usize,
    hub: Arc<HubShared<R>>,
    inbox: Receiver<Job<R>>,
    rooms: HashMap<RoomId, RoomSlot<R>>,
    seats: HashMap<SessionId, Seat<R>>,
    /// What the rooms sent to other loops' members during the current call.
    out: Outbound,
    /// Operations replayed from a seat that failed (for [`RoomHost::take_rejected`]).
    rejected: Vec<(SessionId, InputError)>,
    tick_us: Histogram<u64>,
    next_publish: Option<Instant>,
}

impl<R: Room> std::fmt::Debug for RoomHost<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomHost")
            .field("index", &self.index)
            .field("rooms", &self.rooms.len())
            .field("seats", &self.seats.len())
            .finish_non_exhaustive()
    }
}

impl<R: Room> RoomHost<R> {
    pub(crate) fn new(index: usize, hub: Arc<HubShared<R>>, inbox: Receiver<Job<R>>) -> Self {
        let loops = hub.queues.loops();
        RoomHost {
            index,
            hub,
            inbox,
            rooms: HashMap::new(),
            seats: HashMap::new(),
            out: Outbound::new(loops),
            rejected: Vec::new(),
            tick_us: histogram(),
            next_publish: None,
        }
    }

    fn stats(&self) -> &LoopRoomStats {
        &self.hub.stats[self.index]
    }

    fn owner(&self, room: RoomId) -> usize {
        room.owner(self.hub.queues.loops())
    }

    // ---- member side -------------------------------------------------------------------

    /// The room `member` (a session of this loop) is in, if any (not one it is joining).
    pub fn room_of(&self, member: SessionId) -> Option<RoomId> {
        self.seats.get(&member).and_then(Seat::room)
    }

    /// `member` asks into `room` (leaving its current room if it gets in). Answered by the
    /// room ([`Room::join`]); until then the member's next operations wait.
    ///
    /// # Errors
    /// [`InputError::Held`] if it already has `max_held` operations waiting.
    pub fn join(
        &mut self,
        ctx: &mut Context<'_>,
        member: SessionId,
        room: RoomId,
        join: R::Join,
    ) -> Result<(), InputError> {
        let max = self.hub.config.max_held;
        let from = match self.seats.get_mut(&member) {
            Some(Seat::Joining { held, .. }) => {
                return hold(held, Held::Join(room, join), max).map_err(|_| self.held_full());
            }
            Some(Seat::In(current)) => Some(*current),
            None => None,
        };
        let owner = self.owner(room);
        if owner == self.index {
            let joined = self.owner_join(ctx, room, member, join);
            self.settle(ctx, member, room, from, joined, VecDeque::new());
        } else {
            let held = VecDeque::new();
            self.seats
                .insert(member, Seat::Joining { room, from, held });
            self.hub
                .queues
                .post(owner, Job::Join { room, member, join });
        }
        self.flush();
        Ok(())
    }

    /// `member` leaves its room (no-op if in none).
    ///
    /// # Errors
    /// [`InputError::Held`] while joining with `max_held` operations waiting.
    pub fn leave(&mut self, ctx: &mut Context<'_>, member: SessionId) -> Result<(), InputError> {
        let max = self.hub.config.max_held;
        match self.seats.get_mut(&member) {
            Some(Seat::Joining { held, .. }) => {
                hold(held, Held::Leave, max).map_err(|_| self.held_full())
            }
            Some(Seat::In(room)) => {
                let room = *room;
                self.seats.remove(&member);
                self.route_leave(ctx, room, member);
                self.flush();
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// An input of `member` for its room: applied on the room's loop (now, or at its next
    /// tick).
    ///
    /// # Errors
    /// [`InputError::NotInRoom`], [`InputError::Busy`] (dropped, counted) or
    /// [`InputError::Held`].
    pub fn input(
        &mut self,
        ctx: &mut Context<'_>,
        member: SessionId,
        input: R::Input,
    ) -> Result<(), InputError> {
        let max = self.hub.config.max_held;
        let room = match self.seats.get_mut(&member) {
            Some(Seat::Joining { held, .. }) => {
                return hold(held, Held::Input(input), max).map_err(|_| self.held_full());
            }
            Some(Seat::In(room)) => *room,
            None => return Err(InputError::NotInRoom),
        };
        let owner = self.owner(room);
        if owner == self.index {
            self.owner_input(ctx, room, member, input);
            self.flush();
            return Ok(());
        }
        let job = Job::Input {
            room,
            member,
            input,
        };
        self.hub.queues.post_input(owner, job).map_err(|_| {
            self.stats().drop_input(Dropped::Busy);
            InputError::Busy
        })
    }

    /// `member`'s session is gone: it leaves its room (and the one it was joining).
    pub fn disconnected(&mut self, ctx: &mut Context<'_>, member: SessionId) {
        match self.seats.remove(&member) {
            Some(Seat::In(room)) => self.route_leave(ctx, room, member),
            Some(Seat::Joining { room, from, .. }) => {
                // Posted after the join, to the same queue: the owner runs both, in order.
                self.route_leave(ctx, room, member);
                if let Some(from) = from {
                    self.route_leave(ctx, from, member);
                }
            }
            None => {}
        }
        self.flush();
    }

    /// Operations that waited on a seat and then failed when replayed (e.g. an input whose
    /// join was refused, leaving the session in no room): the handler decides what to do
    /// with each session (a game closes one that chatted outside a room).
    pub fn take_rejected(&mut self) -> Vec<(SessionId, InputError)> {
        std::mem::take(&mut self.rejected)
    }

    fn held_full(&self) -> InputError {
        self.stats().drop_input(Dropped::Held);
        InputError::Held
    }

    fn route_leave(&mut self, ctx: &mut Context<'_>, room: RoomId, member: SessionId) {
        let owner = self.owner(room);
        if owner == self.index {
            self.owner_leave(ctx, room, member);
        } else {
            self.hub.queues.post(owner, Job::Leave { room, member });
        }
    }

    /// The answer to `member`'s join of `room` (from this loop or the owner's).
    fn answer(&mut self, ctx: &mut Context<'_>, member: SessionId, room: RoomId, joined: bool) {
        match self.seats.get(&member) {
            Some(Seat::Joining { room: asked, .. }) if *asked == room => {}
            _ => return, // the session is gone (its leave is on its way to the owner)
        }
        if let Some(Seat::Joining { from, held, .. }) = self.seats.remove(&member) {
            self.settle(ctx, member, room, from, joined, held);
        }
    }

    /// Seats `member` after its join of `room` (`joined` or not), leaves `from` if it moved,
    /// and replays what waited.
    fn settle(
        &mut self,
        ctx: &mut Context<'_>,
        member: SessionId,
        room: RoomId,
        from: Option<RoomId>,
        joined: bool,
        held: VecDeque<Held<R>>,
    ) {
        if joined {
            if let Some(previous) = from.filter(|&p| p != room) {
                self.route_leave(ctx, previous, member);
            }
        }
        match if joined { Some(room) } else { from } {
            Some(now_in) => self.seats.insert(member, Seat::In(now_in)),
            None => self.seats.remove(&member),
        };
        self.replay(ctx, member, held);
    }

    /// Runs operations that waited on a seat, in order, until one starts another join (then
    /// the rest wait on that one).
    fn replay(&mut self, ctx: &mut Context<'_>, member: SessionId, mut held: VecDeque<Held<R>>) {
        while let Some(op) = held.pop_front() {
            let result = match op {
                Held::Join(room, join) => self.join(ctx, member, room, join),
                Held::Input(input) => self.input(ctx, member, input),
                Held::Leave => self.leave(ctx, member),
            };
            if let Err(err) = result {
                self.rejected.push((member, err));
            }
            if let Some(Seat::Joining { held: waiting, .. }) = self.seats.get_mut(&member) {
                waiting.extend(held.drain(..));
                return;
            }
        }
    }

    /// The owner removed `member` from `room`: its seat is free.
    fn removed(&mut self, member: SessionId, room: RoomId) {
        if matches!(self.seats.get(&member), Some(Seat::In(r)) if *r == room) {
            self.seats.remove(&member);
        }
    }

    // ---- owner side --------------------------------------------------------------------

    /// `member` asks into `room`, owned here; true if it is a member afterwards.
    fn owner_join(
        &mut self,
        ctx: &mut Context<'_>,
        room: RoomId,
        member: SessionId,
        join: R::Join,
    ) -> bool {
        let hub = &self.hub;
        let slot = self
            .rooms
            .entry(room)
            .or_insert_with(|| RoomSlot::new(room, (hub.factory)(room), &hub.config, ctx.now()));
        let out = &mut self.out;
        let stats = &hub.stats[self.index];
        let joined = slot.join(ctx, out, member, join, hub.config.capacity, stats);
        if slot.members().is_empty() {
            slot.close(ctx, out);
            self.rooms.remove(&room);
        }
        joined
    }

    /// Posts what this loop has for other loops' sessions (one job per loop); room packets for
    /// a loop `max_posted_bytes` behind are dropped and counted. Every public call ends here.
    fn flush(&mut self) {
        let (out, hub) = (&mut self.out, &self.hub);
        for (to, items) in out.take() {
            let dropped = hub.queues.post_deliveries(to, items);
            if !dropped.is_empty() {
                LoopRoomStats::add(&hub.stats[self.index].undelivered, dropped.len() as u64);
            }
        }
    }

    fn owner_leave(&mut self, ctx: &mut Context<'_>, room: RoomId, member: SessionId) {
        let Some(slot) = self.rooms.get_mut(&room) else {
            return;
        };
        let out = &mut self.out;
        if slot.leave(ctx, out, member) && slot.members().is_empty() {
            slot.close(ctx, out);
            self.rooms.remove(&room);
        }
    }

    fn owner_input(
        &mut self,
        ctx: &mut Context<'_>,
        room: RoomId,
        member: SessionId,
        input: R::Input,
    ) {
        let hub = &self.hub;
        match self.rooms.get_mut(&room) {
            Some(slot) => {
                let stats = &hub.stats[self.index];
                slot.input(ctx, &mut self.out, member, input, &hub.config, stats);
            }
            None => hub.stats[self.index].drop_input(Dropped::Stale),
        }
    }

    /// Runs `f` with room `room` if this loop owns it and it exists (e.g. to deliver what
    /// another instance sent for it).
    pub fn with_room<T>(
        &mut self,
        ctx: &mut Context<'_>,
        room: RoomId,
        f: impl FnOnce(&mut R, &mut RoomContext<'_, '_, R::Timer>) -> T,
    ) -> Option<T> {
        let slot = self.rooms.get_mut(&room)?;
        let result = slot.call(ctx, &mut self.out, TickInfo::default(), f);
        self.flush();
        Some(result)
    }

    /// Removes `member` from `room` (owned here), as if it had left ([`Room::leave`] is
    /// called), and frees its seat on its own loop; false if it was not a member.
    pub fn remove_member(
        &mut self,
        ctx: &mut Context<'_>,
        room: RoomId,
        member: SessionId,
    ) -> bool {
        let Some(slot) = self.rooms.get_mut(&room) else {
            return false;
        };
        if !slot.members().contains(member) {
            return false;
        }
        self.owner_leave(ctx, room, member);
        if member.loop_index() == self.index {
            self.removed(member, room);
        } else {
            self.out.push(Outgoing::Removed { member, room });
        }
        self.flush();
        true
    }

    /// The members of `room` (owned here), if it exists.
    pub fn members(&self, room: RoomId) -> Option<&[SessionId]> {
        Some(self.rooms.get(&room)?.members().as_slice())
    }

    /// The rooms this loop owns now.
    pub fn room_ids(&self) -> Vec<RoomId> {
        self.rooms.keys().copied().collect()
    }

    // ---- the loop's hooks --------------------------------------------------------------

    /// Runs the jobs other loops posted. Call from `Handler::notified`.
    pub fn notified(&mut self, ctx: &mut Context<'_>) {
        self.drain(ctx);
        self.flush();
    }

    /// Runs the posted jobs (at most [`MAX_JOBS_PER_DRAIN`]).
    fn drain(&mut self, ctx: &mut Context<'_>) {
        for _ in 0..MAX_JOBS_PER_DRAIN {
            match self.inbox.try_recv() {
                Ok(job) => self.run(ctx, job),
                Err(_) => return,
            }
        }
        self.hub.queues.notify(self.index); // more are waiting: come back next iteration
    }

    fn run(&mut self, ctx: &mut Context<'_>, job: Job<R>) {
        match job {
            Job::Join { room, member, join } => {
                let joined = self.owner_join(ctx, room, member, join);
                if member.loop_index() == self.index {
                    self.answer(ctx, member, room, joined);
                } else {
                    let answer = Outgoing::Answer {
                        member,
                        room,
                        joined,
                    };
                    self.out.push(answer);
                }
            }
            Job::Leave { room, member } => self.owner_leave(ctx, room, member),
            Job::Input {
                room,
                member,
                input,
            } => {
                self.hub.queues.taken_input(self.index);
                self.owner_input(ctx, room, member, input);
            }
            Job::Visit { room, visit } => {
                if let Some(slot) = self.rooms.get_mut(&room) {
                    slot.call(ctx, &mut self.out, TickInfo::default(), visit);
                }
            }
            Job::Deliver { items, bytes } => {
                self.hub.queues.taken_bytes(self.index, bytes);
                for item in items {
                    self.deliver(ctx, item);
                }
            }
        }
    }

    /// Carries out what another loop had for a session of this one.
    fn deliver(&mut self, ctx: &mut Context<'_>, item: Outgoing) {
        match item {
            Outgoing::Send(member, buf) => {
                let _ = ctx.send(member, buf); // gone or closing: nothing to do
            }
            Outgoing::Answer {
                member,
                room,
                joined,
            } => self.answer(ctx, member, room, joined),
            Outgoing::Removed { member, room } => self.removed(member, room),
        }
    }

    /// Runs posted jobs, then each owned room's due timers and tick; publishes the loop's
    /// room stats once a second. Call from `Handler::tick`.
    pub fn tick(&mut self, ctx: &mut Context<'_>) {
        self.drain(ctx); // also before the notifier is bound
        let now = ctx.now();
        let hub = &self.hub;
        let stats = &hub.stats[self.index];
        for slot in self.rooms.values_mut() {
            slot.run_due(
                ctx,
                &mut self.out,
                now,
                &hub.config,
                stats,
                &mut self.tick_us,
            );
        }
        self.flush();
        let stats = &self.hub.stats[self.index];
        if self.next_publish.is_none_or(|due| now >= due) {
            self.next_publish = Some(now + PUBLISH_EVERY);
            let members = self.rooms.values().map(|s| s.members().len()).sum();
            stats.publish(&mut self.tick_us, self.rooms.len(), members);
        }
    }
}
