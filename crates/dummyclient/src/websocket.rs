//! `--websocket`: the same scenarios over WebSocket (RFC 6455), as a browser would connect.
//!
//! ```text
//!   connect (blocking)   TCP connect -> handshake(): GET / Upgrade ... -> 101 (checked)
//!                        -> Service::adopt, exactly as over TCP
//!   send                 Wire::frame: masked binary frame header | packet, masked in place
//!                        (one packet per message; a fresh mask per frame)
//!   receive              Inbound::split: server frames -> messages -> Wire::split's packets;
//!                        pings answered with masked pongs, the server's close answered
//! ```
//!
//! The pieces come from `servercore::websocket` (the client handshake, the frame reader in
//! the client role, masked frame headers); this file is the glue to the load generator.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use rfc6455::{
    apply_mask, masked_close_frame, masked_frame, masked_header, ClientHandshake, FrameEvent,
    MessageReader, Opcode, Role, WsError,
};
use servercore::packet::{Packet, PacketError};
use servercore::{first_bytes, CloseReason, Context, Lookalike, SessionId};

use crate::tls::TlsOver;
use crate::wire::Wire;
use servercore::tls::rustls::ClientConnection;

/// Bound on the server's handshake response.
const MAX_RESPONSE: usize = 8 * 1024;

/// Largest message accepted from the server (it may put several packets in one).
pub const MAX_MESSAGE: usize = 1 << 20;

/// Bytes a masked client frame header takes in front of a payload of `len` bytes.
pub fn header_len(len: usize) -> usize {
    masked_header(Opcode::Binary, len, [0; 4]).as_bytes().len()
}

thread_local! {
    /// xorshift state for frame masks (RFC 6455 wants them unpredictable to proxies; a
    /// load generator needs them cheap).
    static MASK_STATE: Cell<u64> = Cell::new(0x9e37_79b9_7f4a_7c15 ^ std::process::id() as u64);
}

/// A fresh frame mask.
pub fn next_mask() -> [u8; 4] {
    MASK_STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        (x as u32).to_le_bytes()
    })
}

/// Appends one masked binary frame of `len` payload bytes to `out`; `payload` writes them.
pub fn frame_masked(out: &mut BytesMut, len: usize, payload: impl FnOnce(&mut BytesMut)) {
    let mask = next_mask();
    out.put_slice(masked_header(Opcode::Binary, len, mask).as_bytes());
    let start = out.len();
    payload(out);
    apply_mask(&mut out[start..], mask, 0);
}

/// A packet already encoded (`ENTER_ROOM`) as one masked binary frame.
pub fn wrap(packet: &[u8]) -> Bytes {
    masked_frame(Opcode::Binary, packet, next_mask())
}

/// Why a client's handshake failed: its TLS handshake (`--tls`) or its WebSocket upgrade.
#[derive(Debug)]
pub enum HandshakeError {
    /// `--tls`: the TLS handshake failed (rustls' reason and what to check).
    Tls(io::Error),
    /// The socket failed or timed out.
    Io(io::Error),
    /// The server's HTTP answer is not a valid 101.
    Refused(WsError),
    /// The server closed without an answer, or answered something that is not HTTP: not a
    /// WebSocket port (what happened is in `answer`).
    NotWebSocket {
        /// What came back instead of an HTTP response.
        answer: String,
    },
}

impl HandshakeError {
    /// The error for an answer (`seen`: every byte received) that is not an HTTP response.
    fn not_websocket(seen: &[u8]) -> HandshakeError {
        let answer = match Lookalike::of(seen) {
            _ if seen.is_empty() => {
                "the server closed the connection without answering the upgrade request".into()
            }
            Some(Lookalike::HttpRequest) => format!(
                "the answer is the upgrade request itself ({}), echoed back: a raw echo server",
                first_bytes(seen)
            ),
            Some(lookalike) => format!("the answer looks like {lookalike} ({})", first_bytes(seen)),
            None => format!("the answer is not HTTP ({})", first_bytes(seen)),
        };
        HandshakeError::NotWebSocket { answer }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Tls(err) => write!(f, "{err}"),
            HandshakeError::Io(err) => write!(f, "WebSocket handshake: {err}"),
            HandshakeError::Refused(err) => write!(f, "WebSocket handshake refused: {err}"),
            HandshakeError::NotWebSocket { answer } => write!(
                f,
                "WebSocket handshake: {answer}. Is this the WebSocket port? (gameserver \
                 --protocol packet --websocket ADDR serves it; the game's TCP port closes an \
                 HTTP request as a bad packet; without --websocket, dummyclient speaks TCP)"
            ),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// The opening handshake on a freshly connected blocking `stream`, within `timeout`: sends
/// the upgrade request and reads exactly the 101 response (frames the server might send right
/// after it stay in the socket for the event loop).
///
/// # Errors
/// The socket failed or timed out, or the server did not accept the upgrade.
pub fn handshake(stream: &mut TcpStream, timeout: Duration) -> Result<(), HandshakeError> {
    let host = stream.peer_addr().map_err(HandshakeError::Io)?.to_string();
    stream
        .set_read_timeout(Some(timeout))
        .map_err(HandshakeError::Io)?;
    upgrade(stream, &host)?;
    stream.set_read_timeout(None).map_err(HandshakeError::Io)
}

/// As [`handshake`], over TLS: `conn` is established over `stream`, and what the server
/// sends behind the 101 stays in `conn` for the event loop.
///
/// # Errors
/// As [`handshake`].
pub fn handshake_tls(
    stream: &mut TcpStream,
    conn: &mut ClientConnection,
    timeout: Duration,
) -> Result<(), HandshakeError> {
    let host = stream.peer_addr().map_err(HandshakeError::Io)?.to_string();
    stream
        .set_read_timeout(Some(timeout))
        .map_err(HandshakeError::Io)?;
    upgrade(&mut TlsOver { conn, sock: stream }, &host)?;
    stream.set_read_timeout(None).map_err(HandshakeError::Io)
}

/// A blocking stream the upgrade runs over: what arrived can be looked at before it is
/// taken, so the answer is read exactly and the frames behind it stay for the event loop.
pub trait Lookahead: Write {
    /// Up to `buf.len()` bytes that arrived, not taken (0: the stream ended).
    ///
    /// # Errors
    /// The stream failed or timed out.
    fn look(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// Takes `n` bytes already looked at.
    ///
    /// # Errors
    /// The stream failed.
    fn take(&mut self, n: usize) -> io::Result<()>;
}

impl Lookahead for TcpStream {
    fn look(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.peek(buf) {
                // A signal (another thread's child exiting, a timer) is not a failure.
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if err.kind() == io::ErrorKind::ConnectionReset => return Ok(0),
                other => return other,
            }
        }
    }

    fn take(&mut self, n: usize) -> io::Result<()> {
        self.read_exact(&mut vec![0; n])
    }
}

/// Sends the upgrade request for `host` and takes exactly the server's 101 answer.
fn upgrade(stream: &mut impl Lookahead, host: &str) -> Result<(), HandshakeError> {
    let client = ClientHandshake::new();
    stream
        .write_all(client.request(host, "/").as_bytes())
        .and_then(|()| stream.flush())
        .map_err(HandshakeError::Io)?;
    let mut response = Vec::new();
    let mut peeked = vec![0; MAX_RESPONSE];
    loop {
        let n = stream.look(&mut peeked).map_err(HandshakeError::Io)?;
        let mut seen = response.clone();
        seen.extend_from_slice(&peeked[..n]);
        let http = b"HTTP/".starts_with(&seen[..seen.len().min(5)]);
        if n == 0 && http && !seen.is_empty() {
            let what = "connection closed before the response ended".into();
            return Err(HandshakeError::Refused(WsError::BadResponse { what }));
        }
        if n == 0 || !http {
            return Err(HandshakeError::not_websocket(&seen));
        }
        let complete = client
            .check_response(&seen)
            .map_err(HandshakeError::Refused)?;
        // Incomplete: every byte looked at belongs to the response; complete: up to its end.
        let take = complete.map_or(n, |len| len - response.len());
        response.extend_from_slice(&peeked[..take]);
        stream.take(take).map_err(HandshakeError::Io)?;
        if complete.is_some() {
            return Ok(());
        }
    }
}

/// Why a session's input could not be read.
#[derive(Debug)]
pub enum InboundError {
    /// The server's frames broke RFC 6455.
    Frames(WsError),
    /// A message's packets cannot be framed.
    Packets(PacketError),
}

impl InboundError {
    /// How the client closes the session for it.
    pub fn close_reason(&self) -> CloseReason {
        match self {
            InboundError::Frames(_) => CloseReason::Invalid("bad WebSocket frames from the server"),
            InboundError::Packets(err) => CloseReason::Protocol((*err).into()),
        }
    }
}

impl fmt::Display for InboundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InboundError::Frames(err) => write!(f, "{err}"),
            InboundError::Packets(err) => write!(f, "{err}"),
        }
    }
}

/// One session's receive side over WebSocket: frames to messages to packets.
#[derive(Debug)]
pub struct Inbound {
    reader: MessageReader,
    /// Packet bytes of earlier messages that did not end on a packet boundary.
    pending: Vec<u8>,
    /// The server closed; everything after is ignored.
    closed: bool,
}

impl Default for Inbound {
    /// A receive side for messages of at most [`MAX_MESSAGE`] bytes.
    fn default() -> Self {
        Inbound::new(MAX_MESSAGE)
    }
}

impl Inbound {
    /// A receive side for messages of at most `max_message` bytes.
    pub fn new(max_message: usize) -> Inbound {
        Inbound {
            reader: MessageReader::new(Role::Client, max_message),
            pending: Vec::new(),
            closed: false,
        }
    }

    /// Reads the frames in `data`, hands every whole packet to `f` (through `wire`), answers
    /// pings (masked pongs) and the server's close (a masked close, then closing the
    /// session), and returns the bytes consumed.
    ///
    /// # Errors
    /// Bad frames or unframeable packets: the session cannot be read any further.
    pub fn split(
        &mut self,
        ctx: &mut Context<'_>,
        id: SessionId,
        wire: &Wire,
        data: &[u8],
        mut f: impl FnMut(Packet<'_>),
    ) -> Result<usize, InboundError> {
        let mut consumed = 0;
        while !self.closed {
            let (used, event) = self
                .reader
                .read(&data[consumed..])
                .map_err(InboundError::Frames)?;
            consumed += used;
            match event {
                None => break,
                Some(FrameEvent::Message(message)) => {
                    split_message(&mut self.pending, wire, message, &mut f)?
                }
                Some(FrameEvent::Ping(payload)) => {
                    let _ = ctx.send(id, masked_frame(Opcode::Pong, payload, next_mask()));
                }
                Some(FrameEvent::Close { code, .. }) => {
                    self.closed = true;
                    let _ = ctx.send(id, masked_close_frame(code, "", next_mask()));
                    ctx.close(id);
                }
            }
        }
        Ok(if self.closed { data.len() } else { consumed })
    }
}

/// Splits `data` of session `id` into packets for `f`: through the session's WebSocket receive
/// side when the client speaks WebSocket (`inbound` holds one per session), else straight
/// through `wire`. Returns the bytes consumed.
///
/// # Errors
/// As [`Inbound::split`], or [`InboundError::Packets`] over TCP.
pub fn split_packets(
    inbound: Option<&mut HashMap<SessionId, Inbound>>,
    ctx: &mut Context<'_>,
    id: SessionId,
    wire: &Wire,
    data: &[u8],
    f: impl FnMut(Packet<'_>),
) -> Result<usize, InboundError> {
    match inbound.and_then(|i| i.get_mut(&id)) {
        Some(inbound) => inbound.split(ctx, id, wire, data, f),
        None => wire.split(data, f).map_err(InboundError::Packets),
    }
}

/// Hands the packets of `message` to `f`, continuing the partial packet kept in `pending`
/// (a message need not end on a packet boundary) and keeping the new tail there.
fn split_message(
    pending: &mut Vec<u8>,
    wire: &Wire,
    message: &[u8],
    f: &mut impl FnMut(Packet<'_>),
) -> Result<(), InboundError> {
    if pending.is_empty() {
        let used = wire
            .split(message, &mut *f)
            .map_err(InboundError::Packets)?;
        pending.extend_from_slice(&message[used..]);
    } else {
        pending.extend_from_slice(message);
        let used = wire
            .split(pending, &mut *f)
            .map_err(InboundError::Packets)?;
        pending.drain(..used);
    }
    Ok(())
}

#[cfg(test)]
#[path = "websocket_tests.rs"]
mod tests;
