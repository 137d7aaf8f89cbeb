//! [`Auth`]: why another instance's message can be believed. With the cluster's shared secret
//! (`--cluster-secret-file`, or `GAMESERVER_CLUSTER_SECRET`) every envelope and every presence
//! entry carries an HMAC-SHA256 tag over what it says; a message whose tag does not verify is
//! rejected and counted, whoever could write it to Redis. Without a secret
//! (`--cluster-insecure`, with a warning at start-up) everything on the Redis server is
//! believed, as before.
//!
//! The tag covers length-prefixed parts (a domain word, then the fields), so no two different
//! messages — a chat and a presence entry, or a chat of room 1 and one of room 12 — can share a
//! tag. Verification is constant-time (`hmac`'s `verify_slice`).

use std::fmt;

use game_protocol::secret::{check_len, ShortSecret};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of a tag.
pub const TAG_LEN: usize = 32;
/// The shortest secret accepted: 128 bits.
pub const MIN_SECRET: usize = 16;

/// How this instance signs and checks what crosses Redis.
#[derive(Clone)]
pub enum Auth {
    /// HMAC-SHA256 keyed with the shared secret (the keyed state is computed once).
    Signed(Hmac<Sha256>),
    /// No secret: tags are zeros and nothing is checked (the operator's explicit choice).
    Insecure,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Auth::Signed(_) => "Auth::Signed(..)",
            Auth::Insecure => "Auth::Insecure",
        })
    }
}

impl Auth {
    /// Signing with `secret`.
    ///
    /// # Errors
    /// [`ShortSecret`] below [`MIN_SECRET`] bytes.
    pub fn signed(secret: &[u8]) -> Result<Auth, ShortSecret> {
        check_len("the cluster secret", secret, MIN_SECRET)?;
        let mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
        Ok(Auth::Signed(mac))
    }

    /// True if messages are signed and checked.
    pub fn is_signed(&self) -> bool {
        matches!(self, Auth::Signed(_))
    }

    /// The tag of the message made of `parts` (zeros when insecure).
    pub fn tag(&self, parts: &[&[u8]]) -> [u8; TAG_LEN] {
        match self {
            Auth::Signed(mac) => keyed(mac, parts).finalize().into_bytes().into(),
            Auth::Insecure => [0; TAG_LEN],
        }
    }

    /// True if `tag` is the tag of `parts` (always, when insecure).
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        match self {
            Auth::Signed(mac) => keyed(mac, parts).verify_slice(tag).is_ok(),
            Auth::Insecure => true,
        }
    }
}

/// The keyed state fed with each part, length first.
fn keyed(mac: &Hmac<Sha256>, parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = mac.clone();
    for part in parts {
        mac.update(&(part.len() as u64).to_le_bytes());
        mac.update(part);
    }
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_verifies_only_with_the_same_secret_and_parts() {
        let auth = Auth::signed(b"0123456789abcdef").unwrap();
        let tag = auth.tag(&[b"chat", b"hello"]);
        assert!(auth.verify(&[b"chat", b"hello"], &tag));
        assert!(!auth.verify(&[b"chat", b"hellO"], &tag));
        assert!(!auth.verify(&[b"chat", b"hello"], &tag[..TAG_LEN - 1]));
        // Parts are length-prefixed: moving a byte across a boundary changes the tag.
        assert!(!auth.verify(&[b"chath", b"ello"], &tag));
        let other = Auth::signed(b"0123456789abcdeF").unwrap();
        assert!(!other.verify(&[b"chat", b"hello"], &tag));
    }

    #[test]
    fn short_secrets_are_refused_and_insecure_checks_nothing() {
        let err = Auth::signed(b"short").unwrap_err();
        assert_eq!((err.len, err.min), (5, MIN_SECRET));
        assert!(Auth::Insecure.verify(&[b"x"], b"anything"));
        assert_eq!(Auth::Insecure.tag(&[b"x"]), [0; TAG_LEN]);
    }
}
