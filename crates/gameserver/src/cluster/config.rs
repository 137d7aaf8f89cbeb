//! [`ClusterArgs`]: the `--cluster*` command-line flags, and the node id they name.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::cluster::wire::MAX_NODE_ID;

/// Default heartbeat TTL: a node that dies without cleaning up stops being counted within
/// this (plus one refresh period, a third of it).
pub const DEFAULT_TTL_MS: u64 = 6000;
/// Default bound of the publish queue and of each loop's inbox from the backplane.
pub const DEFAULT_QUEUE: u64 = 8192;

/// Flags of the Redis backplane (packet mode). Without `--cluster` the server is one
/// instance and needs no Redis.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Packet mode: share rooms with every gameserver on this Redis (e.g.
    /// redis://127.0.0.1:6379). Off by default. See docs/cluster.md.
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,
    /// This instance's id in the cluster (letters, digits, `-`, `_`, `.`; at most 64). Default:
    /// random.
    #[arg(long, value_name = "ID", value_parser = NodeId::parse)]
    pub node_id: Option<NodeId>,
    /// Heartbeat TTL in milliseconds: other nodes stop counting this node's room members this
    /// long after it dies without cleaning up (refreshed every third of it).
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_TTL_MS,
          value_parser = clap::value_parser!(u64).range(300..))]
    pub cluster_ttl_ms: u64,
    /// Bound of the queue from the event loops to the Redis publisher and of each loop's
    /// inbox from the subscriber, in chats: beyond it chats are dropped and counted.
    #[arg(long, value_name = "CHATS", default_value_t = DEFAULT_QUEUE,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub cluster_queue: u64,
}

impl ClusterArgs {
    /// The heartbeat TTL.
    pub fn ttl(&self) -> Duration {
        Duration::from_millis(self.cluster_ttl_ms)
    }

    /// The queue bound.
    pub fn queue(&self) -> usize {
        usize::try_from(self.cluster_queue).unwrap_or(usize::MAX)
    }

    /// The node id given, or a random one.
    pub fn node(&self) -> NodeId {
        self.node_id.clone().unwrap_or_else(NodeId::random)
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
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if text.is_empty() || text.len() > MAX_NODE_ID {
            return Err(format!("a node id has 1 to {MAX_NODE_ID} characters"));
        }
        if !text.chars().all(ok) {
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
    fn random_ids_are_valid_and_differ() {
        let (a, b) = (NodeId::random(), NodeId::random());
        assert_ne!(a, b);
        assert_eq!(NodeId::parse(a.as_str()), Ok(a));
    }
}
