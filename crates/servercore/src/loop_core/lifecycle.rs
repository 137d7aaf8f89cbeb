//! A session's birth and death: admission, adoption, registration with the driver, and the
//! close that tells the handler exactly once.

use std::io;
use std::net::{SocketAddr, TcpStream};

use super::LoopCore;
use crate::driver::Driver;
use crate::mailbox::Arrival;
use crate::session::pipeline::{Pipeline, Recipe};
use crate::session::{Session, Transport};
use crate::{CloseReason, Context, Handler, SessionId};

impl<H: Handler> LoopCore<H> {
    /// A connection from the loop's own listener (the game port): a session with the port's
    /// stages, if the caps (or, with PROXY, the trusted proxies) allow.
    pub(super) fn admit<D: Driver>(&mut self, driver: &mut D, stream: D::Socket, peer: SocketAddr) {
        let recipe = self.port_recipe.clone();
        self.accepted(driver, stream, peer, &recipe);
    }

    /// An accepted connection that is to speak `recipe`: with a PROXY header first, see
    /// `transport.rs`; otherwise it is admitted now under the caps (else the farewell, if its
    /// bytes are raw, and close).
    pub(super) fn accepted<D: Driver>(
        &mut self,
        driver: &mut D,
        stream: D::Socket,
        peer: SocketAddr,
        recipe: &Recipe,
    ) {
        if self.draining() {
            return; // shutting down: the socket is closed here, never becomes a session
        }
        self.accept_backoff.accepted();
        if recipe.proxy {
            return self.accepted_from_balancer(driver, stream, peer, recipe);
        }
        if self.admit_peer(peer) {
            self.open_with(driver, stream, peer, recipe, true);
        } else {
            let farewell = self
                .state
                .config
                .farewell
                .as_deref()
                .filter(|_| recipe.is_raw());
            driver.refuse(stream, farewell);
        }
    }

    /// Admits one session from `peer` under the caps, or counts and logs the refusal.
    fn admit_peer(&mut self, peer: SocketAddr) -> bool {
        match self.state.admission.admit(peer.ip(), self.state.now) {
            Ok(()) => true,
            Err(refusal) => {
                self.state.stats.refused += 1;
                self.refusal_log.note(self.state.now, peer, refusal);
                false
            }
        }
    }

    /// A connected socket handed over through the mailbox: a client's
    /// ([`Service::adopt`](crate::Service::adopt)), or one a listener thread accepted (the
    /// WebSocket listener).
    pub(super) fn adopt<D: Driver>(&mut self, driver: &mut D, stream: TcpStream, arrival: Arrival) {
        if self.draining() {
            return;
        }
        let (stream, peer) = match driver.adopt(stream) {
            Ok(adopted) => adopted,
            Err(err) => return tracing::debug!("cannot adopt socket: {err}"),
        };
        match arrival {
            Arrival::Adopted(pipeline) => self.open(driver, stream, peer, pipeline, false),
            Arrival::Accepted(recipe) => self.accepted(driver, stream, peer, &recipe),
        }
    }

    /// [`LoopCore::open`] with `recipe`'s stages.
    pub(super) fn open_with<D: Driver>(
        &mut self,
        driver: &mut D,
        stream: D::Socket,
        peer: SocketAddr,
        recipe: &Recipe,
        admitted: bool,
    ) {
        match recipe.build() {
            Ok(pipeline) => self.open(driver, stream, peer, pipeline, admitted),
            Err(err) => {
                tracing::error!(%peer, "cannot start the connection's TLS: {err}");
                if admitted {
                    self.state.admission.release(peer.ip());
                }
            }
        }
    }

    /// Makes the session with `pipeline`'s stages, gives its socket to the driver, and tells
    /// the handler — at once if it has no prelude (a PROXY header, a handshake, an upgrade)
    /// to finish. `admitted`: counted by the session caps (released on close).
    fn open<D: Driver>(
        &mut self,
        driver: &mut D,
        stream: D::Socket,
        peer: SocketAddr,
        pipeline: Option<Box<Pipeline>>,
        admitted: bool,
    ) {
        let limit = self.state.config.recv_buffer_limit;
        let now = self.state.now;
        let ready = pipeline.as_ref().is_none_or(|p| p.is_ready());
        let staged = pipeline.is_some();
        let id = self.state.sessions.insert_with(|id| {
            let mut session = Session::new(id, peer, limit, now);
            session.admitted = admitted;
            if let Some(pipeline) = pipeline {
                session.transport = Transport::Staged(pipeline);
            }
            session
        });
        if let Err(err) = driver.register(id, stream) {
            tracing::warn!(%peer, "cannot register the socket: {err}");
            self.forget(id); // the handler never heard of it
            return;
        }
        // Counted now, whether or not it ever reaches the handler (a WebSocket upgrade or page
        // request, a PROXY header first): every session counted here is closed exactly once,
        // under one reason, in `closed` (see `LoopStats::accepted`).
        self.state.stats.accepted += 1;
        if ready {
            self.introduce(id);
        }
        if staged {
            self.staged_input(id, &[]); // what a stage says first (a TLS client's hello)
        }
        // Counted live only now: whoever waits for it sees the handler's `connected` done.
        self.mailbox().set_live(self.state.sessions.len());
    }

    /// Tells the handler of a session (once it is admitted under its real peer).
    pub(super) fn introduce(&mut self, id: SessionId) {
        let Some(session) = self.state.sessions.get_mut(id) else {
            return;
        };
        session.introduced = true;
        let (peer, proxy) = (session.peer, session.proxy);
        match proxy {
            Some(proxy) => tracing::debug!(session = %id, %peer, %proxy, "connected"),
            None => tracing::debug!(session = %id, %peer, "connected"),
        }
        self.handler
            .connected(&mut Context::new(&mut self.state), id);
    }

    /// `accept` failed for the listener's sake (the driver skips errors about one
    /// connection): pauses accepting (see [`AcceptBackoff`](crate::accept_backoff::AcceptBackoff)).
    /// Exhaustion (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) is expected under load; anything
    /// else is logged as unexpected. Either would fail again at once.
    pub(super) fn accept_failed(&mut self, err: &io::Error) {
        let delay = self.accept_backoff.pause(self.state.now);
        self.state.stats.accept_pauses += 1;
        let loop_index = self.state.index;
        if crate::accept_backoff::AcceptBackoff::is_exhaustion(err) {
            tracing::warn!(loop_index, "accept: {err}; pausing accepts for {delay:?}");
        } else {
            tracing::warn!(
                loop_index,
                "accept failed unexpectedly: {err}; pausing accepts for {delay:?}"
            );
        }
    }

    /// Closes session `id` now: the driver lets go of its socket, the handler is told.
    pub(super) fn close_session<D: Driver>(
        &mut self,
        driver: &mut D,
        id: SessionId,
        reason: CloseReason,
    ) {
        if self.state.sessions.get(id).is_none() {
            return;
        }
        if driver.close(id) {
            self.accept_backoff.descriptor_freed(self.state.now);
        }
        self.remove(id, reason);
    }

    /// Removes the session and tells the handler (the socket is the driver's business).
    fn remove(&mut self, id: SessionId, reason: CloseReason) {
        let Some(mut session) = self.forget(id) else {
            return;
        };
        self.closed_since_trim = true;
        self.state.stats.closed[reason.index()] += 1;
        if !session.introduced {
            self.mailbox().set_live(self.state.sessions.len());
            // Never a session for the handler (a health check, a bad or missing PROXY
            // header, a refusal after one): logged where it was decided.
            tracing::debug!(session = %id, peer = %session.peer, %reason, "closed before it was introduced");
            return;
        }
        if reason.is_abnormal() {
            tracing::info!(session = %id, peer = %session.peer, %reason, "disconnected");
        } else {
            tracing::debug!(session = %id, peer = %session.peer, %reason, "disconnected");
        }
        if let Some(record) = session.record.take() {
            session.data.insert(record); // for `Context::take_record` in `disconnected`
        }
        self.state.closing = Some((id, std::mem::take(&mut session.data)));
        drop(session);
        self.handler
            .disconnected(&mut Context::new(&mut self.state), id, reason);
        self.state.closing = None; // the session's data is dropped here
                                   // Counted gone only now: whoever waits for it sees the handler's side done too.
        self.mailbox().set_live(self.state.sessions.len());
    }

    /// Takes the session out of the table and releases its admission.
    fn forget(&mut self, id: SessionId) -> Option<Session> {
        self.state.drop_reply(id);
        let session = self.state.sessions.remove(id)?;
        if session.admitted {
            self.state.admission.release(session.peer.ip());
        }
        Some(session)
    }

    /// Removes every session, telling the handler `reason` (the loop cannot go on; its
    /// driver lets go of the sockets when it is dropped).
    pub(crate) fn close_all(&mut self, reason: CloseReason) {
        for id in self.session_ids() {
            self.remove(id, reason);
        }
    }
}
