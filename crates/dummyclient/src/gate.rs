//! [`HandshakeGate`]: the connect phase's handshakes, between a connected socket and the
//! event loop that adopts it.
//!
//! ```text
//!   plain TCP          the socket as it is                          -> Service::adopt
//!   --websocket        the upgrade, blocking                        -> Service::adopt
//!   --tls              the first client's handshake blocking (a probe: a wrong CA or a
//!                      port that is not TLS fails the run at once with the reason), the
//!                      others started and finished in the loops    -> Service::adopt_tls
//!   --tls --websocket  each handshake blocking, then the upgrade over TLS -> adopt_tls
//! ```
//!
//! The first failure stops the rest (their sockets are dropped) and is reported by
//! [`HandshakeGate::finish`].

use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use servercore::tls::rustls::ClientConnection;

use crate::tls::TlsClient;
use crate::websocket::{handshake, handshake_tls, HandshakeError};

/// A socket ready for the event loop.
#[derive(Debug)]
pub enum Connected {
    /// Bytes as they are (TCP, or WebSocket after its upgrade).
    Plain(TcpStream),
    /// Through this TLS connection (started, or established).
    Tls(TcpStream, Box<ClientConnection>),
}

/// The connect phase's handshakes (see the module docs).
#[derive(Debug)]
pub struct HandshakeGate {
    websocket: bool,
    tls: Option<Arc<TlsClient>>,
    timeout: Duration,
    /// A TLS handshake succeeded (the probe).
    probed: bool,
    error: Option<HandshakeError>,
}

impl HandshakeGate {
    /// A gate for clients that upgrade to WebSocket (`websocket`) and speak TLS (`tls`),
    /// each blocking step within `timeout`.
    pub fn new(websocket: bool, tls: Option<Arc<TlsClient>>, timeout: Duration) -> HandshakeGate {
        HandshakeGate {
            websocket,
            tls,
            timeout,
            probed: false,
            error: None,
        }
    }

    /// The socket, ready for the event loop; `None` once a handshake has failed.
    pub fn pass(&mut self, stream: TcpStream) -> Option<Connected> {
        if self.error.is_some() {
            return None;
        }
        match self.prepare(stream) {
            Ok(connected) => Some(connected),
            Err(err) => {
                self.error = Some(err);
                None
            }
        }
    }

    fn prepare(&mut self, mut stream: TcpStream) -> Result<Connected, HandshakeError> {
        let Some(tls) = &self.tls else {
            if self.websocket {
                handshake(&mut stream, self.timeout)?;
            }
            return Ok(Connected::Plain(stream));
        };
        if self.probed && !self.websocket {
            let conn = tls.connection().map_err(HandshakeError::Tls)?;
            return Ok(Connected::Tls(stream, Box::new(conn)));
        }
        let mut conn = tls
            .handshake(&mut stream, self.timeout)
            .map_err(HandshakeError::Tls)?;
        self.probed = true;
        if self.websocket {
            handshake_tls(&mut stream, &mut conn, self.timeout)?;
        }
        Ok(Connected::Tls(stream, Box::new(conn)))
    }

    /// # Errors
    /// The first handshake that failed.
    pub fn finish(self) -> Result<(), HandshakeError> {
        self.error.map_or(Ok(()), Err)
    }
}
