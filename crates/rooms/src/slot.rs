//! [`RoomSlot`]: a room as its owning loop holds it — the game's [`Room`], its members, the
//! inputs queued for its next tick, its schedule and its timers — and the calls into the room,
//! each with a fresh [`RoomContext`].

use std::collections::VecDeque;
use std::time::Instant;

use hdrhistogram::Histogram;
use servercore::{Context, SessionId};

use crate::config::RoomsConfig;
use crate::context::{RoomContext, TickInfo};
use crate::members::Members;
use crate::outbound::Outbound;
use crate::room::{Room, RoomId};
use crate::schedule::Schedule;
use crate::stats::{Dropped, LoopRoomStats};
use crate::timers::Timers;

/// One owned room.
pub(crate) struct RoomSlot<R: Room> {
    id: RoomId,
    room: R,
    members: Members,
    /// Inputs for the next tick, in arrival order (rooms with a tick).
    queued: VecDeque<(SessionId, R::Input)>,
    schedule: Option<Schedule>,
    timers: Timers<R::Timer>,
    ticks: u64,
}

impl<R: Room> RoomSlot<R> {
    /// A new room `id`, its first tick one period from `now`.
    pub(crate) fn new(id: RoomId, room: R, config: &RoomsConfig, now: Instant) -> RoomSlot<R> {
        RoomSlot {
            id,
            room,
            members: Members::default(),
            queued: VecDeque::new(),
            schedule: config.period().map(|p| Schedule::new(p, now)),
            timers: Timers::new(config.max_timers),
            ticks: 0,
        }
    }

    pub(crate) fn members(&self) -> &Members {
        &self.members
    }

    /// Runs `f` with the room and a context for it; what the room sends to other loops
    /// waits in `out` (the host posts it when the call returns).
    pub(crate) fn call<T>(
        &mut self,
        core: &mut Context<'_>,
        out: &mut Outbound,
        tick: TickInfo,
        f: impl FnOnce(&mut R, &mut RoomContext<'_, '_, R::Timer>) -> T,
    ) -> T {
        let mut ctx = RoomContext {
            core,
            room: self.id,
            members: &self.members,
            timers: &mut self.timers,
            out,
            tick,
        };
        f(&mut self.room, &mut ctx)
    }

    /// `member` asks in; true if it is a member afterwards.
    pub(crate) fn join(
        &mut self,
        core: &mut Context<'_>,
        out: &mut Outbound,
        member: SessionId,
        join: R::Join,
        capacity: usize,
        stats: &LoopRoomStats,
    ) -> bool {
        let none = TickInfo::default();
        if self.members.contains(member) {
            let _ = self.call(core, out, none, |room, ctx| room.join(ctx, member, join));
            return true;
        }
        if self.members.len() >= capacity {
            self.call(core, out, none, |room, ctx| room.full(ctx, member, join));
            LoopRoomStats::add(&stats.refused, 1);
            return false;
        }
        match self.call(core, out, none, |room, ctx| room.join(ctx, member, join)) {
            Ok(()) => {
                self.members.insert(member);
                LoopRoomStats::add(&stats.joins, 1);
                true
            }
            Err(_) => {
                LoopRoomStats::add(&stats.refused, 1);
                false
            }
        }
    }

    /// `member` leaves; false if it was not a member.
    pub(crate) fn leave(
        &mut self,
        core: &mut Context<'_>,
        out: &mut Outbound,
        member: SessionId,
    ) -> bool {
        if !self.members.remove(member) {
            return false;
        }
        self.call(core, out, TickInfo::default(), |room, ctx| {
            room.leave(ctx, member)
        });
        true
    }

    /// An input of `member`: applied now (no tick) or queued for the next tick.
    pub(crate) fn input(
        &mut self,
        core: &mut Context<'_>,
        out: &mut Outbound,
        member: SessionId,
        input: R::Input,
        config: &RoomsConfig,
        stats: &LoopRoomStats,
    ) {
        if !self.members.contains(member) {
            return stats.drop_input(Dropped::Stale);
        }
        if self.schedule.is_none() {
            LoopRoomStats::add(&stats.inputs, 1);
            self.call(core, out, TickInfo::default(), |room, ctx| {
                room.input(ctx, member, input)
            });
        } else if self.queued.len() >= config.max_queued_inputs {
            stats.drop_input(Dropped::Queue);
        } else {
            self.queued.push_back((member, input));
        }
    }

    /// The room is emptied: its last call.
    pub(crate) fn close(&mut self, core: &mut Context<'_>, out: &mut Outbound) {
        self.call(core, out, TickInfo::default(), |room, ctx| {
            room.closing(ctx)
        });
    }

    /// Fires the timers due at `now`, then the tick if one is due (recording its duration).
    pub(crate) fn run_due(
        &mut self,
        core: &mut Context<'_>,
        out: &mut Outbound,
        now: Instant,
        config: &RoomsConfig,
        stats: &LoopRoomStats,
        tick_us: &mut Histogram<u64>,
    ) {
        while let Some(payload) = self.timers.pop_due(now) {
            LoopRoomStats::add(&stats.timers, 1);
            self.call(core, out, TickInfo::default(), |room, ctx| {
                room.timer(ctx, payload)
            });
        }
        let Some(due) = self.schedule.as_mut().and_then(|s| s.poll(now)) else {
            return;
        };
        LoopRoomStats::add(&stats.skipped, due.skipped);
        let started = Instant::now();
        self.ticks += 1;
        let mut tick = TickInfo {
            number: self.ticks,
            late: due.late,
            ..TickInfo::default()
        };
        tick.inputs_applied = self.apply_queued(core, out, config, stats);
        tick.inputs = started.elapsed();
        self.call(core, out, tick, |room, ctx| room.tick(ctx));
        LoopRoomStats::add(&stats.ticks, 1);
        let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let _ = tick_us.record(took.max(1));
    }

    /// Applies the inputs queued since the last tick, at most `max_inputs_per_tick` per
    /// member; returns how many were applied.
    fn apply_queued(
        &mut self,
        core: &mut Context<'_>,
        out: &mut Outbound,
        config: &RoomsConfig,
        stats: &LoopRoomStats,
    ) -> usize {
        self.members.reset_inputs();
        let mut applied = 0;
        while let Some((member, input)) = self.queued.pop_front() {
            match self.members.count_input(member) {
                0 => stats.drop_input(Dropped::Stale),
                n if n > config.max_inputs_per_tick => stats.drop_input(Dropped::Rate),
                _ => {
                    applied += 1;
                    self.call(core, out, TickInfo::default(), |room, ctx| {
                        room.input(ctx, member, input)
                    });
                }
            }
        }
        LoopRoomStats::add(&stats.inputs, applied as u64);
        applied
    }
}
