//! `--auth-secret`: connect tokens for a server that wants them (`gameserver --auth-secret`).
//! Each client signs in as a player of its own, `dummy-N` (its client index), with a token
//! minted here from the server's secret; its HELLO goes out first, in the same write as what
//! follows (the server reads them in order), and HELLO_OK is taken as an answer, not a
//! message.

use std::fmt;

use bytes::Bytes;
use game_protocol::token::{check_secret, mint, Claims, ShortSecret};
use servercore::packet::encode;

use crate::wire::HELLO;

/// Seconds a minted token is valid for: longer than any run.
const TTL_SECS: u64 = 24 * 3600;

/// Mints the clients' tokens with the servers' secret.
#[derive(Clone)]
pub struct Tokens {
    secret: Vec<u8>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tokens(..)")
    }
}

impl Tokens {
    /// Tokens signed with `secret`.
    ///
    /// # Errors
    /// A secret too short for HS256.
    pub fn new(secret: Vec<u8>) -> Result<Tokens, ShortSecret> {
        check_secret(&secret)?;
        Ok(Tokens { secret })
    }

    /// The HELLO packet of `player`.
    pub fn hello(&self, player: &str) -> Bytes {
        let token = mint(&self.secret, &Claims::valid_for(player, TTL_SECS))
            .expect("the secret was checked");
        encode(HELLO, token.as_bytes()).expect("a token fits a packet")
    }

    /// The HELLO packet of load client `index`: player `dummy-{index}`.
    pub fn hello_of_client(&self, index: u64) -> Bytes {
        self.hello(&format!("dummy-{index}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use game_protocol::token::Verifier;
    use servercore::packet::PacketHeader;

    #[test]
    fn each_client_signs_in_as_its_own_player() {
        let secret = b"0123456789abcdef0123456789abcdef".to_vec();
        assert!(Tokens::new(b"short".to_vec()).is_err());
        let tokens = Tokens::new(secret.clone()).unwrap();
        let hello = tokens.hello_of_client(7);
        let header = PacketHeader::decode(&hello).unwrap();
        assert_eq!((header.id, usize::from(header.size)), (HELLO, hello.len()));
        let token = std::str::from_utf8(&hello[4..]).unwrap();
        let claims = Verifier::new(&secret).unwrap().verify(token).unwrap();
        assert_eq!(claims.sub, "dummy-7");
    }
}
