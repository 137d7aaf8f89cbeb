//! [`LeaseKeeper`]: the thread that holds this node's arena leases in Redis, on one blocking
//! connection, so the event loops never wait on Redis ([`Leases`] is their side).
//!
//! - **Resolve** R: `TIME`, then one script: the stored lease of R, or ours written with `PX
//!   ttl` if there is none (`SET NX` in effect). Ours: this node owns R. Another node's that
//!   verifies: it owns R (REDIRECT there). One that does not verify: nobody is believed
//!   (ROOM_UNAVAILABLE, counted, logged).
//! - **Renew** every TTL/3 each lease held: rewritten with a fresh time only if the stored
//!   value is still ours (a compare-and-set script). Gone (it expired while Redis was away):
//!   taken again if still free. Someone else's: lost — the arena's players are redirected.
//! - **Release** when an arena empties, and every lease at a clean stop: deleted only if ours.
//! - While Redis is away every resolve is answered `Unavailable` at once; reconnects use a
//!   back-off from 100 ms doubling to 2 s.
//!
//! A node that dies keeps its leases for at most the TTL: then the next join anywhere takes
//! the arena (a takeover). Its players must join again (they lost their connection).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cluster::auth::Auth;
use crate::cluster::backplane::{IO_TIMEOUT, POLL};
use crate::cluster::lease::{lease_key, Lease};
use crate::cluster::leases::{LeaseStats, Leases, Owner, Request};
use crate::cluster::presence::redis_now_ms;

/// The stored value, or ours set with its TTL when there is none.
const GET_OR_SET: &str = "local v = redis.call('GET', KEYS[1]) \
    if v then return v end \
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return ARGV[1]";
/// Ours rewritten (fresh time, TTL) if it is still ours: 1; else the stored value (or nil).
const RENEW: &str = "local v = redis.call('GET', KEYS[1]) \
    if v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end \
    return v";
/// Deleted if it is ours.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    return redis.call('DEL', KEYS[1]) end return 0";

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The running keeper thread; dropping it stops the thread, which gives its leases back.
#[derive(Debug)]
pub struct LeaseKeeper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LeaseKeeper {
    /// Starts the thread on `client` for `leases`, signing with `auth`, leases lasting `ttl`.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn start(
        client: redis::Client,
        leases: Arc<Leases>,
        requests: Receiver<Request>,
        auth: Auth,
        ttl: Duration,
    ) -> std::io::Result<LeaseKeeper> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut keeper = Keeper {
            client,
            leases,
            auth,
            ttl,
            stop: stop.clone(),
            con: None,
            held: HashMap::new(),
            backoff: MIN_BACKOFF,
            next_connect: Instant::now(),
            next_renew: Instant::now() + ttl / 3,
        };
        let thread = std::thread::Builder::new()
            .name("arena-leases".into())
            .spawn(move || keeper.run(&requests))?;
        Ok(LeaseKeeper {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread's state.
struct Keeper {
    client: redis::Client,
    leases: Arc<Leases>,
    auth: Auth,
    ttl: Duration,
    stop: Arc<AtomicBool>,
    con: Option<redis::Connection>,
    /// Arenas this node holds: the value stored for each.
    held: HashMap<u32, String>,
    backoff: Duration,
    next_connect: Instant,
    next_renew: Instant,
}

impl Keeper {
    fn run(&mut self, requests: &Receiver<Request>) {
        while !self.stop.load(Ordering::Acquire) {
            self.connect();
            match requests.recv_timeout(POLL) {
                Ok(Request::Resolve { room, loop_index }) => {
                    let owner = self.resolve(room);
                    if owner == Owner::Unavailable {
                        LeaseStats::add(&self.leases.stats.unavailable);
                    }
                    self.leases.resolved(room, owner, loop_index);
                }
                Ok(Request::Release { room }) => self.release(room),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Instant::now() >= self.next_renew {
                self.next_renew = Instant::now() + self.ttl / 3;
                self.renew();
            }
        }
        let rooms: Vec<u32> = self.held.keys().copied().collect();
        for room in rooms {
            self.release(room); // a clean stop: the arenas are free at once
        }
    }

    /// (Re)connects when due; logs each change.
    fn connect(&mut self) {
        if self.con.is_some() || Instant::now() < self.next_connect {
            return;
        }
        let connected = self
            .client
            .get_connection_with_timeout(IO_TIMEOUT)
            .and_then(|con| {
                con.set_read_timeout(Some(IO_TIMEOUT))?;
                con.set_write_timeout(Some(IO_TIMEOUT))?;
                Ok(con)
            });
        match connected {
            Ok(con) => {
                tracing::info!(node = %self.leases.me().node, "arena leases: connected to Redis");
                self.con = Some(con);
                self.backoff = MIN_BACKOFF;
                self.leases.stats.up.store(1, Ordering::Relaxed);
                self.next_renew = Instant::now(); // leases may have expired meanwhile
            }
            Err(err) => self.down(&err),
        }
    }

    fn down(&mut self, err: &redis::RedisError) {
        if self.con.take().is_some() || self.leases.stats.up.swap(0, Ordering::Relaxed) == 1 {
            tracing::warn!(node = %self.leases.me().node, "arena leases: Redis connection down: {err}");
        }
        self.next_connect = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// Runs `f` on the connection; a failure drops it (and answers nothing).
    fn with_con<T>(
        &mut self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Option<T> {
        let result = f(self.con.as_mut()?);
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                self.down(&err);
                None
            }
        }
    }

    /// Our lease of `room`, signed, written at Redis time `now`.
    fn ours(&self, room: u32, now: u64) -> String {
        let me = self.leases.me();
        let lease = Lease {
            node: me.node.clone(),
            addr: me.addr.clone(),
            websocket: me.websocket.clone(),
            ms: now,
        };
        lease.encode(room, &self.auth)
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }

    /// Who owns `room`, taking it if it is free.
    fn resolve(&mut self, room: u32) -> Owner {
        let Some(now) = self.with_con(redis_now_ms) else {
            return Owner::Unavailable;
        };
        let ours = self.ours(room, now);
        let ttl = self.ttl_ms();
        let stored: Option<String> = self.with_con(|con| {
            redis::cmd("EVAL")
                .arg(GET_OR_SET)
                .arg(1)
                .arg(lease_key(room))
                .arg(&ours)
                .arg(ttl)
                .query(con)
        });
        let Some(stored) = stored else {
            return Owner::Unavailable;
        };
        if stored == ours {
            LeaseStats::add(&self.leases.stats.taken);
            tracing::info!(node = %self.leases.me().node, room, "arena lease taken: the arena lives here");
            self.held.insert(room, ours);
            return Owner::Here;
        }
        self.believe(room, &stored, now)
    }

    /// What a stored value that is not this process's current one says.
    fn believe(&mut self, room: u32, stored: &str, now: u64) -> Owner {
        let stale_after = self.ttl_ms().saturating_mul(2);
        match Lease::parse(stored, room, &self.auth, now, stale_after) {
            Ok(lease) if lease.node == self.leases.me().node => {
                // Ours from before (a restart under the same id): take it over.
                self.held.insert(room, stored.to_string());
                Owner::Here
            }
            Ok(lease) => Owner::There {
                addr: lease.addr,
                websocket: lease.websocket,
            },
            Err(why) => {
                LeaseStats::add(&self.leases.stats.rejected);
                tracing::warn!(node = %self.leases.me().node, room, "arena lease in Redis not believed: {why}");
                Owner::Unavailable
            }
        }
    }

    /// Rewrites every lease held with a fresh time; notes the ones lost.
    fn renew(&mut self) {
        let Some(now) = self.with_con(redis_now_ms) else {
            return;
        };
        let ttl = self.ttl_ms();
        let rooms: Vec<u32> = self.held.keys().copied().collect();
        for room in rooms {
            let (old, new) = (self.held[&room].clone(), self.ours(room, now));
            let answer: Option<redis::Value> = self.with_con(|con| {
                redis::cmd("EVAL")
                    .arg(RENEW)
                    .arg(1)
                    .arg(lease_key(room))
                    .arg(&old)
                    .arg(&new)
                    .arg(ttl)
                    .query(con)
            });
            match answer {
                None => return, // Redis went away: try again once it is back
                Some(redis::Value::Int(1)) => {
                    self.held.insert(room, new);
                }
                Some(other) => self.renewal_refused(room, other, now),
            }
        }
    }

    /// Our lease of `room` was not there to renew: take it again if free, else it is lost.
    fn renewal_refused(&mut self, room: u32, stored: redis::Value, now: u64) {
        self.held.remove(&room);
        let owner = match stored {
            redis::Value::BulkString(bytes) => {
                let stored = String::from_utf8_lossy(&bytes).into_owned();
                self.believe(room, &stored, now)
            }
            _ => self.resolve(room), // expired: free again, most likely ours once more
        };
        if owner != Owner::Here {
            tracing::warn!(node = %self.leases.me().node, room, "arena lease lost to another node: redirecting its players");
            self.leases.lost(room, owner, self.leases.loops());
        }
    }

    /// Gives the lease of `room` back, if it is ours.
    fn release(&mut self, room: u32) {
        let Some(ours) = self.held.remove(&room) else {
            return;
        };
        let _: Option<i64> = self.with_con(|con| {
            redis::cmd("EVAL")
                .arg(RELEASE)
                .arg(1)
                .arg(lease_key(room))
                .arg(&ours)
                .query(con)
        });
    }
}
