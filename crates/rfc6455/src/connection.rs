//! [`WsConnection`]: one browser's connection, from its first byte to its close, sans I/O.

use bytes::Bytes;

use super::error::WsError;
use super::frame::{close_frame, pong_frame};
use super::handshake::{answer_request, http_error, Answer};
use super::reader::{FrameEvent, MessageReader, Role};

/// Default bound on the opening HTTP request.
pub const DEFAULT_MAX_REQUEST: usize = 8 * 1024;

/// What a [`WsConnection`] accepts and serves.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Largest message (the packet limit): a bigger frame or message is refused with 1009.
    pub max_message: usize,
    /// Bound on the opening HTTP request, headers included.
    pub max_request: usize,
    /// The page a plain `GET /` gets (the chat page); `None` answers 404.
    pub page: Option<Bytes>,
}

impl WsConfig {
    /// Messages of at most `max_message` bytes, an 8 KiB request bound, no page.
    pub fn new(max_message: usize) -> WsConfig {
        WsConfig {
            max_message,
            max_request: DEFAULT_MAX_REQUEST,
            page: None,
        }
    }

    /// The same config serving `page` at `/`.
    pub fn with_page(self, page: Bytes) -> WsConfig {
        WsConfig {
            page: Some(page),
            ..self
        }
    }
}

/// What the bytes amounted to, and what to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent<'a> {
    /// A valid upgrade: send `response` (101); messages follow.
    Handshake {
        /// The 101 response.
        response: Bytes,
        /// The client asked for (and got) `servercore.packet.v1`.
        subprotocol: bool,
    },
    /// A plain `GET /`: send `response` (200 and the page), then close.
    Page {
        /// The whole HTTP response.
        response: Bytes,
    },
    /// A complete binary message, unmasked: the packet bytes (header + body, docs/protocol.md).
    /// Borrowed from the connection until the next [`advance`](WsConnection::advance).
    Message(&'a [u8]),
    /// Send these bytes (a pong answering a ping).
    Reply(Bytes),
    /// The peer closed: send `reply` (the close frame echoing its code), then close.
    Closed {
        /// The peer's status code, if it gave one.
        code: Option<u16>,
        /// The close frame to answer with.
        reply: Bytes,
    },
    /// The peer broke the protocol or a limit: send `reply` (an HTTP error response during
    /// the handshake, a close frame with [`WsError::close_code`] after it), then close.
    Refused {
        /// What went wrong: log it.
        error: WsError,
        /// What to send before closing.
        reply: Bytes,
    },
}

/// The result of one [`WsConnection::advance`].
#[derive(Debug)]
pub struct Step<'a> {
    /// Bytes consumed from the front of the input.
    pub consumed: usize,
    /// What happened, if anything. `None`: all input consumed but a partial HTTP request or
    /// frame header; call again when more bytes arrive.
    pub event: Option<WsEvent<'a>>,
}

/// Where a connection is in its life.
#[derive(Debug)]
enum Phase {
    /// Waiting for the whole HTTP request.
    Request,
    /// Handshake done: reading frames.
    Open(MessageReader),
    /// Answered and closing: input is ignored.
    Done,
}

/// A server-side WebSocket connection.
///
/// ```text
///            request complete, valid upgrade: Handshake { response }
///   Request -------------------------------------------------------> Open
///     |  GET / (no Upgrade): Page { response }                       |  Message(packet bytes)
///     |  bad / too large request: Refused { error, reply: HTTP }     |  Reply(pong)
///     v                                                              |  peer's close: Closed { code, reply }
///   Done  <----------------------------------------------------------+  protocol error: Refused { error, reply: close frame }
/// ```
///
/// It is fed what a session's receive path has: the bytes received and not yet consumed.
/// [`WsConnection::advance`] consumes what it can and reports at most one [`WsEvent`]; the
/// caller sends what the event says to send and calls again on the rest, until it gets no
/// event:
///
/// ```
/// use rfc6455::{ClientHandshake, WsConfig, WsConnection, WsEvent};
///
/// let mut ws = WsConnection::new(WsConfig::new(4096));
/// let client = ClientHandshake::new();
/// let mut received = client.request("127.0.0.1:7778", "/").into_bytes();
/// // A masked binary frame carrying one packet: header (size 6, id 1) and body "hi".
/// received.extend(rfc6455::masked_frame(
///     rfc6455::Opcode::Binary, &[6, 0, 1, 0, b'h', b'i'], [1, 2, 3, 4]));
///
/// let (mut consumed, mut messages) = (0, Vec::new());
/// loop {
///     let step = ws.advance(&received[consumed..]);
///     consumed += step.consumed;
///     match step.event {
///         None => break, // everything consumed but a partial frame header
///         Some(WsEvent::Handshake { response, .. }) => { /* send response */ }
///         Some(WsEvent::Message(packet)) => messages.push(packet.to_vec()),
///         Some(other) => panic!("{other:?}"),
///     }
/// }
/// assert_eq!(consumed, received.len());
/// assert_eq!(messages, [vec![6, 0, 1, 0, b'h', b'i']]);
/// ```
///
/// After `Page`, `Closed` or `Refused` the connection is [done](WsConnection::is_done): send
/// the bytes given and close the socket (after they are written); further input is
/// consumed and ignored. The caller owns the clocks: the handshake deadline (close a
/// connection still [handshaking](WsConnection::is_handshaking) after the partial-packet
/// timeout), the partial-message deadline (a connection
/// [mid message](WsConnection::is_mid_message) holds no unconsumed bytes: its payload was
/// consumed as it came) and the idle ping ([`idle_ping`](super::idle_ping); answers are
/// counted by [`pongs`](WsConnection::pongs)).
#[derive(Debug)]
pub struct WsConnection {
    config: WsConfig,
    phase: Phase,
    subprotocol: bool,
}

impl WsConnection {
    /// A connection waiting for its opening request.
    pub fn new(config: WsConfig) -> WsConnection {
        WsConnection {
            config,
            phase: Phase::Request,
            subprotocol: false,
        }
    }

    /// True until the opening request has been answered.
    pub fn is_handshaking(&self) -> bool {
        matches!(self.phase, Phase::Request)
    }

    /// True after the handshake, until the connection is done.
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open(_))
    }

    /// True once the connection has been answered for the last time: close it.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// True while a frame or a fragmented message has begun and not ended. The reader
    /// consumes payload bytes as they arrive, so a half-sent frame holds no unconsumed bytes
    /// in the receive buffer: a partial-packet deadline (slowloris) must look at this too.
    pub fn is_mid_message(&self) -> bool {
        match &self.phase {
            Phase::Open(reader) => !reader.is_idle(),
            _ => false,
        }
    }

    /// True if the handshake selected the `servercore.packet.v1` subprotocol.
    pub fn subprotocol(&self) -> bool {
        self.subprotocol
    }

    /// Pongs received so far (the peer answering [`idle_ping`](super::idle_ping)s).
    pub fn pongs(&self) -> u64 {
        match &self.phase {
            Phase::Open(reader) => reader.pongs(),
            _ => 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &WsConfig {
        &self.config
    }

    /// Consumes input from the front of `data` (everything received and not consumed yet)
    /// until one event or the end of the usable bytes; see [`Step`]. Never panics and never
    /// holds more than the request bound (handshake) or one partial frame header (after it).
    pub fn advance(&mut self, data: &[u8]) -> Step<'_> {
        match self.phase {
            Phase::Request => self.advance_request(data),
            Phase::Open(_) => self.advance_frames(data),
            Phase::Done => Step {
                consumed: data.len(),
                event: None,
            },
        }
    }

    fn advance_request(&mut self, data: &[u8]) -> Step<'_> {
        let page = self.config.page.as_ref();
        let (consumed, event) = match answer_request(data, self.config.max_request, page) {
            Ok(None) => (0, None),
            Ok(Some((
                len,
                Answer::Upgrade {
                    response,
                    subprotocol,
                },
            ))) => {
                self.subprotocol = subprotocol;
                self.phase = Phase::Open(MessageReader::new(Role::Server, self.config.max_message));
                (
                    len,
                    Some(WsEvent::Handshake {
                        response,
                        subprotocol,
                    }),
                )
            }
            Ok(Some((_, Answer::Page { response }))) => {
                self.phase = Phase::Done;
                (data.len(), Some(WsEvent::Page { response }))
            }
            Err(error) => {
                self.phase = Phase::Done;
                let reply = http_error(&error);
                (data.len(), Some(WsEvent::Refused { error, reply }))
            }
        };
        Step { consumed, event }
    }

    fn advance_frames(&mut self, data: &[u8]) -> Step<'_> {
        let Phase::Open(reader) = &mut self.phase else {
            unreachable!("advance_frames is called in the Open phase only");
        };
        let (consumed, event) = match reader.read(data) {
            Ok((used, None)) => {
                return Step {
                    consumed: used,
                    event: None,
                }
            }
            Ok((used, Some(FrameEvent::Ping(payload)))) => {
                (used, WsEvent::Reply(pong_frame(payload)))
            }
            Ok((used, Some(FrameEvent::Close { code, .. }))) => {
                let reply = close_frame(code, "");
                (used, WsEvent::Closed { code, reply })
            }
            Err(error) => {
                let reply = close_frame(error.close_code(), &error.to_string());
                (data.len(), WsEvent::Refused { error, reply })
            }
            Ok((used, Some(FrameEvent::Message(_)))) => {
                // Re-borrow the reader for the message: the match above ended its borrow.
                let Phase::Open(reader) = &self.phase else {
                    unreachable!("still open");
                };
                return Step {
                    consumed: used,
                    event: Some(WsEvent::Message(reader.last_message())),
                };
            }
        };
        if matches!(event, WsEvent::Closed { .. } | WsEvent::Refused { .. }) {
            self.phase = Phase::Done;
        }
        Step {
            consumed,
            event: Some(event),
        }
    }
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
