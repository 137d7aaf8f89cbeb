//! WebSocket players: [`Service::listen_websocket`](crate::Service::listen_websocket) takes a
//! [`WsConfig`], and each connection of that listener gets a WebSocket stage (`stage.rs`) in
//! its pipeline — the HTTP upgrade, then each binary message's bytes to the handler as one
//! stream, and each send back as one binary message. The protocol itself (RFC 6455, sans
//! I/O: the handshake, frames, the message reader) is the `rfc6455` crate's, shared with the
//! clients that load-test the server.

mod stage;

pub use rfc6455::WsConfig;
pub(crate) use stage::WsStage;
