//! WebSocket sessions in the shared loop: the RFC 6455 state machine
//! ([`WsConnection`](crate::websocket::WsConnection), sans I/O) runs over the bytes the
//! driver lends, on both models; the handler sees only the messages' bytes, as one stream.
//!
//! ```text
//!   Upgrading ─(HTTP request)─> 101 queued, Open: handler.connected   (or the page / an HTTP error, then a close)
//!   Open: frames ──binary message──> offered to the handler like TCP bytes
//!                ──ping──> pong queued      ──close──> close frame echoed, graceful close
//!                ──text, unmasked, too large, …──> close frame with its code, close (Protocol)
//!   Context::send(id, buf) ─> [binary frame header][buf] (the shared buffer is not copied)
//!   idle (half the idle timeout without input) ─> one ping, which the browser answers
//! ```

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::LoopCore;
use crate::session::{SessionState, Violation};
use crate::websocket::{WsConfig, WsConnection, WsEvent};
use crate::{CloseReason, Context, Handler, SessionId};

/// The close frame that tells a WebSocket peer why its session ends (code and reason text,
/// RFC 6455 7.4): 1001 "going away" for a shutdown or an idle session, 1008 "policy
/// violation" for a message not finished in time or a rate over its limit, 1000 otherwise.
pub(crate) fn ws_close_frame(reason: CloseReason) -> Bytes {
    use crate::websocket::{close_frame, CLOSE_AWAY, CLOSE_NORMAL, CLOSE_POLICY};
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

/// Ping a WebSocket session after this long without input when no idle timeout is set.
const PING_WITHOUT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A WebSocket session's protocol state, kept on the session (its `UserData`).
pub(crate) struct WsSession {
    conn: WsConnection,
    /// Input the state machine could not use yet: part of the upgrade request or of a frame
    /// header (bounded by the request limit, or 14 bytes).
    pending: Vec<u8>,
    /// A ping was sent since the last input.
    pinged: bool,
}

impl WsSession {
    pub(crate) fn new(config: &Arc<WsConfig>) -> WsSession {
        WsSession {
            conn: WsConnection::new(WsConfig::clone(config)),
            pending: Vec::new(),
            pinged: false,
        }
    }
}

impl<H: Handler> LoopCore<H> {
    /// Input of a WebSocket session (upgrading or open); returns false if `id` is not one.
    pub(super) fn ws_received(&mut self, id: SessionId, data: &[u8]) -> bool {
        let Some(session) = self.state.sessions.get_mut(id) else {
            return true;
        };
        // Taken off the session while the handler runs (it may use the context), put back
        // after: the box moves, nothing is allocated per read.
        let Some(mut ws) = session.data.remove_boxed::<WsSession>() else {
            return false;
        };
        session.last_recv = self.state.now;
        self.state.stats.bytes_in += data.len() as u64;
        ws.pinged = false;
        let input: Cow<'_, [u8]> = if ws.pending.is_empty() {
            Cow::Borrowed(data)
        } else {
            let mut joined = std::mem::take(&mut ws.pending);
            joined.extend_from_slice(data);
            Cow::Owned(joined)
        };
        let mut at = 0;
        while self.ws_live(id) {
            let step = ws.conn.advance(&input[at..]);
            at += step.consumed;
            match step.event {
                None => break,
                Some(event) => self.ws_event(id, event),
            }
        }
        ws.pending = input[at..].to_vec();
        if let Some(session) = self.state.sessions.get_mut(id) {
            // A frame is on its way (part of its header, or of its message): the partial-
            // message deadline runs, as for a partial packet over TCP.
            let unfinished = ws.conn.is_mid_message() || !ws.pending.is_empty();
            if unfinished && session.partial_since.is_none() {
                session.partial_since = Some(self.state.now);
            }
            session.data.put_boxed(ws);
        }
        true
    }

    /// True while the session takes input: upgrading or open.
    fn ws_live(&self, id: SessionId) -> bool {
        self.state
            .sessions
            .get(id)
            .is_some_and(|s| matches!(s.state, SessionState::Upgrading { .. } | SessionState::Open))
    }

    fn ws_event(&mut self, id: SessionId, event: WsEvent<'_>) {
        match event {
            WsEvent::Handshake { response, .. } => {
                self.push_raw(id, response);
                if let Some(session) = self.state.sessions.get_mut(id) {
                    session.state = SessionState::Open;
                    session.frame_messages = true;
                    session.partial_since = None;
                }
                self.introduce(id);
            }
            WsEvent::Page { response } => {
                self.push_raw(id, response);
                Context::new(&mut self.state).close_with(id, CloseReason::Local);
            }
            WsEvent::Message(payload) => self.offer(id, payload),
            WsEvent::Reply(reply) => self.push_raw(id, reply),
            WsEvent::Closed { reply, .. } => self.ws_close(id, reply, CloseReason::PeerClosed),
            WsEvent::Refused { error, reply } => {
                let peer = self.state.sessions.get(id).map(|s| s.peer);
                tracing::info!(session = %id, ?peer, "websocket refused: {error}");
                let violation = Violation {
                    rule: "websocket protocol",
                    value: u64::from(error.close_code().or(error.http_status()).unwrap_or(0)),
                    limit: 0,
                };
                self.ws_close(id, reply, CloseReason::Protocol(violation));
            }
        }
    }

    /// Queues the last frame (or HTTP error) and closes gracefully, with no close frame of
    /// our own on top.
    fn ws_close(&mut self, id: SessionId, last: Bytes, reason: CloseReason) {
        self.push_raw(id, last);
        if let Some(session) = self.state.sessions.get_mut(id) {
            session.frame_messages = false;
        }
        Context::new(&mut self.state).close_with(id, reason);
    }

    /// Queues protocol bytes as they are (no message framing).
    fn push_raw(&mut self, id: SessionId, bytes: Bytes) {
        if let Some(session) = self.state.sessions.get_mut(id) {
            session.send.push(bytes);
            self.state.schedule(id);
        }
    }

    /// The sweep's part for WebSocket sessions: an upgrade that takes longer than the
    /// partial-packet deadline is closed; an open session quiet for half the idle timeout
    /// gets one ping (a proxy in between then sees traffic, and a live browser answers).
    pub(super) fn ws_sweep(&mut self, id: SessionId) -> bool {
        let now = self.state.now;
        let config = &self.state.config;
        let ping_after = config
            .idle_timeout
            .map_or(PING_WITHOUT_IDLE_TIMEOUT, |t| t / 2);
        let partial = config.partial_timeout;
        let Some(session) = self.state.sessions.get_mut(id) else {
            return false;
        };
        if let SessionState::Upgrading { since } = session.state {
            if partial.is_some_and(|t| now.duration_since(since) >= t) {
                Context::new(&mut self.state).abort(id, CloseReason::PartialTimeout);
            }
            return true;
        }
        if !session.frame_messages || now.duration_since(session.last_recv) < ping_after {
            return false;
        }
        let Some(ws) = session.data.get_mut::<WsSession>() else {
            return false;
        };
        if !std::mem::replace(&mut ws.pinged, true) {
            self.push_raw(id, crate::websocket::idle_ping());
        }
        false
    }
}
