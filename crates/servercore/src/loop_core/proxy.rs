//! PROXY protocol (v1/v2) in the shared loop: a connection from a trusted load balancer is a
//! session *awaiting its header* until the header names the real client; only then is it
//! admitted under that client's limits and introduced to the handler.
//!
//! ```text
//!   accept ─(peer not in trusted_proxies)─> closed at once        untrusted_proxy
//!          └─> AwaitingHeader ─(bytes)─> read_proxy_header over the RecvBuffer:
//!                 Incomplete ──────────────> wait (header_timeout, swept)  proxy_header_timeout
//!                 Err ─────────────────────> abort                         proxy_header
//!                 Complete, LOCAL ─────────> abort, nobody's limit         health_check
//!                 Complete, client address ─> admit(client) ─ok─> Open: handler.connected,
//!                 Complete, UNKNOWN ───────> admit(the connection's own peer)   then the
//!                                                    │                 bytes after it
//!                                                    └─refused─> farewell, close  refused
//! ```
//!
//! No syscall is added: the header is parsed from the bytes the driver already delivered,
//! and the bytes behind it stay in the session's `RecvBuffer`, in order, for the handler.

use std::net::SocketAddr;

use super::LoopCore;
use crate::proxy_header::{read_proxy_header, ProxiedSource, ProxyHeaderRead};
use crate::session::{SessionState, Violation};
use crate::{CloseReason, Context, Handler, SessionId};

impl<H: Handler> LoopCore<H> {
    /// Bytes of a session awaiting its PROXY header: holds them and tries to read it.
    pub(super) fn read_proxy_header(&mut self, id: SessionId, data: &[u8]) {
        let Some(session) = self.state.sessions.get_mut(id) else {
            return;
        };
        if let Err(full) = session.recv.append(data) {
            self.refuse_input(id, full.limit);
            return;
        }
        match read_proxy_header(session.recv.readable()) {
            Ok(ProxyHeaderRead::Incomplete) => {}
            Ok(ProxyHeaderRead::Complete { consumed, source }) => {
                session.recv.consume(consumed);
                match source {
                    ProxiedSource::Client(client) => self.admit_proxied(id, Some(client)),
                    // The balancer cannot name the client: served as the connection itself.
                    ProxiedSource::Unknown => self.admit_proxied(id, None),
                    ProxiedSource::Local => {
                        session.recv.clear();
                        Context::new(&mut self.state).abort(id, CloseReason::HealthCheck);
                    }
                }
            }
            Err(err) => {
                let proxy = session.peer;
                session.recv.clear();
                tracing::info!(session = %id, %proxy, "closing: bad PROXY header: {err}");
                let reason = CloseReason::ProxyHeader((&err).into());
                Context::new(&mut self.state).abort(id, reason);
            }
        }
    }

    /// The peer closed before its whole header arrived.
    pub(super) fn header_truncated(&mut self, id: SessionId) {
        let held = self.state.sessions.get(id).map_or(0, |s| s.recv.len());
        let violation = Violation {
            rule: "connection closed before its PROXY header",
            value: held as u64,
            limit: 0,
        };
        Context::new(&mut self.state).abort(id, CloseReason::ProxyHeader(violation));
    }

    /// The header named `client`: the session becomes that client's, under its limits. With
    /// no client named (`UNKNOWN`), it stays the connection's own peer's.
    fn admit_proxied(&mut self, id: SessionId, client: Option<SocketAddr>) {
        let now = self.state.now;
        let Some(session) = self.state.sessions.get_mut(id) else {
            return;
        };
        if let Some(client) = client {
            session.proxy = Some(std::mem::replace(&mut session.peer, client));
        }
        let client = session.peer;
        let admitted = self.state.admission.admit(client.ip(), now);
        match admitted {
            Ok(()) => {
                session.admitted = true;
                session.state = SessionState::Open;
                let held = !session.recv.is_empty();
                self.introduce(id);
                if held {
                    self.offer(id, &[]); // what the client sent right behind the header
                }
            }
            Err(refusal) => {
                session.recv.clear();
                if let Some(farewell) = self.state.config.farewell.clone() {
                    session.send.push(farewell);
                }
                session.state = SessionState::Closing {
                    reason: CloseReason::Refused,
                };
                self.state.stats.refused += 1;
                self.refusal_log.note(now, client, refusal);
                self.state.schedule(id);
            }
        }
    }
}
