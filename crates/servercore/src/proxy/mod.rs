//! PROXY protocol (v1 text, v2 binary): the header a load balancer puts in front of every
//! connection it forwards, naming the real client.
//!
//! | file        | concept                                                               |
//! |-------------|-----------------------------------------------------------------------|
//! | `header.rs` | [`read_proxy_header`]: the header read sans I/O from the bytes received |
//! | `stage.rs`  | the session's first transport stage: the header, then it steps aside  |
//! | `settings.rs` | [`ProxyProtocol`]: the trusted balancers and the header's deadline  |
//!
//! With [`ProxyProtocol`] set, every connection of a listener (the game
//! port and the WebSocket listener alike) comes from a trusted balancer and starts with a
//! header; the client it names is the session's peer for admission, logs and the handler,
//! and the stages above (TLS, WebSocket) see only the bytes after it. See docs/deploy.md.

mod header;
mod settings;
mod stage;

pub use header::{
    read_proxy_header, ProxiedSource, ProxyHeaderError, ProxyHeaderRead, ProxyVersion,
    MAX_HEADER_LEN, V1_MAX_LEN, V2_MAX_LEN, V2_MAX_PAYLOAD, V2_SIGNATURE,
};
pub use settings::ProxyProtocol;
pub(crate) use stage::ProxyPrelude;
