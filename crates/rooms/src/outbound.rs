//! [`Outbound`]: what this loop has for other loops' sessions — what rooms sent to their
//! members, and the answers to joins and removals — kept in order per target loop and posted
//! as one job per loop when the host's call returns (one job per loop per drain of the job
//! queue, however many chats it held), where that loop carries it out in the same order.
//!
//! Why not `Context::send`, which reaches other loops too? Ordering. If the room's packets
//! travelled another channel (servercore's mailbox) than the answer to a join, the answer
//! could overtake the room's ROOM_JOINED, and what the member did next could be answered
//! before it. One ordered channel from the room's loop to the member's loop keeps everything
//! in the order the room's loop made it.

use bytes::Bytes;
use servercore::SessionId;

use crate::room::RoomId;

/// One thing for a session of another loop.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A room's packet for its member.
    Send(SessionId, Bytes),
    /// The answer to `member`'s join of `room`.
    Answer {
        member: SessionId,
        room: RoomId,
        joined: bool,
    },
    /// The owner removed `member` from `room`.
    Removed { member: SessionId, room: RoomId },
}

impl Outgoing {
    /// The session it is for.
    fn session(&self) -> SessionId {
        match self {
            Outgoing::Send(member, _)
            | Outgoing::Answer { member, .. }
            | Outgoing::Removed { member, .. } => *member,
        }
    }

    /// Payload bytes (what counts against `max_posted_bytes`).
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Outgoing::Send(_, buf) => buf.len(),
            Outgoing::Answer { .. } | Outgoing::Removed { .. } => 0,
        }
    }
}

/// What waits for the end of the host's call, by target loop.
#[derive(Debug)]
pub(crate) struct Outbound {
    batches: Vec<Vec<Outgoing>>,
}

impl Outbound {
    /// Batches for `loops` loops.
    pub(crate) fn new(loops: usize) -> Outbound {
        Outbound {
            batches: (0..loops).map(|_| Vec::new()).collect(),
        }
    }

    /// Queues `item` for its session's loop.
    pub(crate) fn push(&mut self, item: Outgoing) {
        if let Some(batch) = self.batches.get_mut(item.session().loop_index()) {
            batch.push(item);
        }
    }

    /// The non-empty batches, by target loop (each replaced by an empty one of the same
    /// capacity: a steady load allocates one vector per batch, not a growing series).
    pub(crate) fn take(&mut self) -> impl Iterator<Item = (usize, Vec<Outgoing>)> + '_ {
        self.batches
            .iter_mut()
            .enumerate()
            .filter(|(_, batch)| !batch.is_empty())
            .map(|(to, batch)| {
                let capacity = batch.len();
                (to, std::mem::replace(batch, Vec::with_capacity(capacity)))
            })
    }
}
