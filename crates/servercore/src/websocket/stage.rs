//! [`WsStage`]: WebSocket as a stage of a session's pipeline — the HTTP upgrade, then each
//! binary message's bytes up to the handler as one stream, and each send down as one binary
//! message.
//!
//! ```text
//!   input:  WsConnection::advance over what arrived (a partial request or frame header kept)
//!             Handshake ──> Down(101), Ready        Page ──> Down(200 + page), Close(Local)
//!             Message ───> Up(packet bytes)         ping ──> Down(pong)
//!             Closed ────> Down(close echo), Close(PeerClosed)
//!             Refused ───> Down(HTTP error / close frame with its code), Close(Protocol)
//!   output: [binary frame header][message] (small: one pooled copy; large: the shared buffer
//!           behind its header, uncopied)
//!   close:  one close frame saying why (1001 shutdown or idle, 1008 policy, 1000 otherwise)
//!   idle:   one ping per quiet spell (a proxy in between sees traffic; a browser answers)
//! ```

use std::sync::Arc;

use bytes::Bytes;

use crate::session::pipeline::{Emit, Signal, Step};
use crate::session::{SendBufferPool, Violation};
use crate::CloseReason;
use rfc6455::{
    binary_header, close_frame, idle_ping, WsConfig, WsConnection, WsEvent, CLOSE_AWAY,
    CLOSE_NORMAL, CLOSE_POLICY,
};

/// Messages up to this size are sent with their frame header in one copied buffer (larger
/// ones: the header, then the shared buffer uncopied): copying a few hundred bytes costs less
/// than a second iovec.
const COPY_MAX: usize = 1024;

/// A WebSocket session's protocol state.
#[derive(Debug)]
pub(crate) struct WsStage {
    conn: WsConnection,
    /// Input the connection could not use yet: part of the upgrade request or of a frame
    /// header (bounded by the request limit, or 14 bytes).
    pending: Vec<u8>,
    /// What the last event still owes the session layer (the signal after a `Down`).
    then: Option<Signal>,
    /// A ping was sent since the last input.
    pinged: bool,
    /// Our close frame was sent (or the connection ended in a way that needs none).
    closed: bool,
}

impl WsStage {
    pub(crate) fn new(config: &Arc<WsConfig>) -> WsStage {
        WsStage {
            conn: WsConnection::new(WsConfig::clone(config)),
            pending: Vec::new(),
            then: None,
            pinged: false,
            closed: false,
        }
    }

    /// Bytes from below; see the module docs.
    pub(crate) fn input<'a>(&'a mut self, data: &'a [u8]) -> Step<'a> {
        if let Some(signal) = self.then.take() {
            return Step {
                consumed: 0,
                emit: Some(Emit::Signal(signal)),
            };
        }
        self.pinged &= data.is_empty();
        let (consumed, step) = if self.pending.is_empty() {
            let step = self.conn.advance(data);
            if step.event.is_none() {
                self.pending.extend_from_slice(&data[step.consumed..]);
                return Step::used(data.len());
            }
            (step.consumed, step)
        } else {
            self.pending.extend_from_slice(data);
            let step = self.conn.advance(&self.pending);
            self.pending.drain(..step.consumed);
            (data.len(), step)
        };
        let Some(event) = step.event else {
            return Step::used(consumed);
        };
        let (emit, then) = match event {
            WsEvent::Message(message) => (Emit::Up(message), None),
            WsEvent::Reply(pong) => (Emit::Down(pong), None),
            WsEvent::Handshake { response, .. } => (Emit::Down(response), Some(Signal::Ready)),
            WsEvent::Page { response } => (
                Emit::Down(response),
                Some(Signal::Close(CloseReason::Local)),
            ),
            WsEvent::Closed { reply, .. } => (
                Emit::Down(reply),
                Some(Signal::Close(CloseReason::PeerClosed)),
            ),
            WsEvent::Refused { error, reply } => {
                tracing::debug!("websocket refused: {error}"); // the close is logged with the peer
                let violation = Violation {
                    rule: "websocket protocol",
                    value: u64::from(error.close_code().or(error.http_status()).unwrap_or(0)),
                    limit: 0,
                };
                let signal = Signal::Close(CloseReason::Protocol(violation));
                (Emit::Down(reply), Some(signal))
            }
        };
        // Every event but a message or a pong ends with a signal right after its bytes; all
        // of those but the upgrade end the connection, which then needs no close of ours.
        self.closed |= matches!(then, Some(Signal::Close(_)));
        self.then = then;
        Step {
            consumed,
            emit: Some(emit),
        }
    }

    /// One binary message for `msg`: small ones written with their header into one pooled
    /// buffer, large ones as the header followed by the shared buffer itself.
    pub(crate) fn output(&mut self, msg: Bytes, pool: &mut SendBufferPool, out: &mut Vec<Bytes>) {
        let head = binary_header(msg.len());
        if msg.len() <= COPY_MAX {
            out.push(pool.write(head.as_bytes().len() + msg.len(), |b| {
                b.extend_from_slice(head.as_bytes());
                b.extend_from_slice(&msg);
            }));
        } else {
            out.push(pool.copy(head.as_bytes()));
            out.push(msg);
        }
    }

    /// The peer is told why before the FIN (once, and only after the upgrade).
    pub(crate) fn close(&mut self, reason: CloseReason, out: &mut Vec<Bytes>) {
        if self.conn.is_open() && !std::mem::replace(&mut self.closed, true) {
            out.push(close_frame_for(reason));
        }
    }

    pub(crate) fn is_ready(&self) -> bool {
        !self.conn.is_handshaking()
    }

    pub(crate) fn is_mid_message(&self) -> bool {
        self.conn.is_open() && (self.conn.is_mid_message() || !self.pending.is_empty())
    }

    /// One ping per quiet spell, while open.
    pub(crate) fn idle(&mut self) -> Option<Bytes> {
        (self.conn.is_open() && !self.closed && !std::mem::replace(&mut self.pinged, true))
            .then(idle_ping)
    }
}

/// The close frame that tells a WebSocket peer why its session ends (code and reason text,
/// RFC 6455 7.4): 1001 "going away" for a shutdown or an idle session, 1008 "policy
/// violation" for a message not finished in time, a rate over its limit or a refused packet,
/// 1000 otherwise.
fn close_frame_for(reason: CloseReason) -> Bytes {
    let (code, text) = match reason {
        CloseReason::Shutdown => (CLOSE_AWAY, "server shutting down"),
        CloseReason::IdleTimeout => (CLOSE_AWAY, "idle timeout"),
        CloseReason::PartialTimeout => (CLOSE_POLICY, "message not completed in time"),
        CloseReason::RateLimited => (CLOSE_POLICY, "rate limit exceeded"),
        CloseReason::Invalid(why) => (CLOSE_POLICY, why),
        _ => (CLOSE_NORMAL, ""),
    };
    close_frame(Some(code), text)
}
