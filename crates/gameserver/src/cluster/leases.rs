//! [`Leases`]: the event loops' side of arena ownership in a cluster (`--game arena
//! --cluster`). An arena lives on one instance: the one holding its lease in Redis
//! (`lease.rs`). A loop asked to join arena R looks here: this node owns it (join it here),
//! another does (REDIRECT there), or nobody knows yet — then the join waits while the lease
//! keeper thread asks Redis (taking the lease if it is free, `lease_keeper.rs`), and the loop
//! is notified with the answer. The loops never wait on Redis: they read a small cache, queue
//! a request (bounded), and take answers in `Handler::notified`.
//!
//! ```text
//!   loop: ARENA_JOIN R ──> owner(R)? ── Here ──> join the arena (the rooms facility)
//!                             │      └─ There ─> REDIRECT (its --public-addr / --public-websocket)
//!                             └ unknown: the session waits; request(R) ──> [lease keeper]
//!                                                     Redis: GET, or SET if free (signed value)
//!   loop <── notify ── resolved(R): the cache says Here / There / Unavailable; waiting joins go
//!   owner loop <── notify ── lost(R): another node holds the lease now: the arena's players
//!                            are redirected there and removed
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use servercore::Notifier;

use crate::arena::OnClose;

/// Most lease requests waiting for the keeper thread; past it a join is answered
/// ROOM_UNAVAILABLE.
pub const MAX_REQUESTS: usize = 4096;

/// Who owns an arena, as this node knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// This node holds the lease.
    Here,
    /// Another node does, reachable at these public addresses (either may be empty).
    There { addr: String, websocket: String },
    /// It cannot be known now (Redis is away, or the stored lease cannot be believed).
    Unavailable,
}

/// This instance as other instances redirect players to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub node: String,
    /// `--public-addr`: where TCP players reach this instance.
    pub addr: String,
    /// `--public-websocket`: where browser players reach it (empty: none).
    pub websocket: String,
}

/// What the keeper thread is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Who owns `room`? Take it if it is free; answer loop `loop_index`.
    Resolve { room: u32, loop_index: usize },
    /// This node's arena `room` emptied: give its lease back.
    Release { room: u32 },
}

/// The counters of arena ownership (metrics `gameserver_arena_lease_*`).
#[derive(Debug, Default)]
pub struct LeaseStats {
    /// 1 while the keeper's Redis connection is up.
    pub up: AtomicU64,
    /// Leases taken by this node (a free arena, or one whose owner died).
    pub taken: AtomicU64,
    /// Joins answered with REDIRECT.
    pub redirects: AtomicU64,
    /// Joins answered with ROOM_UNAVAILABLE.
    pub unavailable: AtomicU64,
    /// Leases this node held and another node took (its arena's players were redirected).
    pub lost: AtomicU64,
    /// Stored leases not believed (signature, stale, malformed).
    pub rejected: AtomicU64,
}

impl LeaseStats {
    /// Adds one to `counter`.
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A counter's value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Shared by the loops and the keeper thread.
#[derive(Debug)]
pub struct Leases {
    me: Instance,
    /// How long an answer about another node is believed without asking again.
    remember: Duration,
    cache: Mutex<HashMap<u32, (Owner, Option<Instant>)>>,
    requests: SyncSender<Request>,
    /// Per loop: rooms resolved for it.
    ready: Box<[Mutex<Vec<u32>>]>,
    /// Per loop: its arenas whose lease another node took.
    lost: Box<[Mutex<Vec<u32>>]>,
    notifier: OnceLock<Notifier>,
    pub stats: LeaseStats,
}

impl Leases {
    /// Leases of instance `me` for `loops` loops, answers about other nodes believed for
    /// `remember`; returns the keeper's end of the request queue too.
    pub fn new(me: Instance, loops: usize, remember: Duration) -> (Leases, Receiver<Request>) {
        let (requests, receiver) = std::sync::mpsc::sync_channel(MAX_REQUESTS);
        let lists = || (0..loops.max(1)).map(|_| Mutex::default()).collect();
        let leases = Leases {
            me,
            remember,
            cache: Mutex::default(),
            requests,
            ready: lists(),
            lost: lists(),
            notifier: OnceLock::new(),
            stats: LeaseStats::default(),
        };
        (leases, receiver)
    }

    /// This instance.
    pub fn me(&self) -> &Instance {
        &self.me
    }

    /// Wakes the loops from now on (once the service runs).
    pub fn bind(&self, notifier: Notifier) {
        let _ = self.notifier.set(notifier);
    }

    fn notify(&self, loop_index: usize) {
        if let Some(notifier) = self.notifier.get() {
            notifier.notify(loop_index);
        }
    }

    /// Who owns `room`, if known and still believed.
    pub fn owner(&self, room: u32) -> Option<Owner> {
        let cache = lock(&self.cache);
        let (owner, until) = cache.get(&room)?;
        until
            .is_none_or(|t| Instant::now() < t)
            .then(|| owner.clone())
    }

    /// Asks the keeper who owns `room` (loop `loop_index` waits); false if the queue is full.
    pub fn request(&self, room: u32, loop_index: usize) -> bool {
        self.requests
            .try_send(Request::Resolve { room, loop_index })
            .is_ok()
    }

    /// Rooms resolved for loop `loop_index` since the last call.
    pub fn take_ready(&self, loop_index: usize) -> Vec<u32> {
        self.ready
            .get(loop_index)
            .map(|r| std::mem::take(&mut *lock(r)))
            .unwrap_or_default()
    }

    /// Arenas of loop `loop_index` whose lease another node took since the last call.
    pub fn take_lost(&self, loop_index: usize) -> Vec<u32> {
        self.lost
            .get(loop_index)
            .map(|r| std::mem::take(&mut *lock(r)))
            .unwrap_or_default()
    }

    /// The keeper's answer for `room`, for loop `loop_index`.
    pub(crate) fn resolved(&self, room: u32, owner: Owner, loop_index: usize) {
        self.remember(room, owner);
        if let Some(ready) = self.ready.get(loop_index) {
            lock(ready).push(room);
        }
        self.notify(loop_index);
    }

    /// Notes who owns `room`: this node until it lets go; another node for a while.
    pub(crate) fn remember(&self, room: u32, owner: Owner) {
        let until = match owner {
            Owner::Here => None,
            Owner::There { .. } => Some(Instant::now() + self.remember),
            Owner::Unavailable => Some(Instant::now()),
        };
        lock(&self.cache).insert(room, (owner, until));
    }

    /// This node's lease of `room` is gone to `owner`: the arena's loop redirects its players.
    pub(crate) fn lost(&self, room: u32, owner: Owner, loops: usize) {
        LeaseStats::add(&self.stats.lost);
        self.remember(room, owner);
        let at = rooms::RoomId(room).owner(loops);
        if let Some(lost) = self.lost.get(at) {
            lock(lost).push(room);
        }
        self.notify(at);
    }

    /// Forgets `room` (this node let it go).
    pub(crate) fn forget(&self, room: u32) {
        lock(&self.cache).remove(&room);
    }

    /// Number of loops.
    pub(crate) fn loops(&self) -> usize {
        self.ready.len()
    }
}

impl OnClose for Leases {
    /// The arena emptied here: the keeper gives its lease back (so the next player anywhere
    /// may take it); if the queue is full the lease simply expires.
    fn closed(&self, room: u32) {
        self.forget(room);
        let _ = self.requests.try_send(Request::Release { room });
    }
}
