//! [`ServiceConfig`] and [`Model`]: how a service runs, with documented defaults.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::{AddressList, ProxyProtocol};

/// Which I/O model the event loops use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Model {
    /// io_uring when the kernel offers what the completion driver needs, else epoll (the
    /// reason is logged once).
    #[default]
    Auto,
    /// Readiness model: epoll through `mio` (the lecture's WSAEventSelect).
    Epoll,
    /// Completion model: io_uring (the lecture's Overlapped I/O / IOCP).
    /// Linux only: elsewhere starting a service with it fails with `ErrorKind::Unsupported`.
    Uring,
}

impl FromStr for Model {
    type Err = String;

    fn from_str(s: &str) -> Result<Model, String> {
        match s {
            "auto" => Ok(Model::Auto),
            "epoll" => Ok(Model::Epoll),
            "uring" | "io_uring" => Ok(Model::Uring),
            other => Err(format!(
                "unknown I/O model {other:?} (expected auto, epoll or uring)"
            )),
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Model::Auto => "auto",
            Model::Epoll => "epoll",
            Model::Uring => "uring",
        })
    }
}

/// Everything a [`Service`](crate::Service) can be told. `Default` gives the documented
/// defaults; change fields with struct update syntax.
///
/// ```
/// let config = servercore::ServiceConfig { threads: 2, ..Default::default() };
/// assert_eq!(config.send_queue_limit, 4 * 1024 * 1024);
/// ```
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Number of event loops (threads). Each session lives on exactly one. Default: the
    /// number of CPUs.
    pub threads: usize,
    /// I/O model. Default: [`Model::Auto`].
    pub model: Model,
    /// `listen()` backlog. Default 4096: a small backlog (tokio's 128 of old) drops connect
    /// bursts; the kernel caps it at `net.core.somaxconn`.
    pub backlog: i32,
    /// Share the listening ports with other processes (Linux `SO_REUSEPORT` from the first
    /// socket on): a new server started with it on the port of an old one that also has it
    /// gets a share of the new connections, and takes them all once the old one stops (a
    /// hand-over without refused connects). Default false: a port another process listens
    /// on is refused at [`Service::bind`](crate::Service::bind) with `AddrInUse`, so a
    /// second server never starts silently beside a forgotten first one. The loops of one
    /// service always share their port with each other.
    pub reuse_port: bool,
    /// Set `TCP_NODELAY` on every session (games want small packets sent now). Default true.
    pub nodelay: bool,
    /// `SO_SNDBUF` of every session's socket: how much the kernel holds for a peer beyond what
    /// the session's own queue holds. `None` (the default) leaves it to the kernel's
    /// autotuning, which may grow it to `net.ipv4.tcp_wmem`'s maximum (4 MiB by default) at
    /// once when it remembers a large congestion window for the peer (the TCP metrics
    /// cache). Set it to bound a slow consumer's total backlog (the kernel doubles the value
    /// for its bookkeeping).
    pub socket_send_buffer: Option<usize>,
    /// Soft cap on a session's queued outgoing bytes: above it the session's input is no
    /// longer read until the queue drains below half of it. This is what bounds an echo
    /// server whose client does not read. Default 256 KiB.
    pub send_queue_pause: usize,
    /// Hard cap on a session's queued outgoing bytes: a send that would go beyond it closes
    /// the session with [`CloseReason::SlowConsumer`](crate::CloseReason::SlowConsumer).
    /// Default 4 MiB.
    pub send_queue_limit: usize,
    /// Most payload bytes of cross-loop sends waiting in one loop's inbox. A send to a
    /// session of a loop that is this far behind fails with
    /// [`SendError::LoopBehind`](crate::SendError::LoopBehind) and is dropped, so a flood
    /// fanned out to many sessions of a stalled loop cannot grow memory without bound.
    /// Default 64 MiB.
    pub mailbox_limit: usize,
    /// Most bytes a session may hold unconsumed (a partial packet): a read that would take
    /// the held bytes plus the new ones beyond it closes the session with `RecvBufferFull`.
    /// The check is made before the handler sees the new bytes, so a handler can count on
    /// leaving up to the limit minus one read. Default 1 MiB.
    pub recv_buffer_limit: usize,
    /// Size of each loop's read buffer: the most one `recv` takes. Default 64 KiB. The
    /// io_uring driver clamps its provided buffers to 1–16 KiB (a buffer ring of many small
    /// buffers, shared by every session of the loop).
    pub read_chunk: usize,
    /// If set, [`Handler::tick`](crate::Handler::tick) is called about this often.
    pub tick: Option<Duration>,
    /// Close a session from which no byte arrived for this long
    /// ([`CloseReason::IdleTimeout`](crate::CloseReason::IdleTimeout)). Default 60 s; `None`
    /// disables. Checked by a coarse per-loop sweep (no timer syscall per message). It also
    /// runs while reading is paused by backpressure: a peer that takes none of what it is
    /// owed for this long is closed too.
    pub idle_timeout: Option<Duration>,
    /// Close a session that started a message (left bytes unconsumed) and did not complete it
    /// within this time ([`CloseReason::PartialTimeout`](crate::CloseReason::PartialTimeout):
    /// slowloris). The clock restarts whenever the handler consumes bytes (a stream whose
    /// reads never end on a message boundary is making progress) and stands still while
    /// reading is paused. Default 10 s; `None` disables.
    pub partial_timeout: Option<Duration>,
    /// Most sessions the service holds at once; a connection accepted beyond it is refused
    /// (written [`ServiceConfig::farewell`], then closed) and counted. Default 10,000.
    pub max_sessions: usize,
    /// Most sessions from one source (an IPv4 address, or an IPv6 /64 prefix); beyond it
    /// connections are refused like above. Default 64. Sessions handed in with
    /// `Service::adopt` are not counted.
    pub max_sessions_per_ip: usize,
    /// New sessions a second one source may open on average, in bursts of up to
    /// `max_sessions_per_ip`; beyond it connections are refused like above. Closing sessions
    /// does not give a source its tokens back, so reconnecting cannot reset per-session
    /// limits (such as a packet rate limit) faster than this. Default 20; 0: no limit.
    pub connect_rate_per_ip: u32,
    /// Bytes written to a refused connection before it is closed (e.g. a "server full"
    /// packet). Default none.
    pub farewell: Option<bytes::Bytes>,
    /// On stop, how long sessions may take to flush what is queued for them before they are
    /// closed regardless. Default 5 s.
    pub shutdown_drain: Duration,
    /// Send tick: hold queued output (and pending closes) up to this long, so everything
    /// queued for a session in between leaves in one vectored write. A game server's
    /// broadcast tick: fewer syscalls per message for up to this much added latency.
    /// Default none: output is flushed at the end of every loop iteration.
    pub flush_interval: Option<Duration>,
    /// Sources exempt from `max_sessions_per_ip` and `connect_rate_per_ip` (the operator's
    /// own machines, as fail2ban's `ignoreip`); `max_sessions` still counts them. Default
    /// loopback (127.0.0.0/8 and ::1); [`AddressList::empty`] turns the exemption off.
    pub trusted_sources: AddressList,
    /// Lingering close: a session closed gracefully (its queue flushed: `Context::close`,
    /// timeouts, the rate limit, shutdown, refusals) shuts down its sending side and reads and
    /// discards input until the peer's EOF, for at most this long from when closing began
    /// (flushing included); then it is closed regardless (as nginx's `lingering_time`).
    /// Zero: close as soon as the queue is flushed (unread input may then reset the
    /// connection); a peer that takes nothing of the queue is then closed at `idle_timeout`
    /// after closing began. Default 5 s.
    pub lingering_time: Duration,
    /// Most bytes a closing session may send us to be thrown away: past it the session is
    /// no longer read (no more work spent on a peer that keeps sending), what is queued for
    /// it still leaves, and it is closed at `lingering_time`. Default 16 MiB.
    pub lingering_bytes: usize,
    /// PROXY protocol (v1 or v2) on accepted connections, for a server behind a load
    /// balancer; default off (a header is then never trusted: its bytes are input like any
    /// other). See [`ProxyProtocol`].
    pub proxy_protocol: Option<ProxyProtocol>,
    /// TLS on every listener (the game port; `wss://` and `https://` on the WebSocket
    /// listener), after the PROXY header if there is one; default off. The handshake is held
    /// to `partial_timeout`. See [`TlsConfig`](crate::tls::TlsConfig).
    pub tls: Option<crate::tls::TlsConfig>,
}

impl ServiceConfig {
    /// How often the timeout sweep runs: a quarter of the shortest timeout, at most 1 s.
    pub(crate) fn sweep_interval(&self) -> Option<Duration> {
        let header = self.proxy_protocol.as_ref().map(|p| p.header_timeout);
        let linger = Some(self.lingering_time).filter(|t| !t.is_zero());
        let shortest = [self.idle_timeout, self.partial_timeout, header, linger]
            .into_iter()
            .flatten()
            .min()?;
        Some((shortest / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)))
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            model: Model::Auto,
            backlog: 4096,
            reuse_port: false,
            nodelay: true,
            socket_send_buffer: None,
            send_queue_pause: 256 * 1024,
            send_queue_limit: 4 * 1024 * 1024,
            mailbox_limit: 64 * 1024 * 1024,
            recv_buffer_limit: 1024 * 1024,
            read_chunk: 64 * 1024,
            tick: None,
            idle_timeout: Some(Duration::from_secs(60)),
            partial_timeout: Some(Duration::from_secs(10)),
            shutdown_drain: Duration::from_secs(5),
            flush_interval: None,
            max_sessions: 10_000,
            max_sessions_per_ip: 64,
            connect_rate_per_ip: 20,
            farewell: None,
            trusted_sources: AddressList::loopback(),
            proxy_protocol: None,
            tls: None,
            lingering_time: Duration::from_secs(5),
            lingering_bytes: 16 * 1024 * 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_parses_and_prints() {
        for m in [Model::Auto, Model::Epoll, Model::Uring] {
            assert_eq!(m.to_string().parse::<Model>(), Ok(m));
        }
        assert!("kqueue".parse::<Model>().unwrap_err().contains("kqueue"));
    }

    #[test]
    fn sweep_follows_the_shortest_timeout() {
        let c = ServiceConfig::default();
        assert_eq!(c.sweep_interval(), Some(Duration::from_secs(1)));
        let c = ServiceConfig {
            partial_timeout: Some(Duration::from_millis(400)),
            ..c
        };
        assert_eq!(c.sweep_interval(), Some(Duration::from_millis(100)));
        let c = ServiceConfig {
            idle_timeout: None,
            partial_timeout: None,
            ..c
        };
        assert_eq!(
            c.sweep_interval(),
            Some(Duration::from_secs(1)),
            "lingering (5 s)"
        );
        let c = ServiceConfig {
            lingering_time: Duration::ZERO,
            ..c
        };
        assert_eq!(c.sweep_interval(), None);
    }
}
