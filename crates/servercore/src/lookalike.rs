//! [`Lookalike`]: what the first bytes of a stream look like when they are not the protocol
//! expected, so the line that reports it can say what probably happened (a browser on the
//! game port, a raw byte client on a packet port, TLS on a plain port) instead of only
//! "packet size 17735".
//!
//! ```text
//!   b"GET / HTTP/1.1\r\n..."          HttpRequest     (size field 0x4547 = 17735)
//!   b"HTTP/1.1 400 ..."               HttpResponse
//!   b"PROXY TCP4 ..." / v2 signature  ProxyHeader
//!   [0x16, 0x03, ..]                  TlsHandshake
//!   b"Hello World\0\0..."             Text            (size field 0x6548 = 25928)
//! ```
//!
//! A packet header can never look like text: its id's high byte is 0 for every id below 256.

use std::fmt;

use crate::proxy::V2_SIGNATURE;

/// Methods an HTTP request may start with.
const HTTP_METHODS: [&[u8]; 9] = [
    b"GET ",
    b"POST ",
    b"PUT ",
    b"HEAD ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];

/// Bytes of the start shown in a message.
const SHOWN: usize = 16;

/// A protocol the first bytes of a stream resemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookalike {
    /// An HTTP request line (`GET / HTTP/1.1`): a browser, `curl`, a WebSocket upgrade.
    HttpRequest,
    /// An HTTP status line (`HTTP/1.1 200 OK`).
    HttpResponse,
    /// A PROXY protocol v1 (`PROXY TCP4 …`) or v2 header: a load balancer's.
    ProxyHeader,
    /// A TLS record carrying a handshake (`0x16 0x03 …`): a TLS client.
    TlsHandshake,
    /// Printable text (the lecture's `Hello World`, a telnet session).
    Text,
}

impl Lookalike {
    /// What `start` (the first bytes of a stream, at least 4) resembles, if anything known.
    pub fn of(start: &[u8]) -> Option<Lookalike> {
        if start.len() < 4 {
            return None;
        }
        if HTTP_METHODS.iter().any(|m| start.starts_with(m)) {
            Some(Lookalike::HttpRequest)
        } else if start.starts_with(b"HTTP/") {
            Some(Lookalike::HttpResponse)
        } else if start.starts_with(b"PROXY ") || V2_SIGNATURE.starts_with(&start[..4]) {
            Some(Lookalike::ProxyHeader)
        } else if start[0] == 0x16 && start[1] == 0x03 {
            Some(Lookalike::TlsHandshake)
        } else if start[..4]
            .iter()
            .all(|&b| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        {
            Some(Lookalike::Text)
        } else {
            None
        }
    }
}

impl fmt::Display for Lookalike {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lookalike::HttpRequest => "an HTTP request",
            Lookalike::HttpResponse => "an HTTP response",
            Lookalike::ProxyHeader => "a PROXY protocol header",
            Lookalike::TlsHandshake => "a TLS handshake",
            Lookalike::Text => "text",
        })
    }
}

/// The first bytes of `data` for a message, escaped: `"GET / HTTP/1.1\r\n"`.
pub fn first_bytes(data: &[u8]) -> String {
    format!("\"{}\"", data[..data.len().min(SHOWN)].escape_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_starts_are_recognised() {
        let cases: [(&[u8], Option<Lookalike>); 9] = [
            (b"GET / HTTP/1.1\r\n", Some(Lookalike::HttpRequest)),
            (b"OPTIONS * HTTP/1.1", Some(Lookalike::HttpRequest)),
            (b"HTTP/1.1 101 Switching", Some(Lookalike::HttpResponse)),
            (b"PROXY TCP4 1.2.3.4", Some(Lookalike::ProxyHeader)),
            (&V2_SIGNATURE, Some(Lookalike::ProxyHeader)),
            (
                &[0x16, 0x03, 0x01, 0x02, 0x00],
                Some(Lookalike::TlsHandshake),
            ),
            (b"Hello World\0\0\0", Some(Lookalike::Text)),
            (b"GET", None),
            (&[9, 0, 1, 0, b'h', b'i'], None),
        ];
        for (bytes, expected) in cases {
            assert_eq!(Lookalike::of(bytes), expected, "{}", first_bytes(bytes));
        }
    }

    #[test]
    fn a_packet_header_never_looks_like_text() {
        for size in 4..=u16::MAX {
            for id in [1u16, 9, 255] {
                let mut header = size.to_le_bytes().to_vec();
                header.extend_from_slice(&id.to_le_bytes());
                assert_ne!(Lookalike::of(&header), Some(Lookalike::Text), "{size} {id}");
            }
        }
    }

    #[test]
    fn shown_escapes_and_cuts() {
        assert_eq!(
            first_bytes(b"GET / HTTP/1.1\r\nHost: x"),
            "\"GET / HTTP/1.1\\r\\n\""
        );
        assert_eq!(first_bytes(b"\0ab"), "\"\\x00ab\"");
    }
}
