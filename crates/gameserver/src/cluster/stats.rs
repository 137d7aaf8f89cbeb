//! [`ClusterStats`]: the backplane's counters, and their Prometheus encoding.
//!
//! | metric (prefixed `gameserver_`)                 | type      | meaning |
//! |-------------------------------------------------|-----------|---------|
//! | `cluster_node_info{node}`                       | gauge (1) | this instance's node id |
//! | `cluster_backplane_up`                          | gauge     | 1 while all three Redis connections are up |
//! | `cluster_connection_up{role}`                   | gauge     | per connection: publisher, subscriber, presence |
//! | `cluster_reconnects_total`                      | counter   | connections (re)established after the first |
//! | `cluster_published_total`                       | counter   | chats Redis accepted from this node |
//! | `cluster_publish_dropped_total{reason}`         | counter   | chats not published: `queue_full` (the loops' queue to the publisher was at its bound), `backplane_down` (taken from the queue, then the publish failed) |
//! | `cluster_publish_queue`                         | gauge     | chats waiting for the publisher now |
//! | `cluster_received_total`                        | counter   | chats received from other nodes |
//! | `cluster_inbox_dropped_total`                   | counter   | received chats dropped: the delivering loop's inbox was full |
//! | `cluster_gaps_total`                            | counter   | chats of other nodes never received (holes in their sequence) |
//! | `cluster_duplicates_total`                      | counter   | chats received twice (dropped) |
//! | `cluster_rejected_total{reason}`                | counter   | messages from Redis not believed: `malformed`, `bad_signature`, `bad_origin`, `stale` (an old chat starting a stream: a replay), `too_large` (a body over the packet bound), `origins_full` (too many streams in a room), `presence` (a presence entry that does not verify or is stale) |
//! | `cluster_origins_tracked`                       | gauge     | other nodes' streams whose position this node keeps |
//! | `cluster_deliver_latency_seconds`               | histogram | origin's queueing → queued on this node's members |
//!
//! Rejections are logged once per episode (a warning when they start after a quiet
//! [`EPISODE_GAP`], with how many the previous episode had), never once per message: whoever
//! can write to Redis must not be able to flood the log.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Unit;

/// One of the backplane's three Redis connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Publishes the loops' chats.
    Publisher,
    /// Subscribed to the channels of rooms with local members.
    Subscriber,
    /// Heartbeat and member counts.
    Presence,
}

impl Role {
    /// Every role, in index order.
    pub const ALL: [Role; 3] = [Role::Publisher, Role::Subscriber, Role::Presence];

    /// Name in logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Role::Publisher => "publisher",
            Role::Subscriber => "subscriber",
            Role::Presence => "presence",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Why a message from Redis was not believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Not an envelope of this format (garbage, truncated, another version).
    Malformed,
    /// Its tag does not verify with this cluster's secret.
    Signature,
    /// Its origin is not a valid node id.
    Origin,
    /// A chat too old to start a stream (a replay of a recorded envelope).
    Stale,
    /// A body over the packet bound a client is held to.
    TooLarge,
    /// A new stream in a room that already has the most this node keeps.
    OriginsFull,
    /// A presence entry (heartbeat or member count) that does not verify or is stale.
    Presence,
}

impl Rejected {
    /// Every reason, in index order.
    pub const ALL: [Rejected; 7] = [
        Rejected::Malformed,
        Rejected::Signature,
        Rejected::Origin,
        Rejected::Stale,
        Rejected::TooLarge,
        Rejected::OriginsFull,
        Rejected::Presence,
    ];

    /// Name in logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Rejected::Malformed => "malformed",
            Rejected::Signature => "bad_signature",
            Rejected::Origin => "bad_origin",
            Rejected::Stale => "stale",
            Rejected::TooLarge => "too_large",
            Rejected::OriginsFull => "origins_full",
            Rejected::Presence => "presence",
        }
    }
}

/// Quiet time after which the next rejection starts a new episode (and a new warning).
pub const EPISODE_GAP: Duration = Duration::from_secs(10);

/// The current episode of rejections: one warning when it starts.
#[derive(Debug, Default)]
struct Episode {
    last: Option<Instant>,
    count: u64,
}

/// The backplane's counters: written by the loops (queueing, delivery) and the Redis threads,
/// read by the metrics exporter. Plain relaxed atomics: they are figures, not synchronization.
#[derive(Debug)]
pub struct ClusterStats {
    node: String,
    up: [AtomicBool; 3],
    pub(crate) reconnects: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_down: AtomicU64,
    pub(crate) queued: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) inbox_dropped: AtomicU64,
    pub(crate) gaps: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    rejected: [AtomicU64; Rejected::ALL.len()],
    pub(crate) origins: AtomicU64,
    episode: Mutex<Episode>,
    latency: Histogram,
}

impl ClusterStats {
    /// Zeroed counters for node `node`.
    pub fn new(node: &str) -> ClusterStats {
        ClusterStats {
            node: node.to_string(),
            up: Default::default(),
            reconnects: AtomicU64::new(0),
            published: AtomicU64::new(0),
            dropped_queue_full: AtomicU64::new(0),
            dropped_down: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            received: AtomicU64::new(0),
            inbox_dropped: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            rejected: Default::default(),
            origins: AtomicU64::new(0),
            episode: Mutex::default(),
            // 50 µs .. ~1.6 s, doubling.
            latency: Histogram::new(exponential_buckets(50e-6, 2.0, 16)),
        }
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Records that connection `role` went up or down; returns whether that changed it.
    pub(crate) fn set_up(&self, role: Role, up: bool) -> bool {
        self.up[role.index()].swap(up, Ordering::Relaxed) != up
    }

    /// True while every connection is up.
    pub fn backplane_up(&self) -> bool {
        self.up.iter().all(|u| u.load(Ordering::Relaxed))
    }

    /// Adds one publish→deliver latency sample, in seconds.
    pub(crate) fn observe_latency(&self, seconds: f64) {
        self.latency.observe(seconds);
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one message from Redis not believed, and warns if it starts an episode.
    pub(crate) fn reject(&self, node: &str, reason: Rejected, detail: &dyn fmt::Display) {
        Self::add(&self.rejected[reason as usize], 1);
        let now = Instant::now();
        let mut episode = self.episode.lock().unwrap_or_else(|e| e.into_inner());
        let quiet = episode
            .last
            .is_none_or(|last| now.duration_since(last) >= EPISODE_GAP);
        if quiet {
            let previous = std::mem::take(&mut episode.count);
            tracing::warn!(
                node,
                reason = reason.name(),
                previous_episode = previous,
                "rejecting messages from Redis ({detail}); counted in \
                 gameserver_cluster_rejected_total, logged once until {}s pass without one",
                EPISODE_GAP.as_secs()
            );
        }
        episode.last = Some(now);
        episode.count += 1;
    }

    /// Messages rejected for `reason` so far.
    pub fn rejected(&self, reason: Rejected) -> u64 {
        get(&self.rejected[reason as usize])
    }

    /// Chats not published because the publish queue was full.
    pub fn dropped_queue_full(&self) -> u64 {
        self.dropped_queue_full.load(Ordering::Relaxed)
    }

    /// Chats received from other nodes.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Holes counted in other nodes' sequences.
    pub fn gaps(&self) -> u64 {
        self.gaps.load(Ordering::Relaxed)
    }
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Encodes the figures as of now (registered per scrape by the exporter).
impl Collector for ClusterSnapshot {
    fn encode(&self, mut out: DescriptorEncoder) -> Result<(), fmt::Error> {
        let s = &self.0;
        let gauge = ConstGauge::new(1i64).metric_type();
        let counter = ConstCounter::new(0u64).metric_type();
        let mut info = out.encode_descriptor(
            "cluster_node_info",
            "This instance's node id in the cluster.",
            None,
            gauge,
        )?;
        ConstGauge::new(1i64).encode(info.encode_family(&[("node", s.node.as_str())])?)?;
        let up = i64::from(s.backplane_up());
        ConstGauge::new(up).encode(out.encode_descriptor(
            "cluster_backplane_up",
            "1 while every Redis connection of the backplane is up.",
            None,
            gauge,
        )?)?;
        let mut roles = out.encode_descriptor(
            "cluster_connection_up",
            "1 while this Redis connection is up, by role.",
            None,
            gauge,
        )?;
        for role in Role::ALL {
            let up = i64::from(s.up[role.index()].load(Ordering::Relaxed));
            ConstGauge::new(up).encode(roles.encode_family(&[("role", role.name())])?)?;
        }
        let counters: [(&str, &str, &AtomicU64); 6] = [
            (
                "cluster_reconnects",
                "Redis connections re-established.",
                &s.reconnects,
            ),
            (
                "cluster_published",
                "Chats Redis accepted from this node.",
                &s.published,
            ),
            (
                "cluster_received",
                "Chats received from other nodes.",
                &s.received,
            ),
            (
                "cluster_inbox_dropped",
                "Received chats dropped: the delivering loop's inbox was full.",
                &s.inbox_dropped,
            ),
            (
                "cluster_gaps",
                "Chats of other nodes never received (holes in their sequence numbers).",
                &s.gaps,
            ),
            (
                "cluster_duplicates",
                "Chats received twice and dropped.",
                &s.duplicates,
            ),
        ];
        for (name, help, value) in counters {
            ConstCounter::new(get(value))
                .encode(out.encode_descriptor(name, help, None, counter)?)?;
        }
        let mut dropped = out.encode_descriptor(
            "cluster_publish_dropped",
            "Chats not published to Redis, by reason.",
            None,
            counter,
        )?;
        for (reason, value) in [
            ("queue_full", &s.dropped_queue_full),
            ("backplane_down", &s.dropped_down),
        ] {
            ConstCounter::new(get(value)).encode(dropped.encode_family(&[("reason", reason)])?)?;
        }
        let mut rejected = out.encode_descriptor(
            "cluster_rejected",
            "Messages from Redis not believed, by reason.",
            None,
            counter,
        )?;
        for reason in Rejected::ALL {
            ConstCounter::new(s.rejected(reason))
                .encode(rejected.encode_family(&[("reason", reason.name())])?)?;
        }
        ConstGauge::new(i64::try_from(get(&s.origins)).unwrap_or(i64::MAX)).encode(
            out.encode_descriptor(
                "cluster_origins_tracked",
                "Other nodes' chat streams whose position this node keeps.",
                None,
                gauge,
            )?,
        )?;
        ConstGauge::new(i64::try_from(get(&s.queued)).unwrap_or(i64::MAX)).encode(
            out.encode_descriptor(
                "cluster_publish_queue",
                "Chats waiting for the publisher now.",
                None,
                gauge,
            )?,
        )?;
        s.latency.encode(out.encode_descriptor(
            "cluster_deliver_latency",
            "From queueing at the origin to queueing on this node's members.",
            Some(&Unit::Seconds),
            s.latency.metric_type(),
        )?)
    }
}

/// The stats as a Prometheus collector (see [`ClusterStats`]'s table).
#[derive(Debug)]
pub struct ClusterSnapshot(pub std::sync::Arc<ClusterStats>);
