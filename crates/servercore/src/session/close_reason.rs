//! [`CloseReason`]: why a session ended, as told to the handler and the log.

use std::fmt;
use std::io;

/// How a peer broke the framing of what it speaks over its session (packets, or any other
/// framing layer on top of the session): the rule, the value that broke it, and the limit.
/// The framing layer converts its own error into this (e.g. `From<PacketError>`), so the
/// session layer knows no framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    /// The rule that was broken, e.g. "packet size above the maximum".
    pub rule: &'static str,
    /// The offending value as received.
    pub value: u64,
    /// The limit it broke.
    pub limit: u64,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (limit {})", self.rule, self.value, self.limit)
    }
}

/// Why a session was closed. Every session ends with exactly one reason, reported once to
/// [`Handler::disconnected`](crate::Handler::disconnected) and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed its side (`recv` returned 0: the lecture's `FD_CLOSE`). Anything still
    /// queued for it was flushed first.
    PeerClosed,
    /// The peer reset the connection (`ECONNRESET`, `EPIPE`); queued data was dropped.
    Reset,
    /// Another socket error, by kind.
    Io(io::ErrorKind),
    /// The application closed the session ([`Context::close`](crate::Context::close)) after
    /// flushing what was queued.
    Local,
    /// The session's send queue would have exceeded the hard limit: the peer does not read
    /// fast enough. The queue was dropped.
    SlowConsumer {
        /// Bytes that would have been queued.
        queued: usize,
        /// The configured hard limit (`ServiceConfig::send_queue_limit`).
        limit: usize,
    },
    /// The handler left more unconsumed bytes than `ServiceConfig::recv_buffer_limit` allows.
    RecvBufferFull {
        /// The configured limit.
        limit: usize,
    },
    /// The peer broke the framing of its protocol (e.g. a packet size below the header or
    /// above the maximum).
    Protocol(Violation),
    /// The application refused what the peer sent (an unknown packet id, a malformed body).
    Invalid(&'static str),
    /// No bytes arrived for `ServiceConfig::idle_timeout`.
    IdleTimeout,
    /// A message was started (bytes held unconsumed) and not completed within
    /// `ServiceConfig::partial_timeout` (slowloris).
    PartialTimeout,
    /// The peer sent packets faster than its rate limit allows.
    RateLimited,
    /// The service is shutting down.
    Shutdown,
    /// The session's event loop failed (its kernel wait returned an error) and closed every
    /// session it had.
    LoopFailed,
    /// PROXY protocol: the connection came from an address not in `trusted_proxies`.
    UntrustedProxy,
    /// PROXY protocol: the connection's header was malformed, truncated or too large.
    ProxyHeader(Violation),
    /// PROXY protocol: the header did not arrive within `header_timeout`.
    ProxyHeaderTimeout,
    /// PROXY protocol: a load balancer's health check (a v2 `LOCAL` header) ended; it never
    /// reached the handler and counted against no limit.
    HealthCheck,
    /// The session caps refused the client a PROXY header named (after the farewell, if any).
    Refused,
    /// TLS: the handshake failed (the alert that says why was sent first), e.g. no cipher
    /// suite in common, plain text on a TLS port, or a client that refused the certificate.
    TlsHandshake(&'static str),
    /// TLS: the peer broke the protocol after the handshake (a record that does not
    /// decrypt, a fatal alert).
    Tls(&'static str),
    /// The application did not learn who the peer is: no valid credentials (a bad or expired
    /// token, none in time, another message first), or its login was refused.
    Unauthenticated(&'static str),
}

impl CloseReason {
    /// Maps a socket error to a reason.
    pub fn from_io(err: &io::Error) -> CloseReason {
        match err.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted => CloseReason::Reset,
            kind => CloseReason::Io(kind),
        }
    }

    /// True for reasons that point at a misbehaving or broken peer rather than a normal end;
    /// these are logged at `info`, normal ends at `debug`.
    pub fn is_abnormal(&self) -> bool {
        !matches!(
            self,
            CloseReason::PeerClosed
                | CloseReason::Local
                | CloseReason::Shutdown
                | CloseReason::HealthCheck
        )
    }

    /// Every reason's [`CloseReason::name`], in a fixed order (metrics index by it).
    pub const NAMES: [&'static str; 21] = [
        "peer_closed",
        "reset",
        "io_error",
        "local",
        "slow_consumer",
        "recv_buffer_full",
        "protocol",
        "invalid",
        "idle_timeout",
        "partial_timeout",
        "rate_limited",
        "shutdown",
        "loop_failed",
        "untrusted_proxy",
        "proxy_header",
        "proxy_header_timeout",
        "health_check",
        "refused",
        "tls_handshake",
        "tls",
        "unauthenticated",
    ];

    /// Position of this reason's name in [`CloseReason::NAMES`].
    pub fn index(&self) -> usize {
        let name = self.name();
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| unreachable!("{name} is listed"))
    }

    /// A short stable name, for metrics labels and logs.
    pub fn name(&self) -> &'static str {
        match self {
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::Reset => "reset",
            CloseReason::Io(_) => "io_error",
            CloseReason::Local => "local",
            CloseReason::SlowConsumer { .. } => "slow_consumer",
            CloseReason::RecvBufferFull { .. } => "recv_buffer_full",
            CloseReason::Protocol(_) => "protocol",
            CloseReason::Invalid(_) => "invalid",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::PartialTimeout => "partial_timeout",
            CloseReason::RateLimited => "rate_limited",
            CloseReason::Shutdown => "shutdown",
            CloseReason::LoopFailed => "loop_failed",
            CloseReason::UntrustedProxy => "untrusted_proxy",
            CloseReason::ProxyHeader(_) => "proxy_header",
            CloseReason::ProxyHeaderTimeout => "proxy_header_timeout",
            CloseReason::HealthCheck => "health_check",
            CloseReason::Refused => "refused",
            CloseReason::TlsHandshake(_) => "tls_handshake",
            CloseReason::Tls(_) => "tls",
            CloseReason::Unauthenticated(_) => "unauthenticated",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::PeerClosed => f.write_str("peer closed the connection"),
            CloseReason::Reset => f.write_str("connection reset by peer"),
            CloseReason::Io(kind) => write!(f, "socket error: {kind}"),
            CloseReason::Local => f.write_str("closed by the server"),
            CloseReason::SlowConsumer { queued, limit } => {
                write!(f, "slow consumer: {queued} bytes queued, limit {limit}")
            }
            CloseReason::RecvBufferFull { limit } => {
                write!(f, "more than {limit} unconsumed bytes received")
            }
            CloseReason::Protocol(err) => write!(f, "protocol error: {err}"),
            CloseReason::Invalid(what) => write!(f, "invalid input: {what}"),
            CloseReason::IdleTimeout => f.write_str("idle timeout: no bytes received"),
            CloseReason::PartialTimeout => f.write_str("partial message not completed in time"),
            CloseReason::RateLimited => f.write_str("packet rate limit exceeded"),
            CloseReason::Shutdown => f.write_str("server shutting down"),
            CloseReason::LoopFailed => f.write_str("the session's event loop failed"),
            CloseReason::UntrustedProxy => {
                f.write_str("PROXY protocol from an address not in trusted_proxies")
            }
            CloseReason::ProxyHeader(violation) => write!(f, "bad PROXY header: {violation}"),
            CloseReason::ProxyHeaderTimeout => f.write_str("PROXY header not received in time"),
            CloseReason::HealthCheck => f.write_str("load balancer health check"),
            CloseReason::Refused => f.write_str("refused by the session caps"),
            CloseReason::TlsHandshake(why) => write!(f, "TLS handshake failed: {why}"),
            CloseReason::Tls(why) => write!(f, "TLS error: {why}"),
            CloseReason::Unauthenticated(why) => write!(f, "unauthenticated: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_a_listed_name() {
        let all = [
            CloseReason::PeerClosed,
            CloseReason::Reset,
            CloseReason::Io(io::ErrorKind::Other),
            CloseReason::Local,
            CloseReason::SlowConsumer {
                queued: 2,
                limit: 1,
            },
            CloseReason::RecvBufferFull { limit: 1 },
            CloseReason::Protocol(Violation {
                rule: "packet size below the header",
                value: 0,
                limit: 4,
            }),
            CloseReason::Invalid("x"),
            CloseReason::IdleTimeout,
            CloseReason::PartialTimeout,
            CloseReason::RateLimited,
            CloseReason::Shutdown,
            CloseReason::LoopFailed,
            CloseReason::UntrustedProxy,
            CloseReason::ProxyHeader(Violation {
                rule: "not a PROXY header",
                value: 0,
                limit: 0,
            }),
            CloseReason::ProxyHeaderTimeout,
            CloseReason::HealthCheck,
            CloseReason::Refused,
            CloseReason::TlsHandshake("no cipher suite in common"),
            CloseReason::Tls("a record failed to decrypt"),
            CloseReason::Unauthenticated("token expired"),
        ];
        assert_eq!(all.len(), CloseReason::NAMES.len());
        for (i, reason) in all.iter().enumerate() {
            assert_eq!(reason.index(), i, "{reason:?}");
            assert!(!reason.to_string().is_empty());
        }
    }
}
