//! The client's half of the opening handshake, for load generators and tests.
//!
//! A client sends [`ClientHandshake::request`], then reads until
//! [`ClientHandshake::check_response`] finds the whole `101` response; what follows it are
//! server frames, read with a [`MessageReader`](super::MessageReader) in
//! [`Role::Client`](super::Role::Client). Everything the client sends after that is masked
//! ([`masked_frame`](super::masked_frame)).

use super::error::WsError;
use super::handshake::SUBPROTOCOL;

/// Bound on the server's 101 response.
const MAX_RESPONSE: usize = 8 * 1024;

/// One client's opening handshake: its random key and the accept value it expects back.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    key: String,
    accept: String,
}

impl Default for ClientHandshake {
    fn default() -> Self {
        ClientHandshake::new()
    }
}

impl ClientHandshake {
    /// A handshake with a fresh random `Sec-WebSocket-Key`.
    pub fn new() -> ClientHandshake {
        ClientHandshake::with_key(tungstenite::handshake::client::generate_key())
    }

    /// A handshake with the given key (16 bytes in base64), for reproducible tests.
    pub fn with_key(key: String) -> ClientHandshake {
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        ClientHandshake { key, accept }
    }

    /// The upgrade request for `path` on `host` (`host:port`), offering [`SUBPROTOCOL`].
    pub fn request(&self, host: &str, path: &str) -> String {
        format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n",
            self.key
        )
    }

    /// Checks the response at the front of `data`: `Ok(None)` while incomplete, else its
    /// length (server frames may follow it in `data`).
    ///
    /// # Errors
    /// [`WsError::BadResponse`]: not a 101, a wrong `Sec-WebSocket-Accept`, another
    /// subprotocol, malformed, or not complete within 8 KiB.
    pub fn check_response(&self, data: &[u8]) -> Result<Option<usize>, WsError> {
        let bad = |what: String| WsError::BadResponse { what };
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let len = match response.parse(&data[..data.len().min(MAX_RESPONSE)]) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if data.len() >= MAX_RESPONSE => {
                return Err(bad(format!("not complete within {MAX_RESPONSE} bytes")))
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(err) => return Err(bad(err.to_string())),
        };
        if response.code != Some(101) {
            let code = response.code.unwrap_or_default();
            return Err(bad(format!("status {code}, not 101")));
        }
        let value = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
        };
        if value("sec-websocket-accept").as_deref() != Some(self.accept.as_str()) {
            return Err(bad("wrong Sec-WebSocket-Accept".into()));
        }
        match value("sec-websocket-protocol") {
            Some(p) if p != SUBPROTOCOL => Err(bad(format!("unexpected subprotocol {p:?}"))),
            _ => Ok(Some(len)),
        }
    }

    /// Performs the handshake on a connected blocking `stream`: sends the request for
    /// `host` and `path`, reads until the whole `101` response, and returns the bytes that
    /// came after it (the first server frames, if any).
    ///
    /// # Errors
    /// The socket's error, `UnexpectedEof` if the server closes first, or `InvalidData` with
    /// the [`WsError`] of a response that is not a valid `101`.
    pub fn perform(
        &self,
        stream: &mut (impl std::io::Read + std::io::Write),
        host: &str,
        path: &str,
    ) -> std::io::Result<Vec<u8>> {
        stream.write_all(self.request(host, path).as_bytes())?;
        let mut received = Vec::new();
        let mut chunk = [0; 4096];
        loop {
            let checked = self.check_response(&received);
            match checked.map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))? {
                Some(len) => return Ok(received.split_off(len)),
                None => match stream.read(&mut chunk) {
                    Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => received.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{answer_request, Answer};

    #[test]
    fn client_request_is_accepted_and_its_response_checks_out() {
        let client = ClientHandshake::new();
        let request = client.request("127.0.0.1:7778", "/");
        let (len, answer) = answer_request(request.as_bytes(), 8192, None)
            .unwrap()
            .unwrap();
        assert_eq!(len, request.len());
        let Answer::Upgrade {
            response,
            subprotocol,
        } = answer
        else {
            panic!("not an upgrade: {answer:?}");
        };
        assert!(subprotocol);
        let mut data = response.to_vec();
        data.extend_from_slice(&[0x82, 0]); // a frame right behind the response
        assert_eq!(client.check_response(&data), Ok(Some(response.len())));
        for cut in 0..response.len() {
            assert_eq!(
                client.check_response(&response[..cut]),
                Ok(None),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn rfc_example_accept_value() {
        // RFC 6455 section 1.3.
        let client = ClientHandshake::with_key("dGhlIHNhbXBsZSBub25jZQ==".into());
        assert_eq!(client.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn wrong_responses_are_refused() {
        let client = ClientHandshake::new();
        let other = ClientHandshake::new();
        let (_, answer) = answer_request(other.request("h", "/").as_bytes(), 8192, None)
            .unwrap()
            .unwrap();
        let Answer::Upgrade { response, .. } = answer else {
            panic!("not an upgrade");
        };
        let err = client.check_response(&response).unwrap_err();
        assert!(err.to_string().contains("Sec-WebSocket-Accept"), "{err}");
        let not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let err = client.check_response(not_found).unwrap_err();
        assert!(err.to_string().contains("status 404"), "{err}");
        assert!(client.check_response(&[b'x'; MAX_RESPONSE + 1]).is_err());
    }
}
