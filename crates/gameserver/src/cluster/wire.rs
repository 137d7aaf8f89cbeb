//! What one instance publishes to Redis for a chat: an [`Envelope`] around the CHAT body,
//! and the names of the Redis channels and keys the cluster uses.
//!
//! ```text
//!  offset 0        1           2              2+n        6            14             22      end-32
//!         +--------+-----------+--------------+----------+------------+--------------+------+-------+
//!         | ver: 2 | n: u8     | origin (n B) | epoch u32| seq u64    | sent_at u64  | body | tag   |
//!         +--------+-----------+--------------+----------+------------+--------------+------+-------+
//! ```
//!
//! All integers little-endian. `origin` is the publishing node's id; `(origin, room, epoch)`
//! names one stream of chats, numbered `seq` = 0, 1, 2, ... with no hole: a receiver that sees
//! a hole knows chats were lost (and how many), one that sees a number again knows it is a
//! duplicate. A node starts a new epoch whenever a room gets its first local member, so a
//! stream never restarts at 0 under the same name. `sent_at` is the origin's wall clock in
//! microseconds since the Unix epoch when the chat was queued, for the publish→deliver latency
//! (meaningful across machines only as far as their clocks agree) and to refuse a replayed old
//! chat that would start a stream. `tag` is the HMAC-SHA256 ([`Auth`]) of the room and every
//! byte before it: a receiver with the cluster's secret believes nothing else.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cluster::auth::{Auth, TAG_LEN};

/// Format version written in the first byte.
const VERSION: u8 = 2;
/// Bytes before the origin id, and after it before the body.
const FIXED_BEFORE: usize = 2;
const FIXED_AFTER: usize = 4 + 8 + 8;
/// Longest node id (it is length-prefixed with one byte).
pub const MAX_NODE_ID: usize = 64;
/// What a tag covers first: a chat, not a presence entry.
const DOMAIN: &[u8] = b"gameserver chat";

/// True for a valid node id: 1 to [`MAX_NODE_ID`] of `[A-Za-z0-9_.-]`.
pub fn is_node_id(text: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    !text.is_empty() && text.len() <= MAX_NODE_ID && text.chars().all(ok)
}

/// One published chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The publishing node's id.
    pub origin: &'a str,
    /// The origin's stream for this room (new each time the room gets its first local member).
    pub epoch: u32,
    /// Position in the stream: 0, 1, 2, ...
    pub seq: u64,
    /// Wall clock at the origin when queued, µs since the Unix epoch.
    pub sent_at_us: u64,
    /// The CHAT body, unchanged.
    pub body: &'a [u8],
}

/// A payload that is not an [`Envelope`] of this version, or not one this node may believe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than its own header and tag say.
    Truncated { len: usize },
    /// Written by another format version.
    Version(u8),
    /// The origin is not a valid node id (1 to 64 of `[A-Za-z0-9_.-]`).
    Origin,
    /// The tag does not verify: not signed with this cluster's secret (or altered).
    Signature,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated { len } => write!(f, "truncated envelope ({len} bytes)"),
            WireError::Version(v) => write!(f, "envelope version {v}, expected {VERSION}"),
            WireError::Origin => f.write_str("envelope origin is not a valid node id"),
            WireError::Signature => {
                f.write_str("envelope signature does not verify (another secret, or forged)")
            }
        }
    }
}

impl std::error::Error for WireError {}

impl<'a> Envelope<'a> {
    /// The bytes to publish on `room`'s channel, tagged with `auth`. `origin` must be at most
    /// [`MAX_NODE_ID`] bytes (node ids are checked when parsed: see `NodeId`).
    pub fn encode(&self, room: u32, auth: &Auth) -> Vec<u8> {
        let origin = &self.origin.as_bytes()[..self.origin.len().min(MAX_NODE_ID)];
        let mut out = Vec::with_capacity(
            FIXED_BEFORE + origin.len() + FIXED_AFTER + self.body.len() + TAG_LEN,
        );
        out.push(VERSION);
        out.push(origin.len() as u8); // at most MAX_NODE_ID (64)
        out.extend_from_slice(origin);
        out.extend_from_slice(&self.epoch.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.sent_at_us.to_le_bytes());
        out.extend_from_slice(self.body);
        let tag = auth.tag(&[DOMAIN, &room.to_le_bytes(), &out]);
        out.extend_from_slice(&tag);
        out
    }

    /// Reads an envelope received on `room`'s channel and checks its tag; `body` and `origin`
    /// borrow `bytes`.
    ///
    /// # Errors
    /// [`WireError`] if `bytes` is not a whole envelope of this version with a valid origin,
    /// or its tag does not verify with `auth`.
    pub fn decode(bytes: &'a [u8], room: u32, auth: &Auth) -> Result<Envelope<'a>, WireError> {
        let truncated = WireError::Truncated { len: bytes.len() };
        let [version, origin_len, ..] = bytes else {
            return Err(truncated);
        };
        if *version != VERSION {
            return Err(WireError::Version(*version));
        }
        let origin_len = usize::from(*origin_len);
        let Some(signed_len) = bytes.len().checked_sub(TAG_LEN) else {
            return Err(truncated);
        };
        if signed_len < FIXED_BEFORE + origin_len + FIXED_AFTER {
            return Err(truncated);
        }
        let (signed, tag) = bytes.split_at(signed_len);
        let rest = &signed[FIXED_BEFORE..];
        let (origin, rest) = rest.split_at(origin_len);
        let origin = std::str::from_utf8(origin)
            .ok()
            .filter(|o| is_node_id(o))
            .ok_or(WireError::Origin)?;
        if !auth.verify(&[DOMAIN, &room.to_le_bytes(), signed], tag) {
            return Err(WireError::Signature);
        }
        let (epoch, rest) = rest.split_at(4);
        let (seq, rest) = rest.split_at(8);
        let (sent_at, body) = rest.split_at(8);
        Ok(Envelope {
            origin,
            epoch: u32::from_le_bytes(epoch.try_into().map_err(|_| truncated)?),
            seq: u64::from_le_bytes(seq.try_into().map_err(|_| truncated)?),
            sent_at_us: u64::from_le_bytes(sent_at.try_into().map_err(|_| truncated)?),
            body,
        })
    }
}

/// Now, in µs since the Unix epoch (0 if the clock is before 1970).
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Prefix of every channel and key, so a Redis shared with other programs is not confused.
const PREFIX: &str = "gameserver";

/// The pub/sub channel of `room`.
pub fn room_channel(room: u32) -> String {
    format!("{PREFIX}:room:{room}")
}

/// The room of a channel named by [`room_channel`].
pub fn channel_room(channel: &str) -> Option<u32> {
    channel
        .strip_prefix(PREFIX)?
        .strip_prefix(":room:")?
        .parse()
        .ok()
}

/// The hash of `room`'s members per node: field = node id, value = member count.
pub fn members_key(room: u32) -> String {
    format!("{PREFIX}:members:{room}")
}

/// The heartbeat key of `node`: exists (with a TTL) while the node is alive.
pub fn node_key(node: &str) -> String {
    format!("{PREFIX}:node:{node}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope<'static> {
        Envelope {
            origin: "node-a",
            epoch: 7,
            seq: 1 << 40,
            sent_at_us: 123_456_789,
            body: b"hello room",
        }
    }

    fn auth() -> Auth {
        Auth::signed(b"a cluster secret of 32 bytes....").unwrap()
    }

    #[test]
    fn round_trips() {
        let bytes = sample().encode(3, &auth());
        assert_eq!(bytes.len(), 2 + 6 + 20 + 10 + TAG_LEN);
        assert_eq!(Envelope::decode(&bytes, 3, &auth()), Ok(sample()));
        let empty = Envelope {
            body: b"",
            ..sample()
        };
        assert_eq!(
            Envelope::decode(&empty.encode(3, &auth()), 3, &auth()),
            Ok(empty)
        );
        let open = sample().encode(3, &Auth::Insecure);
        assert_eq!(Envelope::decode(&open, 3, &Auth::Insecure), Ok(sample()));
    }

    #[test]
    fn refuses_every_truncation_other_versions_and_bad_origins() {
        let bytes = sample().encode(3, &auth());
        let whole = 2 + 6 + 20 + TAG_LEN;
        for len in 0..whole {
            assert!(
                Envelope::decode(&bytes[..len], 3, &auth()).is_err(),
                "cut at {len}"
            );
        }
        let mut other = bytes.clone();
        other[0] = 1;
        assert_eq!(
            Envelope::decode(&other, 3, &auth()),
            Err(WireError::Version(1))
        );
        for origin in ["", "a b", "é", &"x".repeat(65)] {
            let bad = Envelope { origin, ..sample() };
            let mut raw = bad.encode(3, &auth());
            if origin.len() > MAX_NODE_ID {
                // encode cuts it; write the long one by hand
                raw = [&[VERSION, 65u8][..], origin.as_bytes(), &raw[2 + 64..]].concat();
            }
            assert_eq!(
                Envelope::decode(&raw, 3, &auth()),
                Err(WireError::Origin),
                "{origin:?}"
            );
        }
    }

    #[test]
    fn a_forged_or_moved_envelope_does_not_verify() {
        let bytes = sample().encode(3, &auth());
        let forged = sample().encode(3, &Auth::signed(b"not the cluster's secret").unwrap());
        assert_eq!(
            Envelope::decode(&forged, 3, &auth()),
            Err(WireError::Signature)
        );
        let unsigned = sample().encode(3, &Auth::Insecure);
        assert_eq!(
            Envelope::decode(&unsigned, 3, &auth()),
            Err(WireError::Signature)
        );
        assert_eq!(
            Envelope::decode(&bytes, 4, &auth()),
            Err(WireError::Signature),
            "replayed on another room's channel"
        );
        let mut altered = bytes;
        let at = 2 + 6 + 4; // the sequence number
        altered[at] ^= 1;
        assert_eq!(
            Envelope::decode(&altered, 3, &auth()),
            Err(WireError::Signature)
        );
    }

    #[test]
    fn channels_name_their_room() {
        assert_eq!(channel_room(&room_channel(42)), Some(42));
        assert_eq!(channel_room("gameserver:room:x"), None);
        assert_eq!(channel_room("other:room:1"), None);
        assert_ne!(members_key(1), room_channel(1));
        assert!(node_key("a").ends_with(":node:a"));
    }

    #[test]
    fn node_ids() {
        assert!(is_node_id("node-1.a_b"));
        assert!(is_node_id(&"x".repeat(64)));
        for bad in ["", "a b", "é", &"x".repeat(65)] {
            assert!(!is_node_id(bad), "{bad:?}");
        }
    }
}
