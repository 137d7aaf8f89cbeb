//! [`Seat`]: where a session stands, kept by the session's own loop. While its join is being
//! answered by the room's owner (another loop), what it does next — inputs, a leave, another
//! join — waits on the seat, in order, and is replayed once the answer comes: so an input sent
//! right after a join goes to the room the join ended in, and one session's operations reach
//! rooms in the order it made them.
//!
//! ```text
//!   (none) ──join R──> Joining { R, from } ──answer: in──> In(R)      (leave `from` if another)
//!                                          ──answer: out─> In(from) or (none)
//!   In(R)  ──leave──> (none)                 In(R) ──join S──> Joining { S, from: R }
//! ```

use std::collections::VecDeque;

use crate::room::{Room, RoomId};

/// An operation waiting for a join's answer.
pub(crate) enum Held<R: Room> {
    Join(RoomId, R::Join),
    Input(R::Input),
    Leave,
}

/// A session's place.
pub(crate) enum Seat<R: Room> {
    /// A member of this room.
    In(RoomId),
    /// Asked into `room` (owned by another loop); `from` is where it still is until then.
    Joining {
        room: RoomId,
        from: Option<RoomId>,
        held: VecDeque<Held<R>>,
    },
}

impl<R: Room> Seat<R> {
    /// The room it is in (not the one it is joining).
    pub(crate) fn room(&self) -> Option<RoomId> {
        match self {
            Seat::In(room) => Some(*room),
            Seat::Joining { from, .. } => *from,
        }
    }
}

/// The held queue is at its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeldFull;

/// Holds `op` on a joining seat, up to `max` operations.
pub(crate) fn hold<R: Room>(
    held: &mut VecDeque<Held<R>>,
    op: Held<R>,
    max: usize,
) -> Result<(), HeldFull> {
    if held.len() >= max {
        return Err(HeldFull);
    }
    held.push_back(op);
    Ok(())
}
