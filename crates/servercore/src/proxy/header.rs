//! [`read_proxy_header`]: the PROXY protocol header (v1 text, v2 binary) a load balancer puts
//! in front of every connection it forwards, read sans-IO from the bytes already received.
//!
//! ```text
//!   v1:  "PROXY TCP4 203.0.113.7 192.0.2.1 51234 7777\r\n"       at most 107 bytes
//!        "PROXY UNKNOWN\r\n"
//!   v2:  \r\n\r\n\0\r\nQUIT\n | ver<<4|cmd | family<<4|proto | len (u16 BE) | addresses | TLVs
//!        <------------- 12-byte signature -------------->  <-- 16 bytes in all -->  <-- len -->
//! ```
//!
//! The caller hands over the start of a connection's receive buffer each time more bytes
//! arrive; the answer is [`ProxyHeaderRead::Incomplete`] (read more, within a deadline the
//! caller enforces), [`ProxyHeaderRead::Complete`] with the exact header length to consume
//! (the bytes after it are the client's own, untouched), or a [`ProxyHeaderError`]. As the
//! spec demands, nothing is guessed: the first bytes must be `"PROXY "` or the v2 signature,
//! and the answer is an error as soon as the bytes received can no longer become a valid
//! header, not only once a whole header's worth has arrived. A decision is final: an error
//! stays an error and a complete header stays the same header however many more bytes come.
//!
//! Bounded: a v1 header is at most [`V1_MAX_LEN`] bytes (the spec's limit); a v2 header at most
//! [`V2_MAX_LEN`] = 16 + [`V2_MAX_PAYLOAD`] bytes. The spec allows a v2 length field up to
//! 65,535, but addresses take at most 216 bytes (two unix paths; 36 for TCP over IPv6) and the
//! TLVs balancers send are small (an AWS NLB's VPC endpoint id, HAProxy's unique id of at most
//! 128 bytes, a few SSL fields), so 1 KiB of addresses and TLVs is ample; a longer header is
//! refused as soon as its length field arrives. So a caller never needs to hold more than
//! [`MAX_HEADER_LEN`] bytes before the header is decided.
//!
//! The framing above (which version, where the header ends, the bounds) is done here, so the
//! answer at every split of the input is ours to guarantee; the fields of a complete header are
//! parsed by the [`ppp`] crate. `ppp` was chosen over `proxy-header`: it is the more widely
//! used of the two, borrows the input (no copy, no allocation on success), is stricter on v1
//! (it checks the space after `PROXY` and refuses leading zeros in ports, which
//! `proxy-header` lets through) and names each fault in its errors (bad version, command,
//! family, protocol, address length, a TLV overrunning the header) where `proxy-header` has
//! one `Invalid`; that text ends up in
//! [`ProxyHeaderError::Malformed`] for the log line.

use std::fmt;
use std::net::SocketAddr;

use ppp::{v1, v2};

/// The 12 bytes every v2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// What every v1 header starts with.
const V1_PREFIX: &[u8] = b"PROXY ";
/// The v1 protocol words that may follow [`V1_PREFIX`] (`UNKNOWN` may carry anything after it).
const V1_PROTOCOLS: [&[u8]; 3] = [b"TCP4 ", b"TCP6 ", b"UNKNOWN"];
/// The longest v1 header, `\r\n` included (the spec's limit).
pub const V1_MAX_LEN: usize = 107;
/// The fixed part of a v2 header: signature, version and command, family and protocol, length.
const V2_FIXED_LEN: usize = 16;
/// The most bytes of addresses and TLVs accepted after the fixed part of a v2 header.
pub const V2_MAX_PAYLOAD: usize = 1024;
/// The longest v2 header accepted.
pub const V2_MAX_LEN: usize = V2_FIXED_LEN + V2_MAX_PAYLOAD;
/// The most bytes any header may take: once a buffer holds this many, the header is decided.
pub const MAX_HEADER_LEN: usize = V2_MAX_LEN;

/// What the bytes received so far hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHeaderRead {
    /// A valid start of a header, not the whole of it yet: read more (the caller bounds how
    /// long it waits).
    Incomplete,
    /// A whole, valid header.
    Complete {
        /// The header's length: consume exactly this many bytes; what follows is the client's.
        consumed: usize,
        /// Who the balancer says the connection is for.
        source: ProxiedSource,
    },
}

/// The source a complete header names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxiedSource {
    /// The real client's address and port (v1 `TCP4`/`TCP6`, v2 `PROXY` over TCP on IPv4/IPv6).
    Client(SocketAddr),
    /// No client: the balancer speaks for itself (v2 `LOCAL`, its health checks). It stands
    /// for no client.
    Local,
    /// A client the balancer cannot name (v1 `UNKNOWN`, with or without addresses; v2 `PROXY`
    /// with an unspecified address family). Per the spec the connection is served, with its
    /// own endpoints as its addresses.
    Unknown,
}

/// The PROXY protocol version a header announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    /// The text header, `PROXY ...\r\n`.
    V1,
    /// The binary header, after the 12-byte signature.
    V2,
}

impl fmt::Display for ProxyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProxyVersion::V1 => "v1",
            ProxyVersion::V2 => "v2",
        })
    }
}

/// Why the bytes received cannot be (or start) a valid PROXY header. Final: more bytes never
/// change it. The connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyHeaderError {
    /// The connection starts with neither `"PROXY "` nor the v2 signature.
    NotProxy,
    /// The header is longer than this reader accepts (see the module docs).
    TooLarge {
        /// Which header.
        version: ProxyVersion,
        /// Its length as announced (v2), or the bytes looked at without finding the end of
        /// the line (v1: always `max`, so the error does not change as more bytes arrive).
        len: usize,
        /// The limit: [`V1_MAX_LEN`] or [`V2_MAX_LEN`].
        max: usize,
    },
    /// The header breaks the spec.
    Malformed {
        /// Which header.
        version: ProxyVersion,
        /// What is wrong, for the log.
        reason: String,
    },
    /// A valid header for a connection this server does not serve: UDP, a unix socket, or an
    /// unspecified transport over IPv4/IPv6.
    Unsupported {
        /// What it carries.
        what: &'static str,
    },
}

impl From<&ProxyHeaderError> for crate::session::Violation {
    /// The session layer's record of a bad header, for
    /// [`CloseReason::ProxyHeader`](crate::CloseReason::ProxyHeader) (the log line has the
    /// details).
    fn from(err: &ProxyHeaderError) -> Self {
        let (rule, value, limit) = match err {
            ProxyHeaderError::NotProxy => ("not a PROXY header", 0, 0),
            ProxyHeaderError::TooLarge { len, max, .. } => ("PROXY header too large", *len, *max),
            ProxyHeaderError::Malformed { .. } => ("malformed PROXY header", 0, 0),
            ProxyHeaderError::Unsupported { what } => (*what, 0, 0),
        };
        crate::session::Violation {
            rule,
            value: value as u64,
            limit: limit as u64,
        }
    }
}

impl fmt::Display for ProxyHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyHeaderError::NotProxy => f.write_str(
                "not a PROXY protocol header (the connection must start with \"PROXY \" or the v2 signature)",
            ),
            ProxyHeaderError::TooLarge {
                version: ProxyVersion::V1,
                max,
                ..
            } => write!(f, "PROXY v1 header too large (no end of line within {max} bytes)"),
            ProxyHeaderError::TooLarge { version, len, max } => {
                write!(f, "PROXY {version} header too large ({len} bytes, max {max})")
            }
            ProxyHeaderError::Malformed { version, reason } => {
                write!(f, "malformed PROXY {version} header: {reason}")
            }
            ProxyHeaderError::Unsupported { what } => {
                write!(f, "unsupported PROXY header: {what} (only TCP over IPv4/IPv6 is served)")
            }
        }
    }
}

impl std::error::Error for ProxyHeaderError {}

/// Reads the PROXY header at the start of `buf`, the bytes a connection has sent so far.
///
/// Call it again with the grown buffer after each read while it answers
/// [`ProxyHeaderRead::Incomplete`]; a connection that never completes its header must be closed
/// by the caller's deadline. At most [`MAX_HEADER_LEN`] bytes are looked at.
///
/// # Examples
///
/// ```
/// use servercore::proxy::{read_proxy_header, ProxiedSource, ProxyHeaderRead};
///
/// let buf = b"PROXY TCP4 203.0.113.7 192.0.2.1 51234 7777\r\nhello";
/// let read = read_proxy_header(buf).unwrap();
/// let client = "203.0.113.7:51234".parse().unwrap();
/// assert_eq!(read, ProxyHeaderRead::Complete { consumed: 45, source: ProxiedSource::Client(client) });
/// assert_eq!(&buf[45..], b"hello");
///
/// assert_eq!(read_proxy_header(b"PROXY TCP"), Ok(ProxyHeaderRead::Incomplete));
/// assert!(read_proxy_header(b"GET / HTTP/1.1\r\n").is_err());
/// ```
///
/// # Errors
/// [`ProxyHeaderError`] as soon as `buf` cannot start a valid header: not a PROXY header at
/// all, too long, malformed, or for a transport other than TCP.
pub fn read_proxy_header(buf: &[u8]) -> Result<ProxyHeaderRead, ProxyHeaderError> {
    if agrees(buf, &V2_SIGNATURE) {
        read_v2(buf)
    } else if agrees(buf, V1_PREFIX) {
        read_v1(buf)
    } else {
        Err(ProxyHeaderError::NotProxy)
    }
}

/// Whether `buf` and `expected` agree on their common length (an empty `buf` agrees with all).
fn agrees(buf: &[u8], expected: &[u8]) -> bool {
    let n = buf.len().min(expected.len());
    buf[..n] == expected[..n]
}

fn read_v1(buf: &[u8]) -> Result<ProxyHeaderRead, ProxyHeaderError> {
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    match window.iter().position(|&b| b == b'\n') {
        Some(lf) => {
            check_v1_start(&buf[..lf])?;
            parse_v1_line(&buf[..=lf])
        }
        None => {
            check_v1_start(window)?;
            if window.len() == V1_MAX_LEN {
                return Err(ProxyHeaderError::TooLarge {
                    version: ProxyVersion::V1,
                    len: window.len(),
                    max: V1_MAX_LEN,
                });
            }
            Ok(ProxyHeaderRead::Incomplete)
        }
    }
}

/// Checks what can be checked of a v1 line before its `\n`: a known protocol word after
/// `PROXY `, printable ASCII, a `\r` only as the last byte. In that order, so a longer start
/// fails (if at all) with the same error as a shorter one.
fn check_v1_start(start: &[u8]) -> Result<(), ProxyHeaderError> {
    let malformed = |reason: String| ProxyHeaderError::Malformed {
        version: ProxyVersion::V1,
        reason,
    };
    let after = start.get(V1_PREFIX.len()..).unwrap_or_default();
    if !V1_PROTOCOLS.iter().any(|p| agrees(after, p)) {
        return Err(malformed("protocol is not TCP4, TCP6 or UNKNOWN".into()));
    }
    for (i, &b) in start.iter().enumerate() {
        if b == b'\r' && i + 1 != start.len() {
            return Err(malformed("\\r not followed by \\n".into()));
        }
        if b != b'\r' && !(0x20..=0x7e).contains(&b) {
            return Err(malformed(format!("byte {b:#04x} at offset {i}")));
        }
    }
    Ok(())
}

/// Parses a whole v1 line, `\r\n` included.
fn parse_v1_line(line: &[u8]) -> Result<ProxyHeaderRead, ProxyHeaderError> {
    let header = v1::Header::try_from(line).map_err(|err| ProxyHeaderError::Malformed {
        version: ProxyVersion::V1,
        reason: err.to_string(),
    })?;
    let source = match header.addresses {
        v1::Addresses::Tcp4(a) => ProxiedSource::Client((a.source_address, a.source_port).into()),
        v1::Addresses::Tcp6(a) => ProxiedSource::Client((a.source_address, a.source_port).into()),
        v1::Addresses::Unknown => ProxiedSource::Unknown,
    };
    Ok(ProxyHeaderRead::Complete {
        consumed: line.len(),
        source,
    })
}

fn read_v2(buf: &[u8]) -> Result<ProxyHeaderRead, ProxyHeaderError> {
    check_v2_fixed(buf)?;
    if buf.len() < V2_FIXED_LEN {
        return Ok(ProxyHeaderRead::Incomplete);
    }
    let len = V2_FIXED_LEN + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if len > V2_MAX_LEN {
        return Err(ProxyHeaderError::TooLarge {
            version: ProxyVersion::V2,
            len,
            max: V2_MAX_LEN,
        });
    }
    let addresses = v2_address_len(buf[13] >> 4);
    if len - V2_FIXED_LEN < addresses {
        return Err(v2_malformed(v2::ParseError::InvalidAddresses(
            len - V2_FIXED_LEN,
            addresses,
        )));
    }
    if buf.len() < len {
        return Ok(ProxyHeaderRead::Incomplete);
    }
    let header = v2::Header::try_from(&buf[..len]).map_err(v2_malformed)?;
    if let Some(Err(err)) = header.tlvs().find(Result::is_err) {
        return Err(v2_malformed(err));
    }
    Ok(ProxyHeaderRead::Complete {
        consumed: len,
        source: v2_source(&header)?,
    })
}

fn v2_malformed(err: v2::ParseError) -> ProxyHeaderError {
    ProxyHeaderError::Malformed {
        version: ProxyVersion::V2,
        reason: err.to_string(),
    }
}

/// Checks the version/command and family/protocol bytes as soon as they arrive.
fn check_v2_fixed(buf: &[u8]) -> Result<(), ProxyHeaderError> {
    let malformed = |reason: String| ProxyHeaderError::Malformed {
        version: ProxyVersion::V2,
        reason,
    };
    if let Some(&b) = buf.get(12) {
        if b >> 4 != 2 {
            return Err(malformed(format!("version {} (must be 2)", b >> 4)));
        }
        if b & 0x0f > 1 {
            return Err(malformed(format!(
                "command {:#x} (must be LOCAL or PROXY)",
                b & 0x0f
            )));
        }
    }
    if let Some(&b) = buf.get(13) {
        if b >> 4 > 3 || b & 0x0f > 2 {
            return Err(malformed(format!("address family and protocol {b:#04x}")));
        }
    }
    Ok(())
}

/// The length of a v2 address block of `family` (checked by [`check_v2_fixed`] to be 0..=3):
/// none, IPv4, IPv6, unix.
fn v2_address_len(family: u8) -> usize {
    match family {
        1 => 12,
        2 => 36,
        3 => 216,
        _ => 0,
    }
}

/// The source a complete, valid v2 header names.
fn v2_source(header: &v2::Header<'_>) -> Result<ProxiedSource, ProxyHeaderError> {
    if header.command == v2::Command::Local {
        return Ok(ProxiedSource::Local);
    }
    let unsupported = |what| Err(ProxyHeaderError::Unsupported { what });
    match (header.addresses, header.protocol) {
        (v2::Addresses::Unspecified, _) => Ok(ProxiedSource::Unknown),
        (v2::Addresses::IPv4(a), v2::Protocol::Stream) => Ok(ProxiedSource::Client(
            (a.source_address, a.source_port).into(),
        )),
        (v2::Addresses::IPv6(a), v2::Protocol::Stream) => Ok(ProxiedSource::Client(
            (a.source_address, a.source_port).into(),
        )),
        (v2::Addresses::Unix(_), _) => unsupported("a unix socket"),
        (_, v2::Protocol::Datagram) => unsupported("UDP"),
        (_, v2::Protocol::Unspecified) => unsupported("an unspecified transport"),
    }
}
