//! WebSocket (RFC 6455) without I/O: browser players speaking servercore's packets, and the
//! clients that load-test them.
//!
//! A browser cannot open a TCP socket, only a WebSocket. This module turns the bytes a
//! session receives into what they mean (the opening HTTP request, then frames) and says
//! what to send back, without owning a socket, a buffer or a clock, so it runs inside the
//! event loop's receive path like the packet framer does (servercore's WebSocket stage,
//! `servercore/src/websocket/stage.rs`, is its one user on the server side; the dummyclient
//! and the tests are its clients):
//!
//! ```text
//!  socket --recv--> RecvBuffer --WsConnection::advance--> WsEvent --> session / handler
//!                      ^  keeps an unfinished HTTP request (<= 8 KiB) or frame header (< 14 B)
//!  handler --binary_header(len) + packet Bytes (shared, uncopied)--> SendQueue --> socket
//! ```
//!
//! Each binary message carries packet bytes exactly as on TCP (docs/protocol.md): header and
//! body. Text frames are refused (1003), frames and messages over the packet limit (1009),
//! every other breach of the RFC with 1002 (1007 for a close reason that is not UTF-8).
//!
//! | file           | concept                                                           |
//! |----------------|-------------------------------------------------------------------|
//! | `connection`   | [`WsConnection`]: handshake -> frames -> done; [`WsEvent`], [`Step`] |
//! | `handshake`    | the server's answer to the HTTP request: 101, the page, or an error |
//! | `reader`       | [`MessageReader`]: frames -> messages, pings, closes (either role) |
//! | `frame`        | outgoing frames: [`binary_header`], [`close_frame`], [`idle_ping`], masking |
//! | `client`       | [`ClientHandshake`]: the client's request and response check       |
//! | `error`        | [`WsError`]: what went wrong, its close code or HTTP status        |
//!
//! # Crates, and what is written by hand
//!
//! - The HTTP request and response are parsed by `httparse` (zero-copy, no allocation,
//!   `Partial` until complete: fits a loop that owns its buffer).
//! - `Sec-WebSocket-Accept` comes from `tungstenite::handshake::derive_accept_key`; the key
//!   is checked with `data-encoding`.
//! - Frame headers are parsed by `tungstenite::protocol::frame::FrameHeader::parse` on a
//!   `Cursor` over the borrowed bytes (no copy; `None` until the header is whole; reserved
//!   opcodes refused) and written by `FrameHeader::format` into a 14-byte stack buffer.
//!   tungstenite's own reader (`FrameSocket`, `WebSocket`) is not used: it owns the stream
//!   and its buffer, copies payloads into per-frame `Bytes` and does blocking-style reads,
//!   which a non-blocking loop that owns its buffers cannot hand over to.
//! - By hand (the glue): the RFC's rules judged on each header (masking, RSV bits, control
//!   frame size and fragmentation, continuation order, size limits), unmasking while copying
//!   into the message buffer (tungstenite's `apply_mask` is private), and close-frame checks.

mod client;
mod connection;
mod error;
mod frame;
mod handshake;
mod reader;
#[cfg(test)]
mod test_frames;

pub use client::ClientHandshake;
pub use connection::{Step, WsConfig, WsConnection, WsEvent, DEFAULT_MAX_REQUEST};
pub use error::{
    WsError, CLOSE_AWAY, CLOSE_INVALID, CLOSE_NORMAL, CLOSE_POLICY, CLOSE_PROTOCOL, CLOSE_TOO_BIG,
    CLOSE_UNSUPPORTED,
};
pub use frame::{
    apply_mask, binary_header, close_frame, idle_ping, masked_close_frame, masked_frame,
    masked_header, pong_frame, FrameHead, Opcode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN,
};
pub use handshake::{answer_request, http_error, Answer, SUBPROTOCOL};
pub use reader::{FrameEvent, MessageReader, Role};
