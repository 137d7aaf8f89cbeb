//! [`Lease`]: who owns an arena, as stored in Redis under [`lease_key`] — a value only an
//! instance with the cluster's secret can write believably:
//!
//! ```text
//!   gameserver:arena:<room>  =  "<node> <addr> <websocket> <ms> <tag>"      (PX ttl)
//! ```
//!
//! `addr` and `websocket` are the owner's public addresses (`--public-addr`,
//! `--public-websocket`; `-` when it has none), `ms` the Redis server's clock when the value was
//! written (the owner rewrites it at every renewal), `tag` the hex HMAC-SHA256 ([`Auth`]) of a
//! domain word, the room and every field before it. A value that does not verify, or is older
//! than twice the TTL (a replay of a recorded one), is not believed.

use std::fmt;

use data_encoding::HEXLOWER;

use crate::cluster::auth::Auth;
use crate::cluster::wire::is_node_id;

/// What a tag covers first: an arena lease, not a chat or a presence entry.
const DOMAIN: &[u8] = b"gameserver arena lease";

/// The key of arena `room`'s lease.
pub fn lease_key(room: u32) -> String {
    format!("gameserver:arena:{room}")
}

/// An arena's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The owning node's id.
    pub node: String,
    /// Its public TCP address, `host:port` (empty: none).
    pub addr: String,
    /// Its public WebSocket URL (empty: none).
    pub websocket: String,
    /// When it was written, by the Redis server's clock (ms since the Unix epoch).
    pub ms: u64,
}

/// A stored value that is not a lease this node may believe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseError {
    /// Not `node addr websocket ms tag`.
    Malformed,
    /// The tag does not verify with this cluster's secret.
    Signature,
    /// Written more than twice the TTL ago (or in the future).
    Stale,
}

impl fmt::Display for LeaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LeaseError::Malformed => "not an arena lease",
            LeaseError::Signature => "the lease's signature does not verify",
            LeaseError::Stale => "the lease is stale (a replay?)",
        })
    }
}

impl std::error::Error for LeaseError {}

/// A field as stored: `-` for empty.
fn field(text: &str) -> &str {
    if text.is_empty() {
        "-"
    } else {
        text
    }
}

impl Lease {
    fn parts<'a>(&'a self, room: &'a [u8; 4], ms: &'a [u8; 8]) -> [&'a [u8]; 6] {
        [
            DOMAIN,
            room,
            self.node.as_bytes(),
            self.addr.as_bytes(),
            self.websocket.as_bytes(),
            ms,
        ]
    }

    /// The value to store for arena `room`, signed with `auth`.
    pub fn encode(&self, room: u32, auth: &Auth) -> String {
        let (room_bytes, ms) = (room.to_le_bytes(), self.ms.to_le_bytes());
        let tag = auth.tag(&self.parts(&room_bytes, &ms));
        format!(
            "{} {} {} {} {}",
            self.node,
            field(&self.addr),
            field(&self.websocket),
            self.ms,
            HEXLOWER.encode(&tag)
        )
    }

    /// Reads the value stored for arena `room` at Redis time `now` (ms).
    ///
    /// # Errors
    /// [`LeaseError`] if it is not a lease signed with `auth` written within `stale_after` ms.
    pub fn parse(
        value: &str,
        room: u32,
        auth: &Auth,
        now: u64,
        stale_after: u64,
    ) -> Result<Lease, LeaseError> {
        let words: Vec<&str> = value.split(' ').collect();
        let [node, addr, websocket, ms, tag] = words[..] else {
            return Err(LeaseError::Malformed);
        };
        let empty = |w: &str| {
            if w == "-" {
                String::new()
            } else {
                w.to_string()
            }
        };
        let lease = Lease {
            node: node.to_string(),
            addr: empty(addr),
            websocket: empty(websocket),
            ms: ms.parse().map_err(|_| LeaseError::Malformed)?,
        };
        if !is_node_id(node) {
            return Err(LeaseError::Malformed);
        }
        let tag = HEXLOWER
            .decode(tag.as_bytes())
            .map_err(|_| LeaseError::Malformed)?;
        let (room_bytes, ms_bytes) = (room.to_le_bytes(), lease.ms.to_le_bytes());
        if !auth.verify(&lease.parts(&room_bytes, &ms_bytes), &tag) {
            return Err(LeaseError::Signature);
        }
        if lease.ms.saturating_add(stale_after) < now || lease.ms > now.saturating_add(stale_after)
        {
            return Err(LeaseError::Stale);
        }
        Ok(lease)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::signed(b"a cluster secret of 32 bytes....").unwrap()
    }

    fn lease() -> Lease {
        Lease {
            node: "node-a".into(),
            addr: "10.0.0.1:7777".into(),
            websocket: String::new(),
            ms: 1_000_000,
        }
    }

    #[test]
    fn round_trips_and_refuses_forged_moved_and_stale_leases() {
        let value = lease().encode(5, &auth());
        assert!(value.starts_with("node-a 10.0.0.1:7777 - 1000000 "));
        assert_eq!(
            Lease::parse(&value, 5, &auth(), 1_000_500, 2000),
            Ok(lease())
        );
        assert_eq!(
            Lease::parse(&value, 6, &auth(), 1_000_500, 2000),
            Err(LeaseError::Signature)
        );
        let other = Auth::signed(b"another secret, 32 bytes long..").unwrap();
        assert_eq!(
            Lease::parse(&value, 5, &other, 1_000_500, 2000),
            Err(LeaseError::Signature)
        );
        let moved = value.replace("10.0.0.1", "10.6.6.6");
        assert_eq!(
            Lease::parse(&moved, 5, &auth(), 1_000_500, 2000),
            Err(LeaseError::Signature)
        );
        assert_eq!(
            Lease::parse(&value, 5, &auth(), 1_003_000, 2000),
            Err(LeaseError::Stale)
        );
        assert_eq!(
            Lease::parse("a b c", 5, &auth(), 0, 2000),
            Err(LeaseError::Malformed)
        );
        assert_eq!(lease_key(5), "gameserver:arena:5");
        let open = lease().encode(5, &Auth::Insecure);
        assert_eq!(
            Lease::parse(&open, 5, &Auth::Insecure, 1_000_000, 1),
            Ok(lease())
        );
    }
}
