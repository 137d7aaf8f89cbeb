//! Connect tokens: who a player is, said by the studio's own backend and checked by every
//! instance with the secret they share (`gameserver --auth-secret`).
//!
//! A token is a JWT (RFC 7519) signed with HMAC-SHA256 (`alg: HS256`), so any backend mints
//! one with the JWT library of its language. Its claims:
//!
//! | claim   | type             | meaning |
//! |---------|------------------|---------|
//! | `sub`   | string, 1..=64 B | the player id (printable, no control characters) |
//! | `aud`   | string           | [`AUDIENCE`], exactly: the token is for this game's servers |
//! | `exp`   | integer          | expiry, seconds since the Unix epoch (required) |
//! | `iat`   | integer          | issued at (optional, not checked) |
//! | `rooms` | array of u32     | optional: the only chat rooms and arenas the player may enter |
//!
//! Only HS256 is accepted (a token naming `none`, RS256 or anything else is refused, whatever
//! its signature), `exp` is checked with [`LEEWAY_SECS`] of leeway for clocks that differ,
//! `aud` must be [`AUDIENCE`] (a JWT the same key signed for something else, a web session,
//! is not a connect token), and the secret has at least [`MIN_SECRET`] bytes (RFC 7518 §3.2:
//! a key as long as the hash). The key is the secret's bytes as given (a base64 text is used
//! as text, not decoded).
//!
//! ```
//! use game_protocol::token::{mint, Claims, Verifier};
//!
//! let secret = b"0123456789abcdef0123456789abcdef";
//! let claims = Claims::new("alice", 4_000_000_000).with_rooms(vec![1, 2]);
//! let token = mint(secret, &claims).unwrap();
//! let verifier = Verifier::new(secret).unwrap();
//! assert_eq!(verifier.verify(&token).unwrap(), claims);
//! ```

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::secret::check_len;
pub use crate::secret::ShortSecret;

/// The environment variable that may hold the secret (`gameserver`, `mint-token` and
/// `dummyclient` read it when no `--auth-secret FILE` is given).
pub const SECRET_ENV: &str = "GAMESERVER_AUTH_SECRET";
/// The audience every connect token names (`aud`).
pub const AUDIENCE: &str = "servercore-game";
/// The shortest secret accepted, in bytes (256 bits, HS256's hash length).
pub const MIN_SECRET: usize = 32;
/// Longest player id, in bytes (HELLO_OK's `player` field).
pub const MAX_PLAYER: usize = 64;
/// Seconds a token is still taken after its `exp` (clocks of backend and server differ).
pub const LEEWAY_SECS: u64 = 5;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The player id.
    pub sub: String,
    /// The audience: [`AUDIENCE`].
    pub aud: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issued at, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// The only rooms the player may enter; `None`: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rooms: Option<Vec<u32>>,
}

impl Claims {
    /// Player `sub` until `exp` (Unix seconds), any room.
    pub fn new(sub: impl Into<String>, exp: u64) -> Claims {
        Claims {
            sub: sub.into(),
            aud: AUDIENCE.to_owned(),
            exp,
            iat: None,
            rooms: None,
        }
    }

    /// Player `sub` for `ttl_secs` from now, issued now.
    pub fn valid_for(sub: impl Into<String>, ttl_secs: u64) -> Claims {
        let now = unix_now();
        Claims {
            iat: Some(now),
            ..Claims::new(sub, now.saturating_add(ttl_secs))
        }
    }

    /// The same, allowed into `rooms` only.
    pub fn with_rooms(self, rooms: Vec<u32>) -> Claims {
        Claims {
            rooms: Some(rooms),
            ..self
        }
    }

    /// True if the token lets the player into `room`.
    pub fn allows(&self, room: u32) -> bool {
        self.rooms
            .as_ref()
            .is_none_or(|rooms| rooms.contains(&room))
    }
}

/// True for a player id: 1 to [`MAX_PLAYER`] bytes, no control characters.
pub fn is_player_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_PLAYER && !id.chars().any(char::is_control)
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a token is refused. The text goes to the client in UNAUTHENTICATED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT, not HS256, or claims missing or of the wrong type.
    Malformed(String),
    /// The signature is not the secret's.
    BadSignature,
    /// Past `exp` (and the leeway).
    Expired,
    /// `sub` is empty, too long or not printable.
    BadPlayer,
    /// `aud` is not [`AUDIENCE`]: a token for something else.
    WrongAudience,
}

impl TokenError {
    /// A short name for counters and logs.
    pub fn name(&self) -> &'static str {
        match self {
            TokenError::Malformed(_) => "malformed",
            TokenError::BadSignature => "bad_signature",
            TokenError::Expired => "expired",
            TokenError::BadPlayer => "bad_player",
            TokenError::WrongAudience => "wrong_audience",
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Malformed(why) => write!(f, "malformed token: {why}"),
            TokenError::BadSignature => f.write_str("token signature does not verify"),
            TokenError::Expired => f.write_str("token expired"),
            TokenError::BadPlayer => write!(
                f,
                "token's sub is not a player id (1..={MAX_PLAYER} printable bytes)"
            ),
            TokenError::WrongAudience => {
                write!(f, "token's aud is not {AUDIENCE:?}: not a connect token")
            }
        }
    }
}

impl std::error::Error for TokenError {}

/// `Ok` if `secret` is long enough to sign and check tokens with.
///
/// # Errors
/// [`ShortSecret`].
pub fn check_secret(secret: &[u8]) -> Result<(), ShortSecret> {
    check_len("the auth secret (HS256)", secret, MIN_SECRET)
}

/// Signs `claims` with `secret`: the token a backend would give a player.
///
/// # Errors
/// [`ShortSecret`].
pub fn mint(secret: &[u8], claims: &Claims) -> Result<String, ShortSecret> {
    check_secret(secret)?;
    let key = EncodingKey::from_secret(secret);
    Ok(
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key)
            .expect("HS256 signs any serializable claims"),
    )
}

/// Checks tokens against one secret (the key is prepared once).
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Verifier(HS256, ..)")
    }
}

impl Verifier {
    /// A verifier for tokens signed with `secret`.
    ///
    /// # Errors
    /// [`ShortSecret`].
    pub fn new(secret: &[u8]) -> Result<Verifier, ShortSecret> {
        check_secret(secret)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        validation.set_audience(&[AUDIENCE]);
        Ok(Verifier {
            key: DecodingKey::from_secret(secret),
            validation,
        })
    }

    /// The claims of `token`, if it is a good one.
    ///
    /// # Errors
    /// Why not ([`TokenError`]).
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|err| {
                match err.kind() {
                    ErrorKind::ExpiredSignature => TokenError::Expired,
                    ErrorKind::InvalidSignature => TokenError::BadSignature,
                    ErrorKind::InvalidAudience => TokenError::WrongAudience,
                    _ => TokenError::Malformed(err.to_string()),
                }
            })?;
        if !is_player_id(&data.claims.sub) {
            return Err(TokenError::BadPlayer);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_minted_token_verifies_with_its_secret_only() {
        let claims = Claims::valid_for("bob", 60);
        let token = mint(SECRET, &claims).unwrap();
        assert_eq!(Verifier::new(SECRET).unwrap().verify(&token), Ok(claims));
        let other = Verifier::new(b"0123456789abcdef0123456789abcdeF").unwrap();
        assert_eq!(other.verify(&token), Err(TokenError::BadSignature));
    }

    #[test]
    fn expired_and_bad_players_are_refused() {
        let verifier = Verifier::new(SECRET).unwrap();
        let old = Claims::new("bob", unix_now() - LEEWAY_SECS - 10);
        assert_eq!(
            verifier.verify(&mint(SECRET, &old).unwrap()),
            Err(TokenError::Expired)
        );
        for sub in [String::new(), "x".repeat(MAX_PLAYER + 1), "a\nb".into()] {
            let token = mint(SECRET, &Claims::valid_for(sub, 60)).unwrap();
            assert_eq!(verifier.verify(&token), Err(TokenError::BadPlayer));
        }
    }

    #[test]
    fn other_algorithms_and_garbage_are_malformed() {
        let verifier = Verifier::new(SECRET).unwrap();
        // alg "none": header {"alg":"none","typ":"JWT"}, claims {"sub":"bob","exp":4000000000}.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJib2IiLCJleHAiOjQwMDAwMDAwMDB9.";
        for token in [none, "", "a.b.c", "not a token"] {
            match verifier.verify(token) {
                Err(TokenError::Malformed(_)) => {}
                other => panic!("{token:?}: {other:?}"),
            }
        }
        // Tokens missing exp or aud, whatever else they hold.
        let key = EncodingKey::from_secret(SECRET);
        let sign = |claims: &Partial| {
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
        };
        let far = Some(4_000_000_000);
        for claims in [partial(None, Some(AUDIENCE)), partial(far, None)] {
            assert!(matches!(
                verifier.verify(&sign(&claims)),
                Err(TokenError::Malformed(_))
            ));
        }
        // A JWT the same key signed for something else (a web session) is not a connect token.
        let web = sign(&partial(far, Some("web-session")));
        assert_eq!(verifier.verify(&web), Err(TokenError::WrongAudience));
        assert!(verifier
            .verify(&sign(&partial(far, Some(AUDIENCE))))
            .is_ok());
    }

    /// Claims of player `bob` with or without `exp` and `aud`.
    #[derive(Serialize)]
    struct Partial {
        sub: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        exp: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        aud: Option<&'static str>,
    }

    fn partial(exp: Option<u64>, aud: Option<&'static str>) -> Partial {
        Partial {
            sub: "bob",
            exp,
            aud,
        }
    }

    #[test]
    fn rooms_limit_where_a_player_goes() {
        let any = Claims::valid_for("a", 60);
        assert!(any.allows(7));
        let some = any.with_rooms(vec![1, 2]);
        assert!(some.allows(2) && !some.allows(7));
        let token = mint(SECRET, &some).unwrap();
        assert_eq!(Verifier::new(SECRET).unwrap().verify(&token), Ok(some));
    }

    #[test]
    fn short_secrets_are_refused() {
        let err = Verifier::new(b"short").unwrap_err();
        assert_eq!((err.len, err.min), (5, MIN_SECRET));
        assert!(err.to_string().contains("has 5 bytes"), "{err}");
        assert!(mint(b"short", &Claims::valid_for("a", 1)).is_err());
    }
}
