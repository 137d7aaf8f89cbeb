//! [`TlsStage`]: TLS as a stage of a session's pipeline — rustls' connection, which does no
//! I/O, driven by the bytes the session reads and the messages it sends.
//!
//! ```text
//!   input:  read_tls (what rustls takes: <= 4 KiB a time) ─> process_new_packets
//!             ok ──> Down(what rustls must send: a handshake flight, a ticket)
//!                    Ready (the handshake just finished)
//!                    Up(each decrypted record's plaintext, lent from rustls, uncopied)
//!                    Close(PeerClosed) at the peer's close_notify
//!             err ─> Down(the alert), Close(TlsHandshake | Tls): nothing more in or out
//!   output: writer().write(message) ─> encrypted records; flush: write_tls ─> one pooled buffer
//!   close:  close_notify (once; none after a fatal alert)
//! ```
//!
//! The bytes the stage emits are ordered as rustls made them: every record rustls produced
//! is taken out as soon as it is (a handshake flight at once, an encrypted message at the
//! flush of its batch), so a message framed by the stage above and a record of the stage's
//! own never swap places on the wire (TLS records carry implicit sequence numbers).

use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::sync::Arc;

use bytes::{BufMut, Bytes};
use rustls::{AlertDescription, ClientConnection, Connection, PeerIncompatible, ServerConnection};

use super::records::Records;
use crate::session::pipeline::{Emit, Signal, Step};
use crate::session::SendBufferPool;
use crate::CloseReason;

/// Bytes a record adds to its message at most (TLS 1.2 AES-GCM: header 5, explicit nonce 8,
/// tag 16; TLS 1.3: 5 + content type 1 + tag 16), to size the flush's buffer.
const RECORD_OVERHEAD: usize = 29;

/// A record's largest plaintext.
const RECORD_MAX: usize = 16 * 1024;

/// One TLS connection, server or client side.
pub(crate) struct TlsStage {
    conn: Connection,
    /// Plaintext lent up by the last call (consumed from rustls at the next).
    lent: usize,
    /// What the stage owes the session layer, in order (a flight, then a signal).
    owed: VecDeque<Owed>,
    /// The handshake is done (`Ready` was signalled, or the connection came established).
    ready: bool,
    /// A fatal error: the alert is out, nothing more is read or sent.
    failed: bool,
    /// The peer's close_notify arrived (and was reported).
    peer_closed: bool,
    /// Our close_notify was sent.
    closed: bool,
    /// Where the peer is in its records.
    records: Records,
    /// Messages given to rustls since the last flush, and their bytes (the flush's size).
    unflushed: (usize, usize),
}

/// Something the stage has to tell the session layer.
#[derive(Debug)]
enum Owed {
    Down(Bytes),
    Signal(Signal),
}

impl std::fmt::Debug for TlsStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStage")
            .field("ready", &self.ready)
            .field("failed", &self.failed)
            .field("peer_closed", &self.peer_closed)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl TlsStage {
    /// The server side of a new connection.
    ///
    /// # Errors
    /// rustls refused to start a connection with `config` (not with a [`super::TlsConfig`]'s).
    pub(crate) fn server(config: &Arc<rustls::ServerConfig>) -> Result<TlsStage, rustls::Error> {
        Ok(TlsStage::new(Connection::Server(ServerConnection::new(
            config.clone(),
        )?)))
    }

    /// The client side: a connection started (its first flight is sent when the session
    /// opens) or already established over the socket.
    pub(crate) fn client(conn: ClientConnection) -> TlsStage {
        TlsStage::new(Connection::Client(conn))
    }

    fn new(mut conn: Connection) -> TlsStage {
        // The session's send queue limits what is owed to the peer; rustls must not cut a
        // message short on its own.
        conn.set_buffer_limit(None);
        let mut stage = TlsStage {
            ready: !conn.is_handshaking(),
            conn,
            lent: 0,
            owed: VecDeque::new(),
            failed: false,
            peer_closed: false,
            closed: false,
            records: Records::default(),
            unflushed: (0, 0),
        };
        if let Some(first) = stage.take_writes() {
            stage.owed.push_back(Owed::Down(first)); // a client's hello
        }
        stage
    }

    /// Bytes from below; see the module docs.
    pub(crate) fn input<'a>(&'a mut self, data: &'a [u8]) -> Step<'a> {
        if self.lent > 0 {
            self.conn.reader().consume(std::mem::take(&mut self.lent));
        }
        let mut consumed = 0;
        loop {
            if let Some(owed) = self.owed.pop_front() {
                let emit = match owed {
                    Owed::Down(bytes) => Emit::Down(bytes),
                    Owed::Signal(signal) => Emit::Signal(signal),
                };
                return Step {
                    consumed,
                    emit: Some(emit),
                };
            }
            match self.plaintext() {
                Plaintext::Some => {
                    let chunk = self.conn.reader().into_first_chunk().unwrap_or_default();
                    self.lent = chunk.len();
                    return Step {
                        consumed,
                        emit: Some(Emit::Up(chunk)),
                    };
                }
                Plaintext::PeerClosed if !self.peer_closed => {
                    self.peer_closed = true;
                    let signal = Signal::Close(CloseReason::PeerClosed);
                    return Step {
                        consumed,
                        emit: Some(Emit::Signal(signal)),
                    };
                }
                _ => {}
            }
            if self.failed || self.peer_closed {
                return Step::used(data.len()); // nothing more is read
            }
            if consumed == data.len() {
                return Step::used(consumed);
            }
            let rest = &data[consumed..];
            match self.conn.read_tls(&mut &rest[..]) {
                Ok(taken) => {
                    self.records.advance(&rest[..taken]);
                    consumed += taken;
                    self.process();
                }
                // rustls holds at most one record, or a 64 KiB handshake message, unread.
                Err(err) => self.fail(&rustls::Error::General(err.to_string())),
            }
        }
    }

    /// Lets rustls work through what it was given, and owes the session layer the outcome.
    fn process(&mut self) {
        let signal = match self.conn.process_new_packets() {
            Ok(_) if !self.ready && !self.conn.is_handshaking() => {
                self.ready = true;
                Some(Signal::Ready)
            }
            Ok(_) => None,
            Err(err) => return self.fail(&err),
        };
        if let Some(down) = self.take_writes() {
            self.owed.push_back(Owed::Down(down));
        }
        if let Some(signal) = signal {
            self.owed.push_back(Owed::Signal(signal));
        }
    }

    /// A fatal error: the alert rustls queued goes out, then the session closes with the
    /// error's reason; nothing more is read or sent.
    fn fail(&mut self, err: &rustls::Error) {
        let reason = if self.ready {
            CloseReason::Tls(describe(err))
        } else {
            CloseReason::TlsHandshake(describe(err))
        };
        tracing::debug!("TLS: {err}");
        self.failed = true;
        if let Some(alert) = self.take_writes() {
            self.owed.push_back(Owed::Down(alert));
        }
        self.owed.push_back(Owed::Signal(Signal::Close(reason)));
    }

    /// Whatever rustls has to send, in one buffer.
    fn take_writes(&mut self) -> Option<Bytes> {
        if !self.conn.wants_write() {
            return None;
        }
        let mut out = Vec::new();
        while self.conn.wants_write() {
            // Writing into a Vec cannot fail, nor take nothing.
            if !matches!(self.conn.write_tls(&mut out), Ok(n) if n > 0) {
                break;
            }
        }
        Some(Bytes::from(out))
    }

    /// What rustls holds for the stage above.
    fn plaintext(&mut self) -> Plaintext {
        match self.conn.reader().into_first_chunk() {
            Ok([]) => Plaintext::PeerClosed,
            Ok(_) => Plaintext::Some,
            Err(_) => Plaintext::None,
        }
    }

    /// Encrypts `msg` from above (its records leave at [`TlsStage::flush`]). Dropped after a
    /// fatal error or our close_notify: nothing can follow either.
    pub(crate) fn output(&mut self, msg: &[u8]) {
        if !self.failed && !self.closed {
            // Unlimited (see `new`): rustls takes all of it.
            let _ = self.conn.writer().write_all(msg);
            self.unflushed.0 += 1;
            self.unflushed.1 += msg.len();
        }
    }

    /// The records of the messages given since the last flush, in one pooled buffer.
    pub(crate) fn flush(&mut self, pool: &mut SendBufferPool, out: &mut Vec<Bytes>) {
        if !self.conn.wants_write() {
            return;
        }
        let (messages, bytes) = std::mem::take(&mut self.unflushed);
        let hint = bytes + (messages + bytes / RECORD_MAX + 1) * RECORD_OVERHEAD;
        let conn = &mut self.conn;
        let records = pool.write(hint, |buf| {
            let mut writer = buf.writer();
            while conn.wants_write() {
                if !matches!(conn.write_tls(&mut writer), Ok(n) if n > 0) {
                    break;
                }
            }
        });
        out.push(records);
    }

    /// Our close_notify, once (none after a fatal error).
    pub(crate) fn close(&mut self, pool: &mut SendBufferPool, out: &mut Vec<Bytes>) {
        if !self.failed && !std::mem::replace(&mut self.closed, true) {
            self.conn.send_close_notify();
            self.flush(pool, out);
        }
    }

    /// True once the handshake is done.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready
    }

    /// True while a record is half received.
    pub(crate) fn is_mid_message(&self) -> bool {
        !self.failed && self.records.is_mid_record()
    }
}

/// What rustls holds for the stage above.
enum Plaintext {
    /// A decrypted record's bytes.
    Some,
    /// Nothing, and nothing will come: the peer sent close_notify.
    PeerClosed,
    /// Nothing yet.
    None,
}

/// A short, stable description of a TLS failure for the close reason (the log line of the
/// close says it with the peer; rustls' full error is logged at debug).
fn describe(err: &rustls::Error) -> &'static str {
    use rustls::Error as E;
    match err {
        E::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
            "not TLS (plain text on a TLS port?)"
        }
        E::InvalidMessage(_) => "malformed TLS message",
        E::PeerIncompatible(incompatible) => match incompatible {
            PeerIncompatible::NoCipherSuitesInCommon => "no cipher suite in common",
            PeerIncompatible::NoKxGroupsInCommon => "no key exchange group in common",
            PeerIncompatible::NoSignatureSchemesInCommon => "no signature scheme in common",
            PeerIncompatible::Tls12NotOffered
            | PeerIncompatible::Tls12NotOfferedOrEnabled
            | PeerIncompatible::SupportedVersionsExtensionRequired => {
                "no TLS version in common (1.2 or 1.3 required)"
            }
            _ => "the peer's TLS is incompatible",
        },
        E::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired,
        ) => "the peer refused the certificate",
        E::AlertReceived(_) => "the peer sent a fatal alert",
        E::InvalidCertificate(_) | E::NoCertificatesPresented => "certificate refused",
        E::DecryptError => "a record failed to decrypt",
        E::PeerSentOversizedRecord => "a record above the maximum size",
        E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
            "a message out of order"
        }
        E::PeerMisbehaved(_) => "the peer broke the protocol",
        _ => "TLS failure",
    }
}

#[cfg(test)]
#[path = "stage_tests.rs"]
mod tests;
