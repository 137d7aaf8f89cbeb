//! [`Relays`]: how a resumed connection reaches its seat. A seat stays on the loop of the
//! session that first held it (its *home*: the rooms know the player by that session's id);
//! a RESUME may arrive on any loop. The new connection's loop posts what it gets — the
//! resume itself, the player's packets, its end — to the home loop's queue, in order, and
//! wakes it ([`servercore::Notifier`]); the home loop answers by sending to the connection
//! directly (servercore's mailbox, also in order).
//!
//! ```text
//!   loop B (the new connection)                 loop A (the seat's home)
//!   RESUME ──Job::Resume──────────────────────> RESUMED, the replay ──send──> connection
//!   packets ─Job::Input───────────────────────> the game, as the home id's ──> (held) ─> connection
//!   its end ─Job::Gone────────────────────────> the seat is held again (or released)
//! ```
//!
//! Inputs are bounded per home loop, in count and in bytes (`MAX_POSTED_INPUTS`,
//! `MAX_POSTED_BYTES`): past either the connection is cut, and the client, resuming, sends
//! again what the seat had not handled — nothing is lost.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, OnceLock};

use game_protocol::resume::{Position, Ticket};
use servercore::packet::RateLimit;
use servercore::{CloseReason, Notifier, SessionId};

/// Most inputs posted to one loop and not taken yet.
const MAX_POSTED_INPUTS: usize = 64 * 1024;

/// Most bytes of inputs posted to one loop and not taken yet.
const MAX_POSTED_BYTES: usize = 16 * 1024 * 1024;

/// Work for a seat's home loop, from the loop of its current connection.
#[derive(Debug)]
pub(crate) enum Job {
    /// Connection `conn` resumed the seat of `home` with `received`; its next ticket.
    Resume {
        home: SessionId,
        conn: SessionId,
        received: Position,
        ticket: Ticket,
    },
    /// A packet of `conn` for the seat.
    Input {
        home: SessionId,
        conn: SessionId,
        id: u16,
        body: Vec<u8>,
    },
    /// `conn` passed the packet rate limit and is being closed.
    RateLimited {
        home: SessionId,
        conn: SessionId,
        limit: RateLimit,
    },
    /// `conn` ended with `reason`.
    Gone {
        home: SessionId,
        conn: SessionId,
        reason: CloseReason,
    },
}

impl Job {
    /// The seat it is for.
    pub(crate) fn home(&self) -> SessionId {
        match self {
            Job::Resume { home, .. }
            | Job::Input { home, .. }
            | Job::RateLimited { home, .. }
            | Job::Gone { home, .. } => *home,
        }
    }
}

/// A post refused: the home loop holds its bound of inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Busy;

/// Every loop's queue of seat jobs.
#[derive(Debug)]
pub(crate) struct Relays {
    senders: Vec<Sender<Job>>,
    receivers: Vec<Mutex<Receiver<Job>>>,
    posted_inputs: Vec<AtomicUsize>,
    posted_bytes: Vec<AtomicUsize>,
    notifier: OnceLock<Notifier>,
}

impl Relays {
    /// Queues for `loops` loops.
    pub(crate) fn new(loops: usize) -> Relays {
        let (senders, receivers) = (0..loops)
            .map(|_| {
                let (tx, rx) = mpsc::channel();
                (tx, Mutex::new(rx))
            })
            .unzip();
        Relays {
            senders,
            receivers,
            posted_inputs: (0..loops).map(|_| AtomicUsize::new(0)).collect(),
            posted_bytes: (0..loops).map(|_| AtomicUsize::new(0)).collect(),
            notifier: OnceLock::new(),
        }
    }

    /// Wakes loops through `notifier` from now on (before, jobs wait for the next tick).
    pub(crate) fn bind(&self, notifier: Notifier) {
        let _ = self.notifier.set(notifier);
    }

    /// Posts `job` to its seat's loop.
    pub(crate) fn post(&self, job: Job) -> Result<(), Busy> {
        let target = job.home().loop_index();
        let Some(sender) = self.senders.get(target) else {
            return Ok(()); // not a loop of this service: nothing to reach
        };
        if let Job::Input { body, .. } = &job {
            let posted = self.posted_inputs[target].fetch_add(1, Ordering::Relaxed);
            let bytes = self.posted_bytes[target].fetch_add(body.len(), Ordering::Relaxed);
            if posted >= MAX_POSTED_INPUTS || bytes + body.len() > MAX_POSTED_BYTES {
                self.posted_inputs[target].fetch_sub(1, Ordering::Relaxed);
                self.posted_bytes[target].fetch_sub(body.len(), Ordering::Relaxed);
                return Err(Busy);
            }
        }
        let _ = sender.send(job); // the receiver lives as long as `self`
        if let Some(notifier) = self.notifier.get() {
            notifier.notify(target);
        }
        Ok(())
    }

    /// Takes the jobs posted to loop `index`, in order.
    pub(crate) fn take(&self, index: usize) -> Vec<Job> {
        let Some(receiver) = self.receivers.get(index) else {
            return Vec::new();
        };
        let jobs: Vec<Job> = receiver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_iter()
            .collect();
        let (mut inputs, mut bytes) = (0, 0);
        for job in &jobs {
            if let Job::Input { body, .. } = job {
                inputs += 1;
                bytes += body.len();
            }
        }
        self.posted_inputs[index].fetch_sub(inputs, Ordering::Relaxed);
        self.posted_bytes[index].fetch_sub(bytes, Ordering::Relaxed);
        jobs
    }
}
