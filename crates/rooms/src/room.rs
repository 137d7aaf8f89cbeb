//! [`Room`]: what the game implements; [`RoomId`]: which room, and which loop owns it.

use servercore::SessionId;

use crate::context::RoomContext;

/// Names a room. A room is owned by loop `id % loops` ([`RoomId::owner`]): any loop finds a
/// room's owner without a directory or a lock, and the cluster backplane hands a room's
/// messages from other instances to the same loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(pub u32);

impl RoomId {
    /// The loop that owns this room in a service of `loops` loops.
    pub fn owner(self, loops: usize) -> usize {
        self.0 as usize % loops.max(1)
    }
}

impl std::fmt::Display for RoomId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A join the room said no to (it has told the member why, e.g. with a packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// A room's game code. Every call runs on the room's owning loop, one at a time, with the
/// loop's [`servercore::Context`] inside the [`RoomContext`]: a room never needs a lock.
///
/// Order: `join` (and `full`) for each member asking in; `input` as inputs arrive (a room
/// without a tick) or at the start of each tick for the inputs queued since the last one (in
/// arrival order, at most `max_inputs_per_tick` per member); `tick` every period; `timer` when
/// a timer set through the context is due; `leave` when a member leaves or disconnects;
/// `closing` when the last member has left, before the room is dropped.
pub trait Room: Send + 'static {
    /// What a join carries (a player name, a loadout; `()` for nothing).
    type Join: Send + 'static;
    /// What members send to the room (a chat, a game input).
    type Input: Send + 'static;
    /// What a timer carries back to [`Room::timer`].
    type Timer: Send + 'static;

    /// `member` asks in. `Ok`: it is a member once this returns (it is not in
    /// [`RoomContext::members`] yet); `Err`: it is not, and the room has told it why. Called
    /// again for a member that is already in (a repeated join): it stays in either way.
    ///
    /// # Errors
    /// [`Refused`] to keep `member` out.
    fn join(
        &mut self,
        ctx: &mut RoomContext<'_, '_, Self::Timer>,
        member: SessionId,
        join: Self::Join,
    ) -> Result<(), Refused>;

    /// `member` asked in while the room holds `RoomsConfig::capacity` members: it stays out.
    /// Tell it (default: nothing is sent).
    fn full(
        &mut self,
        ctx: &mut RoomContext<'_, '_, Self::Timer>,
        member: SessionId,
        join: Self::Join,
    ) {
        let _ = (ctx, member, join);
    }

    /// `member` left (asked to, moved to another room, or disconnected); it is no longer in
    /// [`RoomContext::members`].
    fn leave(&mut self, ctx: &mut RoomContext<'_, '_, Self::Timer>, member: SessionId);

    /// An input of `member` (a member when it is applied).
    fn input(
        &mut self,
        ctx: &mut RoomContext<'_, '_, Self::Timer>,
        member: SessionId,
        input: Self::Input,
    );

    /// One fixed tick (rooms with `tick_hz`), after the inputs queued since the last one:
    /// advance the state and send each member what it should see.
    fn tick(&mut self, ctx: &mut RoomContext<'_, '_, Self::Timer>) {
        let _ = ctx;
    }

    /// A timer set with [`RoomContext::set_timer`] is due.
    fn timer(&mut self, ctx: &mut RoomContext<'_, '_, Self::Timer>, timer: Self::Timer) {
        let _ = (ctx, timer);
    }

    /// The last member left (or the only one asking in was refused): the room is dropped
    /// after this, with its timers. Release what it holds outside itself.
    fn closing(&mut self, ctx: &mut RoomContext<'_, '_, Self::Timer>) {
        let _ = ctx;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_spread_over_loops_by_id() {
        assert_eq!(RoomId(7).owner(2), 1);
        assert_eq!(RoomId(8).owner(2), 0);
        assert_eq!(RoomId(8).owner(0), 0, "no loops: loop 0");
        assert_eq!(RoomId(u32::MAX).owner(1), 0);
    }
}
