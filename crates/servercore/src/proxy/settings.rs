//! [`ProxyProtocol`]: the settings of a service that sits behind a load balancer.

use std::time::Duration;

use crate::AddressList;

/// PROXY protocol settings: which peers may speak it, and how long a header may take.
///
/// With it on, every accepted connection must come from `trusted_proxies` (anything else is
/// closed at once, counted as `untrusted_proxy`) and must start with a complete, valid PROXY
/// header within `header_timeout` (else it is closed: `proxy_header`, `proxy_header_timeout`).
/// The client address the header carries is the session's peer: admission (per-source caps
/// and connect rate), logs and [`Context::peer_addr`](crate::Context::peer_addr) see it.
/// A v2 `LOCAL` header (a balancer's health check) is accepted, counts against no limit and
/// never reaches the handler (`health_check`). The header is read from the bytes already
/// received for the session: no extra syscall, both I/O models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyProtocol {
    /// Peers allowed to send a PROXY header (the load balancers).
    pub trusted_proxies: AddressList,
    /// How long a connection may take to send its whole header. Default 3 s.
    pub header_timeout: Duration,
}

impl ProxyProtocol {
    /// PROXY protocol from `trusted_proxies`, with the default 3 s header deadline.
    pub fn new(trusted_proxies: AddressList) -> ProxyProtocol {
        ProxyProtocol {
            trusted_proxies,
            header_timeout: Duration::from_secs(3),
        }
    }
}
