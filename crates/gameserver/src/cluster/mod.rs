//! `--cluster redis://…`: one chat room across several gameserver instances, through Redis
//! pub/sub (the backplane design of Socket.IO's and SignalR's Redis adapters). See
//! docs/cluster.md for the guarantees, their limits and the numbers.
//!
//! ```text
//!  instance A                                   Redis                 instance B
//!  room R's loop: CHAT ─┬─ one pass ─> A's members of R (the shared buffer)
//!                       └─ Link::publish: number in R's stream (origin, epoch, seq), bounded
//!                          queue (full: drop+count)
//!                   │
//!        [publisher thread] ── PUBLISH gameserver:room:R ──> channel ──> [subscriber thread]
//!                                                                        (only rooms with local
//!                                                                         members; seq check:
//!                                                                         gaps/duplicates counted)
//!                                                                              │ bounded inbox of
//!                                                                              │ R's loop (R % loops)
//!                                                                              v + Notifier
//!                                                         loop: Game::notified: serialize once
//!                                                               ─> B's members of R
//!        [presence thread] ── HSET members:R A n, SET node:A PX ttl ── (B reads: counts, capacity)
//! ```
//!
//! The event loops never wait on Redis: they only touch bounded queues, small maps and a cache.
//!
//! | file            | concept |
//! |-----------------|---------|
//! | `config.rs`     | the `--cluster*` flags, the node id |
//! | `auth.rs`       | the shared secret: HMAC tags on envelopes and presence entries |
//! | `wire.rs`       | the published envelope, channel and key names |
//! | `link.rs`       | the loops' side: streams, the publish queue, membership notes, the count cache |
//! | `inbox.rs`      | a loop's inbox of other instances' chats, delivered to its rooms |
//! | `backplane.rs`  | the three Redis threads: start, stop, (re)connect with back-off |
//! | `publisher.rs`, `subscriber.rs`, `presence.rs` | one thread each |
//! | `sequence.rs`   | gap and duplicate detection per origin stream |
//! | `subscriptions.rs` | active channels; joiners waiting for theirs before `ROOM_JOINED` |
//! | `stats.rs`      | the counters and their Prometheus names |
//!
//! Arenas (`--game arena --cluster`) are not relayed: each lives on one instance, the holder of
//! its lease. `lease.rs` is the signed value in Redis, `leases.rs` the loops' side (a cache,
//! requests, answers), `lease_keeper.rs` the thread that takes, renews and gives back leases.

pub mod auth;
mod backplane;
mod config;
mod inbox;
mod lease;
mod lease_keeper;
mod leases;
mod link;
mod presence;
mod publisher;
mod sequence;
mod stats;
mod subscriber;
mod subscriptions;
pub mod wire;

use std::sync::mpsc::SyncSender;
use std::sync::Arc;

pub use backplane::{Backplane, StartError};
pub use config::{redis_url, ClusterArgs, NodeId, MAX_QUEUE, SECRET_ENV, TTL_RANGE_MS};
pub use inbox::Inbox;
pub use lease::{lease_key, Lease, LeaseError};
pub use lease_keeper::LeaseKeeper;
pub use leases::{Instance, LeaseStats, Leases, Owner, Request, MAX_REQUESTS};
pub use link::{Link, Stream};
pub use sequence::{Sequences, Verdict, MAX_ORIGINS};
pub use stats::{ClusterSnapshot, ClusterStats, Rejected, Role};
pub use subscriptions::Waiter;

use inbox::Incoming;

/// A clustered server being put together: the link first (for the rooms), one inbox per loop
/// as the loops are made, then [`Cluster::start`] once the service (and its notifier) exists.
#[derive(Debug)]
pub struct Cluster {
    url: String,
    client: redis::Client,
    args: ClusterArgs,
    link: Arc<Link>,
    ends: link::LinkEnds,
    inboxes: Vec<Option<SyncSender<Incoming>>>,
}

impl Cluster {
    /// The cluster the flags ask for (`None` without `--cluster`), relaying CHAT bodies of at
    /// most `max_body` bytes (what a client may send). Nothing connects yet.
    ///
    /// # Errors
    /// [`StartError::BadUrl`] if `--cluster` is not a Redis URL, [`StartError::Secret`] if
    /// the shared secret is missing or unusable.
    pub fn new(args: &ClusterArgs, max_body: usize) -> Result<Option<Cluster>, StartError> {
        let Some(url) = args.cluster.clone() else {
            return Ok(None);
        };
        let auth = args.auth().map_err(StartError::Secret)?;
        let client = redis::Client::open(url.as_str()).map_err(StartError::BadUrl)?;
        let node = args.node();
        if !auth.is_signed() {
            tracing::warn!(
                node = %node,
                "--cluster-insecure: chats and presence on Redis are not signed; anyone who can \
                 write to the Redis server can forge them (docs/cluster.md)"
            );
        }
        let stats = Arc::new(ClusterStats::new(node.as_str()));
        let (link, ends) = Link::new(node.as_str(), stats, args.queue(), auth, max_body);
        Ok(Some(Cluster {
            url,
            client,
            args: args.clone(),
            link,
            ends,
            inboxes: Vec::new(),
        }))
    }

    /// The link the rooms publish through and count other instances' members with.
    pub fn link(&self) -> Arc<Link> {
        self.link.clone()
    }

    /// Loop `index`'s inbox (call once per loop).
    pub fn inbox(&mut self, index: usize) -> Inbox {
        let (tx, inbox) = inbox::inbox(self.args.queue(), self.link.clone());
        if self.inboxes.len() <= index {
            self.inboxes.resize(index + 1, None);
        }
        self.inboxes[index] = Some(tx);
        inbox
    }

    /// The counters (for metrics).
    pub fn stats(&self) -> Arc<ClusterStats> {
        self.link.stats().clone()
    }

    /// Starts the Redis threads; `notifier` wakes the loops whose inboxes were made.
    ///
    /// # Errors
    /// See [`Backplane::start`].
    pub fn start(self, notifier: servercore::Notifier) -> Result<Backplane, StartError> {
        let inboxes = self.inboxes.into_iter().flatten().collect();
        Backplane::start(
            &self.url,
            self.client,
            self.link,
            self.ends,
            inboxes,
            notifier,
            self.args.ttl(),
        )
    }
}
