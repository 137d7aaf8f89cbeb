//! [`WsError`]: why a WebSocket peer was refused, and what it is told.
//!
//! Two families, one per phase of a connection:
//!
//! | phase     | variants                                             | the peer gets          |
//! |-----------|------------------------------------------------------|------------------------|
//! | handshake | `RequestTooLarge` .. `BadKey`, `BadResponse`         | an HTTP error response ([`WsError::http_status`]) |
//! | frames    | `Unmasked` .. `InvalidCloseReason`                   | a close frame ([`WsError::close_code`]) |
//!
//! Every variant means the peer broke RFC 6455 (or asked for something this server does not
//! serve): the connection is answered once and closed. The message names what arrived and
//! the limit or rule it broke, so a log line built from it is enough to see what happened.

use std::fmt;

/// Close code 1002: the peer broke the protocol.
pub const CLOSE_PROTOCOL: u16 = 1002;
/// Close code 1003: the peer sent a data type this endpoint does not accept (text).
pub const CLOSE_UNSUPPORTED: u16 = 1003;
/// Close code 1007: a payload was not valid for its type (a close reason that is not UTF-8).
pub const CLOSE_INVALID: u16 = 1007;
/// Close code 1009: a frame or message is over the size limit.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code 1000: a normal closure.
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code 1001: going away (the server shuts down, or the session was idle too long).
pub const CLOSE_AWAY: u16 = 1001;
/// Close code 1008: the peer broke a policy of this server (a message not finished in time,
/// a packet rate over its limit).
pub const CLOSE_POLICY: u16 = 1008;

/// A WebSocket peer that cannot be served any further.
///
/// # Examples
///
/// ```
/// use rfc6455::WsError;
///
/// let err = WsError::FrameTooLarge { len: 70_000, max: 4096 };
/// assert_eq!(err.close_code(), Some(1009));
/// assert_eq!(err.http_status(), None);
/// assert_eq!(err.to_string(), "frame payload of 70000 bytes exceeds the 4096-byte message limit");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsError {
    /// The HTTP request is not complete within `limit` bytes.
    RequestTooLarge {
        /// The configured bound on the request, headers included.
        limit: usize,
    },
    /// The HTTP request cannot be parsed (httparse's reason).
    MalformedRequest(httparse::Error),
    /// A method other than GET.
    MethodNotAllowed {
        /// The method as received (lossy UTF-8, at most 16 characters).
        method: String,
    },
    /// A plain GET (no Upgrade) of a path that serves nothing.
    NotFound {
        /// The path as received (at most 64 characters).
        path: String,
    },
    /// An upgrade request that lacks what RFC 6455 requires (`what` names it).
    BadUpgrade {
        /// The missing or wrong part: `HTTP/1.1`, `Upgrade: websocket`, `Connection: upgrade`.
        what: &'static str,
    },
    /// `Sec-WebSocket-Version` is missing or not 13.
    BadVersion,
    /// `Sec-WebSocket-Key` is missing or not 16 bytes in base64.
    BadKey,
    /// Client side: the server's answer to the upgrade request is not a valid 101.
    BadResponse {
        /// What is wrong with it.
        what: String,
    },
    /// A client frame without a mask (RFC 6455 5.1: a server must close).
    Unmasked,
    /// A server frame with a mask (RFC 6455 5.1: a client must close).
    Masked,
    /// RSV1-3 set without a negotiated extension.
    ReservedBits {
        /// The first byte of the frame.
        first: u8,
    },
    /// An opcode RFC 6455 reserves (3-7, 0xB-0xF).
    ReservedOpcode {
        /// The opcode.
        opcode: u8,
    },
    /// A text frame: this server speaks binary packets only.
    TextRefused,
    /// A control frame with more than 125 bytes of payload.
    ControlTooLong {
        /// The announced payload length.
        len: u64,
    },
    /// A control frame without FIN (control frames cannot be fragmented).
    ControlFragmented,
    /// A continuation frame with no fragmented message in progress.
    UnexpectedContinuation,
    /// A new data frame while a fragmented message is still in progress.
    ExpectedContinuation,
    /// One frame's payload is over the message limit.
    FrameTooLarge {
        /// The announced payload length.
        len: u64,
        /// The message limit.
        max: usize,
    },
    /// The fragments of one message add up to more than the message limit.
    MessageTooLarge {
        /// The message length with the announced frame.
        len: u64,
        /// The message limit.
        max: usize,
    },
    /// A close frame with a 1-byte payload (a code is two bytes).
    ClosePayload,
    /// A close frame with a status code that may not be sent (RFC 6455 7.4).
    InvalidCloseCode {
        /// The code as received.
        code: u16,
    },
    /// A close frame whose reason is not UTF-8.
    InvalidCloseReason,
}

impl WsError {
    /// The close code to send for a frame-phase error; `None` for a handshake error.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            WsError::TextRefused => Some(CLOSE_UNSUPPORTED),
            WsError::FrameTooLarge { .. } | WsError::MessageTooLarge { .. } => Some(CLOSE_TOO_BIG),
            WsError::InvalidCloseReason => Some(CLOSE_INVALID),
            WsError::Unmasked
            | WsError::Masked
            | WsError::ReservedBits { .. }
            | WsError::ReservedOpcode { .. }
            | WsError::ControlTooLong { .. }
            | WsError::ControlFragmented
            | WsError::UnexpectedContinuation
            | WsError::ExpectedContinuation
            | WsError::ClosePayload
            | WsError::InvalidCloseCode { .. } => Some(CLOSE_PROTOCOL),
            _ => None,
        }
    }

    /// The HTTP status to answer a handshake-phase error with; `None` for a frame error.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            WsError::RequestTooLarge { .. }
            | WsError::MalformedRequest(httparse::Error::TooManyHeaders) => Some(431),
            WsError::MalformedRequest(_)
            | WsError::BadUpgrade { .. }
            | WsError::BadKey
            | WsError::BadResponse { .. } => Some(400),
            WsError::MethodNotAllowed { .. } => Some(405),
            WsError::NotFound { .. } => Some(404),
            WsError::BadVersion => Some(426),
            _ => None,
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::RequestTooLarge { limit } => {
                write!(f, "HTTP request not complete within {limit} bytes")
            }
            WsError::MalformedRequest(err) => write!(f, "malformed HTTP request: {err}"),
            WsError::MethodNotAllowed { method } => write!(f, "method {method:?} is not GET"),
            WsError::NotFound { path } => write!(f, "nothing is served at {path:?}"),
            WsError::BadUpgrade { what } => write!(f, "WebSocket upgrade without {what}"),
            WsError::BadVersion => write!(f, "Sec-WebSocket-Version is not 13"),
            WsError::BadKey => write!(f, "Sec-WebSocket-Key is not 16 bytes in base64"),
            WsError::BadResponse { what } => write!(f, "bad WebSocket handshake response: {what}"),
            WsError::Unmasked => write!(f, "client frame is not masked"),
            WsError::Masked => write!(f, "server frame is masked"),
            WsError::ReservedBits { first } => {
                write!(
                    f,
                    "reserved bits set without an extension (first byte {first:#04x})"
                )
            }
            WsError::ReservedOpcode { opcode } => write!(f, "reserved opcode {opcode:#x}"),
            WsError::TextRefused => write!(f, "text frames are not accepted, only binary"),
            WsError::ControlTooLong { len } => {
                write!(f, "control frame payload of {len} bytes exceeds 125")
            }
            WsError::ControlFragmented => write!(f, "fragmented control frame"),
            WsError::UnexpectedContinuation => {
                write!(f, "continuation frame without a message in progress")
            }
            WsError::ExpectedContinuation => {
                write!(f, "new data frame before the fragmented message ended")
            }
            WsError::FrameTooLarge { len, max } => {
                write!(
                    f,
                    "frame payload of {len} bytes exceeds the {max}-byte message limit"
                )
            }
            WsError::MessageTooLarge { len, max } => {
                write!(
                    f,
                    "fragmented message of {len} bytes exceeds the {max}-byte message limit"
                )
            }
            WsError::ClosePayload => write!(f, "close frame payload of 1 byte"),
            WsError::InvalidCloseCode { code } => write!(f, "close code {code} may not be sent"),
            WsError::InvalidCloseReason => write!(f, "close reason is not UTF-8"),
        }
    }
}

impl std::error::Error for WsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_exactly_one_answer() {
        let errors = [
            WsError::RequestTooLarge { limit: 8192 },
            WsError::MalformedRequest(httparse::Error::Token),
            WsError::MalformedRequest(httparse::Error::TooManyHeaders),
            WsError::MethodNotAllowed {
                method: "POST".into(),
            },
            WsError::NotFound { path: "/x".into() },
            WsError::BadUpgrade {
                what: "Upgrade: websocket",
            },
            WsError::BadVersion,
            WsError::BadKey,
            WsError::BadResponse {
                what: "status 200".into(),
            },
            WsError::Unmasked,
            WsError::Masked,
            WsError::ReservedBits { first: 0xc2 },
            WsError::ReservedOpcode { opcode: 3 },
            WsError::TextRefused,
            WsError::ControlTooLong { len: 126 },
            WsError::ControlFragmented,
            WsError::UnexpectedContinuation,
            WsError::ExpectedContinuation,
            WsError::FrameTooLarge {
                len: 5000,
                max: 4096,
            },
            WsError::MessageTooLarge {
                len: 5000,
                max: 4096,
            },
            WsError::ClosePayload,
            WsError::InvalidCloseCode { code: 1005 },
            WsError::InvalidCloseReason,
        ];
        for err in &errors {
            assert!(
                err.close_code().is_some() != err.http_status().is_some(),
                "{err:?}: close code {:?}, status {:?}",
                err.close_code(),
                err.http_status()
            );
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn codes_follow_the_rfc() {
        assert_eq!(WsError::TextRefused.close_code(), Some(1003));
        assert_eq!(WsError::Unmasked.close_code(), Some(1002));
        assert_eq!(WsError::InvalidCloseReason.close_code(), Some(1007));
        assert_eq!(
            WsError::MessageTooLarge { len: 1, max: 0 }.close_code(),
            Some(1009)
        );
        assert_eq!(WsError::BadVersion.http_status(), Some(426));
        assert_eq!(
            WsError::RequestTooLarge { limit: 1 }.http_status(),
            Some(431)
        );
    }
}
