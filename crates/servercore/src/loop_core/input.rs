//! Input: what happens to bytes from the moment the driver lends them until the handler has
//! consumed them — the same on both models.
//!
//! ```text
//!   Driver::read ──Data──> reading allowed?  yes ─> handler.received(held + new) ─> keep the rest
//!                                            no  ─> hold in RecvBuffer (within recv_buffer_limit)
//!                ──Eof───> nothing held?     yes ─> Closing(PeerClosed): flush, then close
//!                                            no  ─> remember; reported after the held bytes
//!   resume (send queue drained below half the pause mark):
//!       show the held bytes, report a held EOF, Driver::set_reading(true), read what waited
//! ```
//!
//! A readiness driver stops reading as soon as it is told (the kernel keeps the rest); a
//! completion driver may still finish receives that were in flight when the pause began.
//! Those are held here, in the session's `RecvBuffer`, so they count against its limit on
//! both models; the pause stops further receives, so what a completion driver brings after it
//! is at most one batch, `Driver::read_ahead` (its whole buffer ring), which the hold may
//! use on top of `recv_buffer_limit`. Anything past that closes the session
//! (`RecvBufferFull`).

use super::LoopCore;
use crate::driver::{Driver, Input};
use crate::session::RecvBuffer;
use crate::session::{SessionState, Transport};
use crate::{CloseReason, Context, Handler, SessionId};

impl<H: Handler> LoopCore<H> {
    /// Shows the handler `id`'s input until the driver has no more (or the session is gone).
    pub(super) fn take_input<D: Driver>(&mut self, driver: &mut D, id: SessionId) {
        let read_ahead = driver.read_ahead();
        let mut synced = false;
        while self.state.sessions.get(id).is_some() {
            match driver.read(id) {
                Input::Data(data) => self.received(id, data, read_ahead),
                Input::Eof => {
                    self.peer_closed(id);
                    break;
                }
                Input::Failed(err) => {
                    self.close_session(driver, id, CloseReason::from_io(&err));
                    return;
                }
                Input::Wait if synced => return, // nothing changed since the last sync
                Input::Wait => break,
            }
            self.sync_reading(driver, id); // a pause takes effect before the next read
            synced = true;
        }
        self.sync_reading(driver, id);
    }

    /// Tells the driver whether `id` may read, if that changed.
    pub(super) fn sync_reading<D: Driver>(&mut self, driver: &mut D, id: SessionId) {
        let Some(session) = self.state.sessions.get_mut(id) else {
            return;
        };
        let allowed = match session.state {
            SessionState::Open => !session.read_paused && session.close_after_held.is_none(),
            // Read and discard, within `lingering_bytes`: unread input would make the close a
            // reset (lingering close).
            SessionState::Closing { .. } | SessionState::Lingering { .. } => {
                session.discarded <= self.state.config.lingering_bytes
            }
            SessionState::Aborting { .. } => false,
        };
        if session.reading != allowed {
            session.reading = allowed;
            driver.set_reading(id, allowed);
        }
    }

    /// Bytes arrived on `id`: shown to the handler, or held while reading is paused (up to
    /// `recv_buffer_limit` plus what the driver may have had in flight, `read_ahead`).
    fn received(&mut self, id: SessionId, data: &[u8], read_ahead: usize) {
        let Some(session) = self.state.sessions.get_mut(id) else {
            return;
        };
        session.last_recv = self.state.now;
        match session.state {
            SessionState::Open => {}
            SessionState::Closing { .. } | SessionState::Lingering { .. } => {
                // Closing: input is no longer delivered, only read and thrown away. Past
                // `lingering_bytes` reading stops (`sync_reading`), and the session closes at
                // its lingering deadline: what is queued for the peer still leaves, never cut
                // short because the peer kept sending.
                self.state.stats.bytes_in += data.len() as u64;
                self.state.stats.bytes_discarded += data.len() as u64;
                session.discarded += data.len();
                return;
            }
            SessionState::Aborting { .. } => return,
        }
        self.state.stats.bytes_in += data.len() as u64;
        if matches!(session.transport, Transport::Staged(_)) {
            // Through the stages at once, paused or not: what a completion driver still
            // brings after a pause is at most `read_ahead`, and the stages bound their own
            // buffers (a partial frame header, one TLS record).
            self.staged_input(id, data);
            return;
        }
        if session.read_paused {
            match session.recv.append_held(data, read_ahead) {
                Ok(()) => {
                    session.held_unseen += data.len();
                    let held = &mut self.state.stats.recv_held_high_water;
                    *held = (*held).max(session.recv.len() as u64);
                }
                Err(full) => self.refuse_input(id, full.limit),
            }
            return;
        }
        self.offer(id, data);
    }

    /// Shows the handler what `id` holds followed by `data` (straight from the driver's
    /// buffer when nothing is held) and keeps what it did not consume.
    pub(super) fn offer(&mut self, id: SessionId, data: &[u8]) {
        let Some(session) = self.state.sessions.get_mut(id) else {
            return;
        };
        if session.recv.is_empty() && session.partial_since.is_none() {
            // Nothing held: the handler reads the driver's buffer, and only what it leaves is
            // copied.
            let consumed = self.deliver(id, data);
            if consumed < data.len() {
                self.hold_rest(id, &data[consumed..]);
            }
            return;
        }
        let mut held = std::mem::replace(&mut session.recv, RecvBuffer::new(0));
        let (consumed, result) = match held.append(data) {
            Ok(()) => {
                let consumed = self.deliver(id, held.readable());
                held.consume(consumed);
                (consumed, Ok(()))
            }
            Err(full) => (0, Err(full)),
        };
        self.keep(id, held, consumed);
        if let Err(full) = result {
            self.refuse_input(id, full.limit);
        }
    }

    /// Keeps `rest`, what the handler left of a read when `id` held nothing before it, and
    /// starts the partial-packet clock.
    fn hold_rest(&mut self, id: SessionId, rest: &[u8]) {
        let Some(session) = self.state.sessions.get_mut(id) else {
            return;
        };
        match session.recv.append(rest) {
            Ok(()) => session.partial_since = Some(self.state.now),
            Err(full) => self.refuse_input(id, full.limit),
        }
    }

    /// Shows the handler the bytes held while `id` was paused, a read's worth more at a time
    /// for as long as reading stays allowed (so the send queue stays within one read of the
    /// pause mark, as when reading from the socket).
    fn offer_held(&mut self, id: SessionId) {
        let chunk = self.state.config.read_chunk.max(1);
        loop {
            let Some(session) = self.state.sessions.get_mut(id) else {
                return;
            };
            if session.held_unseen == 0
                || session.read_paused
                || session.state != SessionState::Open
            {
                return;
            }
            let step = session.held_unseen.min(chunk);
            let shown = session.recv.len() - session.held_unseen + step;
            session.held_unseen -= step;
            let mut held = std::mem::replace(&mut session.recv, RecvBuffer::new(0));
            let consumed = self.deliver(id, &held.readable()[..shown]);
            held.consume(consumed);
            self.keep(id, held, consumed);
        }
    }

    /// Puts back what the handler left of `id`'s input and restarts or keeps the
    /// partial-packet clock.
    fn keep(&mut self, id: SessionId, held: RecvBuffer, consumed: usize) {
        let Some(session) = self.state.sessions.get_mut(id) else {
            return;
        };
        // The partial-packet clock runs from when the unfinished message began: the first
        // held byte, or the last time the handler consumed something (progress).
        session.partial_since = match (held.is_empty(), session.partial_since) {
            (true, _) => None,
            (false, since) if consumed == 0 && since.is_some() => since,
            (false, _) => Some(self.state.now),
        };
        session.recv = held;
    }

    /// `id` sent more than its receive buffer may hold: closed at once.
    pub(super) fn refuse_input(&mut self, id: SessionId, limit: usize) {
        if let Some(session) = self.state.sessions.get_mut(id) {
            session.recv.clear();
            session.held_unseen = 0;
        }
        self.state.abort(id, CloseReason::RecvBufferFull { limit });
    }

    /// Calls the handler; returns the bytes it consumed (clamped to what it was shown).
    fn deliver(&mut self, id: SessionId, data: &[u8]) -> usize {
        let consumed = self
            .handler
            .received(&mut Context::new(&mut self.state), id, data);
        if consumed > data.len() {
            tracing::error!(session = %id, consumed, len = data.len(), "handler consumed more than it was given");
            return data.len();
        }
        consumed
    }

    /// The peer finished sending (FIN). The session flushes what it owes, then closes; if
    /// bytes are held unseen, the EOF waits behind them.
    fn peer_closed(&mut self, id: SessionId) {
        let Some(session) = self.state.sessions.get_mut(id) else {
            return;
        };
        if session.held_unseen > 0 && session.state == SessionState::Open {
            session.eof_held = true; // shown once the held bytes have been
            return;
        }
        session.peer_eof = true;
        if !session.introduced && session.state == SessionState::Open {
            self.prelude_cut_short(id); // a header or handshake never finished
            return;
        }
        match session.state {
            SessionState::Open => {
                session.state = SessionState::Closing {
                    reason: CloseReason::PeerClosed,
                };
                self.state.schedule(id);
            }
            // The end of a lingering close: nothing is left unread, close without a reset.
            SessionState::Lingering { reason } => self.state.abort(id, reason),
            SessionState::Closing { .. } | SessionState::Aborting { .. } => {}
        }
    }

    /// Backpressure lifted: shows what was held while paused (and an EOF behind it), lets
    /// the driver read again and takes what waited.
    pub(super) fn resume_reading<D: Driver>(&mut self, driver: &mut D, id: SessionId) {
        self.offer_held(id);
        if let Some(session) = self.state.sessions.get_mut(id) {
            if session.held_unseen == 0 {
                let close = session.close_after_held.take();
                if std::mem::take(&mut session.eof_held) {
                    self.peer_closed(id);
                }
                if let Some(reason) = close {
                    self.state.close(id, reason);
                }
            }
        }
        self.sync_reading(driver, id);
        if self.state.sessions.get(id).is_some_and(|s| s.reading) {
            self.take_input(driver, id);
        }
    }
}
