//! Transport stages in the shared loop: a session with a pipeline (a PROXY header, a
//! WebSocket upgrade, TLS — `session/pipeline.rs`) has its input run through it and its
//! output framed by it; what the stages signal, the loop carries out. The same on both
//! models, and nothing here knows what a stage is inside.
//!
//! ```text
//!   accept ─(PROXY on, peer not a trusted proxy)─> closed at once            untrusted_proxy
//!          ─> session: Open, not introduced, its pipeline not ready
//!   input ──> Pipeline::input ─Up──> offer (the handler, RecvBuffer)
//!                             ─Down─> queued (a 101, a pong, a TLS record)
//!                             ─Source(client)─> admit(client) ─ok─> (all ready) handler.connected
//!                                                            └─refused─> close   refused
//!                             ─Source(LOCAL)─> abort, nobody's limit            health_check
//!                             ─Ready (the last prelude)─> handler.connected
//!                             ─Close / Abort─> close_with / abort
//!   sweep: a prelude past its deadline ─> abort (proxy_header_timeout, partial_timeout);
//!          an open session quiet for half the idle timeout ─> the stages' keep-alive (a ping)
//!   send:  Pipeline::output (framed at once; while the session's own input runs, after it)
//!   close: Pipeline::close (each stage's farewell) ahead of the FIN, at the flush
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use super::LoopCore;
use crate::driver::Driver;
use crate::proxy::ProxiedSource;
use crate::session::pipeline::{Prelude, Recipe, Signal, Sink};
use crate::session::{SessionState, Transport, Violation};
use crate::{CloseReason, Handler, SessionId};

/// Ping a quiet session (its stages' keep-alive) after this long when no idle timeout is set.
const PING_WITHOUT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

impl<H: Handler> LoopCore<H> {
    /// A connection whose recipe starts with a PROXY header: from a trusted balancer it
    /// becomes a session, admitted once the header names the client; from anywhere else it
    /// is closed at once (counted as accepted and closed, so the counters balance).
    pub(super) fn accepted_from_balancer<D: Driver>(
        &mut self,
        driver: &mut D,
        stream: D::Socket,
        peer: SocketAddr,
        recipe: &Recipe,
    ) {
        let trusted = self.state.config.proxy_protocol.as_ref();
        if trusted.is_some_and(|p| p.trusted_proxies.contains(peer.ip())) {
            self.open_with(driver, stream, peer, recipe, false);
            return;
        }
        let reason = CloseReason::UntrustedProxy;
        self.state.stats.accepted += 1;
        self.state.stats.closed[reason.index()] += 1;
        self.refusal_log.note(self.state.now, peer, reason);
    }

    /// Bytes from the socket of a session with stages: through its pipeline, taken out of the
    /// session meanwhile (what the handler sends to it waits, then is framed in order).
    pub(super) fn staged_input(&mut self, id: SessionId, data: &[u8]) {
        let Some(session) = self.state.sessions.get_mut(id) else {
            return;
        };
        let Transport::Staged(mut pipeline) =
            std::mem::replace(&mut session.transport, Transport::Busy)
        else {
            unreachable!("called for a session with stages")
        };
        let preludes_left = pipeline.preludes_left();
        let mut sink = LoopSink {
            core: self,
            id,
            preludes_left,
        };
        pipeline.input(data, &mut sink);
        self.put_back(id, pipeline);
    }

    /// Returns `id`'s pipeline (or, once every stage stepped aside, makes the session raw)
    /// after queueing what its stages sent toward the peer, then what the application sent
    /// to the session meanwhile (framed).
    fn put_back(&mut self, id: SessionId, mut pipeline: Box<crate::session::pipeline::Pipeline>) {
        let state = &mut self.state;
        let Some(session) = state.sessions.get_mut(id) else {
            return;
        };
        let downs = pipeline.downs();
        let aborted = matches!(session.state, SessionState::Aborting { .. });
        if aborted {
            downs.clear();
            session.unframed.clear(); // what it was owed goes with it
        }
        let mut pending = !downs.is_empty();
        for buf in downs.drain(..) {
            session.send.push(buf);
        }
        let mut unframed = std::mem::take(&mut session.unframed);
        pending |= !unframed.is_empty();
        for msg in unframed.drain(..) {
            if pipeline.is_empty() {
                session.send.push(msg);
            } else {
                for buf in pipeline.output(msg, &mut state.pool).drain(..) {
                    session.send.push(buf);
                }
            }
        }
        session.unframed = unframed; // its capacity, for the next time
        if session.state == SessionState::Open
            && pipeline.is_mid_message()
            && session.partial_since.is_none()
        {
            session.partial_since = Some(state.now); // a frame is on its way
        }
        session.transport = if pipeline.is_empty() {
            Transport::Raw
        } else {
            Transport::Staged(pipeline)
        };
        if pending {
            state.schedule(id);
        }
    }

    /// A stage's signal for `id`; `last_prelude` says the pipeline is ready with it.
    fn stage_signal(&mut self, id: SessionId, signal: Signal, last_prelude: bool) {
        match signal {
            Signal::Ready if last_prelude => self.introduce_if_open(id),
            Signal::Ready => {}
            Signal::Source(ProxiedSource::Local) => {
                self.state.abort(id, CloseReason::HealthCheck);
            }
            Signal::Source(ProxiedSource::Client(client)) => {
                self.admit_proxied(id, Some(client), last_prelude)
            }
            // The balancer cannot name the client: served as the connection itself.
            Signal::Source(ProxiedSource::Unknown) => self.admit_proxied(id, None, last_prelude),
            Signal::Close(reason) => {
                self.log_stage_close(id, reason);
                self.state.close(id, reason);
            }
            Signal::Abort(reason) => {
                self.log_stage_close(id, reason);
                self.state.abort(id, reason);
            }
        }
    }

    /// A stage ends `id` for a fault of the peer's (a bad header, handshake or frame): one
    /// line with the peer, whether or not the handler ever heard of the session.
    fn log_stage_close(&self, id: SessionId, reason: CloseReason) {
        if let Some(session) = self.state.sessions.get(id).filter(|_| reason.is_abnormal()) {
            tracing::info!(session = %id, peer = %session.peer, %reason, "closing");
        }
    }

    /// The last prelude is done: the handler hears of the session unless it is closing
    /// already (a PROXY header's client refused by the caps, a health check).
    fn introduce_if_open(&mut self, id: SessionId) {
        if self
            .state
            .sessions
            .get(id)
            .is_some_and(|s| s.state == SessionState::Open && !s.introduced)
        {
            self.introduce(id);
        }
    }

    /// The PROXY header named `client` (`None`: it could not, the connection is its own
    /// client): the session becomes that client's, under its limits, and is introduced if no
    /// other prelude is left.
    fn admit_proxied(&mut self, id: SessionId, client: Option<SocketAddr>, last_prelude: bool) {
        let now = self.state.now;
        let Some(session) = self.state.sessions.get_mut(id) else {
            return;
        };
        if let Some(client) = client {
            session.proxy = Some(std::mem::replace(&mut session.peer, client));
        }
        let client = session.peer;
        match self.state.admission.admit(client.ip(), now) {
            Ok(()) => {
                session.admitted = true;
                if last_prelude {
                    self.introduce(id);
                }
            }
            Err(refusal) => {
                session.recv.clear();
                // The farewell is the application's bytes: only for a session that speaks them
                // as they are (no TLS or WebSocket prelude above the header).
                if last_prelude {
                    if let Some(farewell) = self.state.config.farewell.clone() {
                        session.unframed.push(farewell);
                    }
                }
                self.state.stats.refused += 1;
                self.refusal_log.note(now, client, refusal);
                self.state.close(id, CloseReason::Refused);
            }
        }
    }

    /// The peer closed before `id`'s prelude was done: a truncated PROXY header, or a
    /// handshake cut short (never introduced either way).
    pub(super) fn prelude_cut_short(&mut self, id: SessionId) {
        let Some(session) = self.state.sessions.get(id) else {
            return;
        };
        let reason = match &session.transport {
            Transport::Staged(pipeline) if pipeline.prelude() == Some(Prelude::Header) => {
                CloseReason::ProxyHeader(Violation {
                    rule: "connection closed before its PROXY header",
                    value: session.recv.len() as u64,
                    limit: 0,
                })
            }
            _ => CloseReason::PeerClosed,
        };
        self.state.abort(id, reason);
    }

    /// The sweep's part for sessions with stages: a prelude past its deadline is cut (true:
    /// the session is in its prelude, nothing else applies yet); an open session quiet for
    /// half the idle timeout gets its stages' keep-alive once.
    pub(super) fn stage_sweep(&mut self, id: SessionId) -> bool {
        let now = self.state.now;
        let config = &self.state.config;
        let ping_after = config
            .idle_timeout
            .map_or(PING_WITHOUT_IDLE_TIMEOUT, |t| t / 2);
        let header = config.proxy_protocol.as_ref().map(|p| p.header_timeout);
        let handshake = config.partial_timeout;
        let Some(session) = self.state.sessions.get_mut(id) else {
            return false;
        };
        let Transport::Staged(pipeline) = &mut session.transport else {
            return false;
        };
        if let Some(prelude) = pipeline.prelude() {
            if session.state != SessionState::Open {
                return true; // closing already: its own deadline
            }
            let (limit, reason) = match prelude {
                Prelude::Header => (header, CloseReason::ProxyHeaderTimeout),
                Prelude::Handshake => (handshake, CloseReason::PartialTimeout),
            };
            if limit.is_some_and(|t| now.duration_since(session.opened_at) >= t) {
                self.state.abort(id, reason);
            }
            return true;
        }
        if session.state == SessionState::Open
            && now.duration_since(session.last_recv) >= ping_after
        {
            let bufs = pipeline.idle(&mut self.state.pool);
            if !bufs.is_empty() {
                for buf in bufs.drain(..) {
                    session.send.push(buf);
                }
                self.state.schedule(id);
            }
        }
        false
    }
}

impl crate::loop_core::LoopState {
    /// Queues `id`'s stages' farewells for a graceful close (each stage once).
    pub(crate) fn queue_farewells(&mut self, id: SessionId, reason: CloseReason) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        if let Transport::Staged(pipeline) = &mut session.transport {
            for buf in pipeline.close(reason, &mut self.pool).drain(..) {
                session.send.push(buf);
            }
        }
    }
}

/// The loop's side of a pipeline's output for one session.
struct LoopSink<'a, H> {
    core: &'a mut LoopCore<H>,
    id: SessionId,
    /// Preludes not done yet: the last one's `Ready` (or `Source`) introduces the session.
    preludes_left: usize,
}

impl<H: Handler> Sink for LoopSink<'_, H> {
    fn up(&mut self, data: &[u8]) {
        self.core.offer(self.id, data);
    }

    fn signal(&mut self, signal: Signal) {
        if matches!(signal, Signal::Ready | Signal::Source(_)) {
            self.preludes_left = self.preludes_left.saturating_sub(1);
        }
        let last = self.preludes_left == 0;
        self.core.stage_signal(self.id, signal, last);
    }

    fn pool(&mut self) -> &mut crate::session::SendBufferPool {
        &mut self.core.state.pool
    }

    fn stopped(&self) -> bool {
        !self
            .core
            .state
            .sessions
            .get(self.id)
            .is_some_and(|s| s.state == SessionState::Open)
    }
}
