//! [`Outbound`]: what a room sends to members on other loops during one call, batched per
//! target loop and posted to that loop's job queue when the call returns (one job per loop,
//! however many members), where the member's loop queues it on the member.
//!
//! Why not `Context::send`, which reaches other loops too? Ordering. The facility also posts
//! its own jobs to a member's loop (the answer to a join); if the room's packets travelled
//! another channel (servercore's mailbox), the answer could overtake the room's ROOM_JOINED,
//! and what the member does next could be answered before it. One channel from the room's
//! loop to the member's loop keeps everything in the order the room made it.

use bytes::Bytes;
use servercore::SessionId;

/// Sends waiting for the end of a room call, by target loop.
#[derive(Debug)]
pub(crate) struct Outbound {
    batches: Vec<Vec<(SessionId, Bytes)>>,
}

impl Outbound {
    /// Batches for `loops` loops.
    pub(crate) fn new(loops: usize) -> Outbound {
        Outbound {
            batches: vec![Vec::new(); loops],
        }
    }

    /// `buf` for `member` (of another loop).
    pub(crate) fn push(&mut self, member: SessionId, buf: Bytes) {
        if let Some(batch) = self.batches.get_mut(member.loop_index()) {
            batch.push((member, buf));
        }
    }

    /// The non-empty batches, by target loop (emptied).
    pub(crate) fn take(&mut self) -> impl Iterator<Item = (usize, Vec<(SessionId, Bytes)>)> + '_ {
        self.batches
            .iter_mut()
            .enumerate()
            .filter(|(_, batch)| !batch.is_empty())
            .map(|(to, batch)| (to, std::mem::take(batch)))
    }
}
