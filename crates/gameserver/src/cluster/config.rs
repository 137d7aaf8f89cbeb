//! [`ClusterArgs`]: the `--cluster*` command-line flags, and the node id they name.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::time::Duration;

use crate::cluster::auth::Auth;
use game_protocol::secret::read_secret;

use crate::cluster::wire::{is_node_id, MAX_NODE_ID};

/// Default heartbeat TTL: a node that dies without cleaning up stops being counted within
/// this (plus one refresh period, a third of it).
pub const DEFAULT_TTL_MS: u64 = 6000;
/// Default bound of the publish queue and of each loop's inbox from the backplane.
pub const DEFAULT_QUEUE: u64 = 8192;

/// Largest `--cluster-queue`: 2^20 chats, each up to a packet (64 KiB), is already more memory
/// than a backlog worth holding for Redis.
pub const MAX_QUEUE: u64 = 1 << 20;

/// Shortest and longest `--cluster-ttl-ms`: a node refreshes every third of it, so below
/// 300 ms the refreshes are Redis load for nothing; past an hour a dead node's members are
/// counted for longer than any game waits.
pub const TTL_RANGE_MS: std::ops::RangeInclusive<u64> = 300..=3_600_000;

/// Flags of the Redis backplane (packet mode). Without `--cluster` the server is one
/// instance and needs no Redis.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Packet mode: share rooms with every gameserver on this Redis (e.g.
    /// redis://127.0.0.1:6379). Off by default. See docs/cluster.md.
    #[arg(long, value_name = "URL", value_parser = redis_url)]
    pub cluster: Option<String>,
    /// This instance's id in the cluster (letters, digits, `-`, `_`, `.`; at most 64). Default:
    /// random.
    #[arg(long, value_name = "ID", value_parser = NodeId::parse)]
    pub node_id: Option<NodeId>,
    /// Heartbeat TTL in milliseconds: other nodes stop counting this node's room members this
    /// long after it dies without cleaning up (refreshed every third of it; 300 to 3600000).
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_TTL_MS,
          value_parser = clap::value_parser!(u64).range(TTL_RANGE_MS))]
    pub cluster_ttl_ms: u64,
    /// Bound of the queue from the event loops to the Redis publisher and of each loop's
    /// inbox from the subscriber, in chats: beyond it chats are dropped and counted (1 to
    /// 1048576).
    #[arg(long, value_name = "CHATS", default_value_t = DEFAULT_QUEUE,
          value_parser = clap::value_parser!(u64).range(1..=MAX_QUEUE))]
    pub cluster_queue: u64,
    /// File holding the cluster's shared secret (at least 16 bytes; a trailing newline is
    /// ignored), the same on every instance: each chat and presence entry published is signed
    /// with it, and what does not verify is rejected. The environment variable
    /// GAMESERVER_CLUSTER_SECRET gives it otherwise. With --cluster one of the two, or
    /// --cluster-insecure, is required. See docs/cluster.md, "Who can write to Redis".
    #[arg(long, value_name = "FILE")]
    pub cluster_secret_file: Option<PathBuf>,
    /// Believe everything on the Redis server, unsigned: anyone who can write to it can
    /// forge chats and presence. For a Redis nobody else can reach; warned about at start-up.
    #[arg(long)]
    pub cluster_insecure: bool,
}

/// The environment variable that may hold the cluster's secret.
pub const SECRET_ENV: &str = "GAMESERVER_CLUSTER_SECRET";

impl ClusterArgs {
    /// The heartbeat TTL.
    pub fn ttl(&self) -> Duration {
        Duration::from_millis(self.cluster_ttl_ms)
    }

    /// The queue bound.
    pub fn queue(&self) -> usize {
        usize::try_from(self.cluster_queue).unwrap_or(usize::MAX)
    }

    /// How the backplane signs and checks: the secret from `--cluster-secret-file` or
    /// [`SECRET_ENV`], or nothing with `--cluster-insecure`.
    ///
    /// # Errors
    /// A message for the operator: no secret and no `--cluster-insecure`, both, an unreadable
    /// file, or a secret under [`MIN_SECRET`](crate::cluster::auth::MIN_SECRET) bytes.
    pub fn auth(&self) -> Result<Auth, String> {
        let file = self.cluster_secret_file.as_deref();
        let secret = match read_secret("--cluster-secret-file", file, SECRET_ENV)? {
            Some(secret) => secret,
            None if self.cluster_insecure => return Ok(Auth::Insecure),
            None => {
                return Err(format!(
                    "--cluster needs the cluster's shared secret: --cluster-secret-file FILE or \
                     {SECRET_ENV}=... (the same on every instance), or --cluster-insecure to \
                     believe anyone who can write to the Redis server"
                ))
            }
        };
        if self.cluster_insecure {
            return Err(format!(
                "--cluster-insecure with a secret ({SECRET_ENV} or --cluster-secret-file): \
                 choose one"
            ));
        }
        Auth::signed(&secret).map_err(|err| err.to_string())
    }

    /// The node id given, or a random one.
    pub fn node(&self) -> NodeId {
        self.node_id.clone().unwrap_or_else(NodeId::random)
    }
}

/// `--cluster`'s value parser: a URL the Redis client takes (`redis://host:port`, with an
/// optional `:password@` and `/db`, or `unix:///path` for a socket; this build has no TLS).
///
/// # Errors
/// Anything else, with what a Redis URL looks like (`http://…` is the usual slip).
pub fn redis_url(text: &str) -> Result<String, String> {
    let wanted = "--cluster wants a Redis URL: redis://host:port (e.g. redis://127.0.0.1:6379; \
                  redis://:password@host:port/db with a password and database)";
    if redis::parse_redis_url(text).is_none() {
        return Err(format!("{text:?} is not a Redis URL; {wanted}"));
    }
    match redis::Client::open(text) {
        Ok(_) => Ok(text.to_string()),
        Err(err) => Err(format!(
            "{text:?} is not a Redis URL this build can use ({err}); {wanted}"
        )),
    }
}

/// A node id: 1 to 64 of `[A-Za-z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeId(String);

impl NodeId {
    /// Checks `text` is a valid id.
    ///
    /// # Errors
    /// A message naming what is wrong (for clap).
    pub fn parse(text: &str) -> Result<NodeId, String> {
        if text.is_empty() || text.len() > MAX_NODE_ID {
            return Err(format!("a node id has 1 to {MAX_NODE_ID} characters"));
        }
        if !is_node_id(text) {
            return Err("a node id has only letters, digits, '-', '_' and '.'".to_string());
        }
        Ok(NodeId(text.to_string()))
    }

    /// 16 random hex digits (from the standard library's per-process random hash keys).
    pub fn random() -> NodeId {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        NodeId(format!("{:016x}", hasher.finish()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_checked() {
        assert_eq!(NodeId::parse("node-1.a_b").unwrap().as_str(), "node-1.a_b");
        assert!(NodeId::parse("").is_err());
        assert!(NodeId::parse("a b").is_err());
        assert!(NodeId::parse("é").is_err());
        assert!(NodeId::parse(&"x".repeat(65)).is_err());
        assert!(NodeId::parse(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn cluster_urls_must_be_redis_urls() {
        let mut good = vec!["redis://127.0.0.1:6379", "redis://:secret@10.0.0.1:6380/2"];
        if cfg!(unix) {
            good.push("unix:///run/redis.sock"); // the redis crate has Unix sockets on Unix only
        }
        for good in good {
            assert_eq!(redis_url(good), Ok(good.to_string()));
        }
        for bad in ["http://127.0.0.1:6379", "127.0.0.1:6379", "redis", ""] {
            let err = redis_url(bad).unwrap_err();
            assert!(
                err.contains("wants a Redis URL: redis://host:port"),
                "{bad}: {err}"
            );
            assert!(!err.contains("InvalidClientConfig"), "{err}");
        }
        let tls = redis_url("rediss://cache.example:6379").unwrap_err();
        assert!(tls.contains("redis://host:port"), "{tls}");
    }

    #[test]
    fn random_ids_are_valid_and_differ() {
        let (a, b) = (NodeId::random(), NodeId::random());
        assert_ne!(a, b);
        assert_eq!(NodeId::parse(a.as_str()), Ok(a));
    }
}
