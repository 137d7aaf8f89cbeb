//! [`JobQueues`]: the course's job queue, one per event loop. Whatever must run where a room
//! lives — a join, a leave, a member's input — is posted to the owning loop's queue, then that
//! loop is woken ([`servercore::Notifier`]) and runs the jobs in `Handler::notified`, on its own
//! thread: the room's code never takes a lock.
//!
//! ```text
//!   loop A (member's)                        loop B (room's owner)
//!   host.input(member, x) ──post──> [ queue of B: FIFO ] ──notified──> slot.input / queue for tick
//!                         <─post── Answer / Removed    <──────────────  (joins are answered back)
//! ```
//!
//! What a loop has for other loops' sessions — rooms' packets for their members, answers to
//! joins — travels the same way, batched: one `Deliver` job per target loop per call into the
//! host (per drain of the queue, however many chats it held), so a member's loop sees a
//! room's packets and the facility's answers in the order the room's loop made them.
//!
//! Each queue is an unbounded `std::sync::mpsc` channel (lock-free), FIFO per poster: what one
//! loop posts to another runs in the order posted. Inputs are bounded per target loop
//! (`max_posted_inputs`, counted with an atomic), and so are the bytes of deliveries
//! (`max_posted_bytes`): past either, a post is refused and counted. Joins, leaves and answers
//! are never refused — losing a leave would leave a ghost member — and are bounded by the
//! sessions themselves: a session has at most one join in flight (later operations wait on
//! its seat) and a leave or two.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::OnceLock;

use servercore::{Notifier, SessionId};

use crate::context::RoomContext;
use crate::outbound::Outgoing;
use crate::room::{Room, RoomId};

/// A closure run on a room's loop with the room (from any thread: [`crate::RoomsHub::visit`]).
pub(crate) type Visit<R> =
    Box<dyn for<'r, 'a> FnOnce(&mut R, &mut RoomContext<'r, 'a, <R as Room>::Timer>) + Send>;

/// Work for a loop: for a room it owns, or for a session of its own (answers).
pub(crate) enum Job<R: Room> {
    /// To the owner: `member` asks into `room`.
    Join {
        room: RoomId,
        member: SessionId,
        join: R::Join,
    },
    /// To the owner: `member` leaves `room`.
    Leave { room: RoomId, member: SessionId },
    /// To the owner: an input of `member` for `room`.
    Input {
        room: RoomId,
        member: SessionId,
        input: R::Input,
    },
    /// To a loop: what another loop has for its sessions (rooms' packets, answers to joins,
    /// removals), in order (`bytes`: the packets' total, for the bound).
    Deliver { items: Vec<Outgoing>, bytes: usize },
    /// To the owner: run a closure with the room.
    Visit { room: RoomId, visit: Visit<R> },
}

/// Every loop's queue, shared by all loops (and any thread, for visits).
pub(crate) struct JobQueues<R: Room> {
    senders: Vec<Sender<Job<R>>>,
    /// Inputs posted to each loop and not yet taken.
    posted_inputs: Vec<AtomicUsize>,
    max_posted_inputs: usize,
    /// Bytes of deliveries posted to each loop and not yet taken.
    posted_bytes: Vec<AtomicUsize>,
    max_posted_bytes: usize,
    /// Set once the service runs ([`crate::RoomsHub::bind`]); before that, posted jobs wait
    /// for the loop's next tick.
    notifier: OnceLock<Notifier>,
}

/// An input post refused: the owner's queue holds its bound of inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Busy;

impl<R: Room> JobQueues<R> {
    /// Queues for `loops` loops; returns them and each loop's receiving end.
    pub(crate) fn new(
        loops: usize,
        max_posted_inputs: usize,
        max_posted_bytes: usize,
    ) -> (JobQueues<R>, Vec<Receiver<Job<R>>>) {
        let (senders, receivers) = (0..loops).map(|_| std::sync::mpsc::channel()).unzip();
        let counters = || (0..loops).map(|_| AtomicUsize::new(0)).collect();
        let queues = JobQueues {
            senders,
            posted_inputs: counters(),
            max_posted_inputs,
            posted_bytes: counters(),
            max_posted_bytes,
            notifier: OnceLock::new(),
        };
        (queues, receivers)
    }

    /// Number of loops.
    pub(crate) fn loops(&self) -> usize {
        self.senders.len()
    }

    /// Wakes loops from now on; false if a notifier was set already.
    pub(crate) fn bind(&self, notifier: Notifier) -> bool {
        self.notifier.set(notifier).is_ok()
    }

    /// Posts a job that is never refused (join, leave, answer, visit) and wakes loop `to`.
    pub(crate) fn post(&self, to: usize, job: Job<R>) {
        if self.senders[to].send(job).is_ok() {
            self.notify(to);
        }
    }

    /// Posts an input, unless loop `to` already holds its bound of them.
    pub(crate) fn post_input(&self, to: usize, job: Job<R>) -> Result<(), Busy> {
        let posted = &self.posted_inputs[to];
        if posted.fetch_add(1, Ordering::AcqRel) >= self.max_posted_inputs {
            posted.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        if self.senders[to].send(job).is_err() {
            posted.fetch_sub(1, Ordering::AcqRel); // the loop is gone
        }
        self.notify(to);
        Ok(())
    }

    /// Loop `at` took one posted input off its queue.
    pub(crate) fn taken_input(&self, at: usize) {
        self.posted_inputs[at].fetch_sub(1, Ordering::AcqRel);
    }

    /// Posts what this loop has for sessions of loop `to`. Past `max_posted_bytes` of room
    /// packets waiting there (that loop is far behind) the packets are left out and returned
    /// (dropped and counted by the caller); answers and removals always go.
    pub(crate) fn post_deliveries(&self, to: usize, mut items: Vec<Outgoing>) -> Vec<Outgoing> {
        let bytes: usize = items.iter().map(Outgoing::bytes).sum();
        let posted = &self.posted_bytes[to];
        let mut dropped = Vec::new();
        let mut kept_bytes = bytes;
        if posted.fetch_add(bytes, Ordering::AcqRel) + bytes > self.max_posted_bytes {
            posted.fetch_sub(bytes, Ordering::AcqRel);
            let (sends, control): (Vec<_>, Vec<_>) =
                items.into_iter().partition(|item| item.bytes() > 0);
            dropped = sends;
            items = control;
            kept_bytes = 0;
        }
        if !items.is_empty() {
            self.post(
                to,
                Job::Deliver {
                    items,
                    bytes: kept_bytes,
                },
            );
        }
        dropped
    }

    /// Loop `at` took `bytes` of deliveries off its queue.
    pub(crate) fn taken_bytes(&self, at: usize, bytes: usize) {
        self.posted_bytes[at].fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Has loop `to` run its jobs soon (coalesced: one wake-up however many posts).
    pub(crate) fn notify(&self, to: usize) {
        if let Some(notifier) = self.notifier.get() {
            notifier.notify(to);
        }
    }
}
