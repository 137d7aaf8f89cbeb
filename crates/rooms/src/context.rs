//! [`RoomContext`]: what a room's code may do during a call: reach its members, send, set
//! timers, and use the loop's [`Context`] (pooled buffers, packets, the clock).

use std::time::{Duration, Instant};

use bytes::Bytes;
use servercore::{Context, SendError, SessionId};

use crate::members::Members;
use crate::room::RoomId;
use crate::timers::{TimerId, Timers, TooManyTimers};

/// What the facility knows of the tick being run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TickInfo {
    /// The room's tick number: 1, 2, ... (one per tick run; skipped periods do not count).
    pub number: u64,
    /// How long after its due time it started.
    pub late: Duration,
    /// Time spent applying the inputs queued since the last tick (before [`Room::tick`](crate::Room::tick)).
    pub inputs: Duration,
    /// Inputs applied.
    pub inputs_applied: usize,
}

/// A room's view of its loop during one call.
pub struct RoomContext<'r, 'a, T> {
    pub(crate) core: &'r mut Context<'a>,
    pub(crate) room: RoomId,
    pub(crate) members: &'r Members,
    pub(crate) timers: &'r mut Timers<T>,
    pub(crate) tick: TickInfo,
}

impl<T> std::fmt::Debug for RoomContext<'_, '_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomContext")
            .field("room", &self.room)
            .field("members", &self.members.len())
            .field("tick", &self.tick)
            .finish_non_exhaustive()
    }
}

impl<'r, 'a, T> RoomContext<'r, 'a, T> {
    /// The loop's context: `alloc` (one pooled buffer per message), packets, the clock.
    pub fn core(&mut self) -> &mut Context<'a> {
        self.core
    }

    /// This room.
    pub fn room(&self) -> RoomId {
        self.room
    }

    /// The members (during `join`, without the one asking in).
    pub fn members(&self) -> &[SessionId] {
        self.members.as_slice()
    }

    /// True if `id` is a member.
    pub fn is_member(&self, id: SessionId) -> bool {
        self.members.contains(id)
    }

    /// The tick being run (`number` 0 outside a tick: in `join`, `leave`, `input` of a room
    /// without a tick, `timer`).
    pub fn tick(&self) -> TickInfo {
        self.tick
    }

    /// The loop's clock (read once per loop iteration).
    pub fn now(&self) -> Instant {
        self.core.now()
    }

    /// Queues `buf` for `member` (a member on another loop gets it through that loop's
    /// mailbox; see [`Context::send`]).
    ///
    /// # Errors
    /// As [`Context::send`].
    pub fn send(&mut self, member: SessionId, buf: Bytes) -> Result<(), SendError> {
        self.core.send(member, buf)
    }

    /// Queues the one buffer `buf` for every member (no copy per member); returns how many
    /// took it. A member over its send-queue limit is disconnected by the session layer; the
    /// others are not held up.
    pub fn broadcast(&mut self, buf: &Bytes) -> usize {
        let mut sent = 0;
        for &member in self.members.as_slice() {
            sent += usize::from(self.core.send(member, buf.clone()).is_ok());
        }
        sent
    }

    /// Calls [`Room::timer`](crate::Room::timer) with `payload` after `after` (on this room's
    /// loop, at the loop tick's resolution).
    ///
    /// # Errors
    /// [`TooManyTimers`] when the room has `RoomsConfig::max_timers` set.
    pub fn set_timer(&mut self, after: Duration, payload: T) -> Result<TimerId, TooManyTimers> {
        let due = self.core.now() + after;
        self.timers.set(due, payload)
    }

    /// Cancels a timer; false if it already fired.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.timers.cancel(id)
    }
}
