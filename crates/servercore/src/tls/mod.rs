//! TLS: a listener's connections encrypted (the game port with `tls`, and `wss://` plus the
//! page over `https://` on the WebSocket listener), with rustls and its `ring` provider.
//!
//! | file              | concept                                                           |
//! |-------------------|-------------------------------------------------------------------|
//! | `config.rs`       | [`TlsConfig`]: the certificate and key from PEM files, swapped on [`TlsConfig::reload`] |
//! | `stage.rs`        | the session's TLS stage: rustls' sans-I/O connection in the pipeline |
//! | `records.rs`      | where the peer is in its stream of records (a partial one is held)  |
//!
//! The lecture has no TLS (on Windows it would be SChannel over the same sockets); here it
//! is one more stage of a session's pipeline (`session/pipeline.rs`), between a PROXY header
//! and WebSocket. rustls' `ServerConnection` does no I/O: bytes read from the socket go in
//! (`read_tls`, `process_new_packets`), plaintext comes out for the stage above, and what
//! it must send (the handshake's flights, the encrypted messages, a `close_notify` or an
//! alert) is taken out (`write_tls`) and queued like any other bytes. So TLS runs the same
//! on epoll and io_uring, and neither driver knows of it.
//!
//! What a server operator gets: TLS 1.3 and 1.2 (no older; rustls never renegotiates), the
//! handshake bounded by `ServiceConfig::partial_timeout` (the prelude deadline), a bad
//! handshake closed with [`CloseReason::TlsHandshake`](crate::CloseReason::TlsHandshake)
//! after the alert that says why, and a new certificate taken on [`TlsConfig::reload`] (e.g.
//! on SIGHUP) by new handshakes, without touching the sessions that are running. Resumption
//! with stateless tickets makes a reconnecting client's handshake cheaper. A client session
//! (the load generator's) is adopted with its own rustls connection:
//! [`Service::adopt_tls`](crate::Service::adopt_tls).

mod config;
mod records;
mod stage;

pub use config::{TlsConfig, TlsError};
pub(crate) use stage::TlsStage;

/// The rustls this crate is built with (for [`Service::adopt_tls`](crate::Service::adopt_tls)'s
/// client connections and custom configurations).
pub use rustls;
