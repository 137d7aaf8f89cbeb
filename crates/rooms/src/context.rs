//! [`RoomContext`]: what a room's code may do during a call: reach its members, send, set
//! timers, and use the loop's [`Context`] (pooled buffers, packets, the clock).

use std::time::{Duration, Instant};

use bytes::Bytes;
use servercore::packet::{PacketContext, PacketSendError};
use servercore::{Context, SendError, SessionId};

use crate::members::Members;
use crate::outbound::{Outbound, Outgoing};
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
    pub(crate) out: &'r mut Outbound,
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
    /// The loop's context: `alloc` (one pooled buffer per message), packets, the clock. Send
    /// to members with [`RoomContext::send`] and [`RoomContext::broadcast`], not with the
    /// core's `send`: those keep a room's packets in order with the facility's own messages
    /// to the member's loop (a join's answer).
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

    /// Queues `buf` for `member`: at once on this loop's sessions; for a member of another
    /// loop, when the host's call returns, in one job per loop with everything else this loop
    /// has for that loop (see `outbound.rs`). A member of another loop that is gone or closing is
    /// skipped there.
    ///
    /// # Errors
    /// As [`Context::send`], for a session of this loop.
    pub fn send(&mut self, member: SessionId, buf: Bytes) -> Result<(), SendError> {
        if member.loop_index() == self.core.loop_index() {
            return self.core.send(member, buf);
        }
        self.out.push(Outgoing::Send(member, buf));
        Ok(())
    }

    /// Serializes one packet into the loop's pool and sends it to `member`.
    ///
    /// # Errors
    /// As [`PacketContext::send_packet`].
    pub fn send_packet(
        &mut self,
        member: SessionId,
        packet_id: u16,
        body: &[u8],
    ) -> Result<(), PacketSendError> {
        let buf = self.core.packet(packet_id, body)?;
        Ok(self.send(member, buf)?)
    }

    /// Queues the one buffer `buf` for every member (no copy per member); returns how many
    /// took it (members of other loops are counted: they get it when the host's call
    /// returns). A
    /// member over its send-queue limit is disconnected by the session layer; the others are
    /// not held up.
    pub fn broadcast(&mut self, buf: &Bytes) -> usize {
        let mut sent = 0;
        for &member in self.members.as_slice() {
            sent += usize::from(self.send(member, buf.clone()).is_ok());
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
