//! [`PacketHandler`]: a handler that sees whole packets, and [`Packets`], the adapter that turns
//! it into a byte-level [`Handler`].

use crate::packet::{Framer, Packet, RateLimit, TokenBucket};
use crate::{first_bytes, CloseReason, Context, Handler, HeldRequest, Lookalike, SessionId};

/// The application's side of a packet service: like [`Handler`], but called once per whole
/// packet. Wrap it in [`Packets`] to run it on a [`Service`](crate::Service).
///
/// A peer that breaks the framing (size below 4 or above the maximum) is disconnected with
/// [`CloseReason::Protocol`] and a log line; the packets it sent before the bad header are
/// still delivered.
pub trait PacketHandler: Send + 'static {
    /// A session was opened.
    fn connected(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        let _ = (ctx, id);
    }

    /// One whole packet arrived. `packet.body` borrows the receive buffer: copy what must
    /// outlive the call.
    fn packet(&mut self, ctx: &mut Context<'_>, id: SessionId, packet: Packet<'_>);

    /// The session sent more packets than the rate limit of
    /// [`Packets::with_rate_limit`] allows and is about to be closed gracefully with
    /// [`CloseReason::RateLimited`]: what is sent now still leaves before the FIN, so this is
    /// where the application tells the client why (the game's `RATE_LIMITED` packet). Called
    /// once; the packet over the limit and any after it are not handed to
    /// [`PacketHandler::packet`].
    fn rate_limited(&mut self, ctx: &mut Context<'_>, id: SessionId, limit: RateLimit) {
        let _ = (ctx, id, limit);
    }

    /// The session is gone (exactly once per session).
    fn disconnected(&mut self, ctx: &mut Context<'_>, id: SessionId, reason: CloseReason) {
        let _ = (ctx, id, reason);
    }

    /// Called about every `ServiceConfig::tick`, if set.
    fn tick(&mut self, ctx: &mut Context<'_>) {
        let _ = ctx;
    }

    /// As [`Handler::notified`]: another thread called
    /// [`Notifier::notify`](crate::Notifier::notify) for this loop.
    fn notified(&mut self, ctx: &mut Context<'_>) {
        let _ = ctx;
    }

    /// As [`Handler::held`]: a request made to an id held past its connection.
    fn held(&mut self, ctx: &mut Context<'_>, id: SessionId, request: HeldRequest) {
        let _ = (ctx, id, request);
    }
}

/// Frames a byte stream into packets for a [`PacketHandler`].
///
/// Whole packets are handed over as slices of the bytes just received (no copy); only a
/// trailing partial packet is kept by the session (always fewer than `max_packet` bytes).
///
/// # Examples
/// ```
/// use servercore::packet::{Packet, PacketContext, PacketHandler, Packets};
/// use servercore::{Context, SessionId};
///
/// /// Sends every packet back.
/// struct PacketEcho;
///
/// impl PacketHandler for PacketEcho {
///     fn packet(&mut self, ctx: &mut Context<'_>, id: SessionId, packet: Packet<'_>) {
///         let _ = ctx.send_packet(id, packet.id, packet.body);
///     }
/// }
///
/// let handler = Packets::new(PacketEcho, 4096);
/// # let _ = handler;
/// ```
#[derive(Debug)]
pub struct Packets<P> {
    framer: Framer,
    inner: P,
    /// With a rate limit, each session keeps its [`TokenBucket`] on itself
    /// ([`Context::set_data`]).
    rate_limit: Option<RateLimit>,
}

impl<P> Packets<P> {
    /// Wraps `inner`; packets larger than `max_packet` bytes (header included) are refused.
    pub fn new(inner: P, max_packet: usize) -> Packets<P> {
        Packets {
            framer: Framer::new(max_packet),
            inner,
            rate_limit: None,
        }
    }

    /// Limits every session to `limit` packets per second: a session over it is told
    /// ([`PacketHandler::rate_limited`]) and closed with [`CloseReason::RateLimited`] and a
    /// log line. Sessions from
    /// [`ServiceConfig::trusted_sources`](crate::ServiceConfig::trusted_sources) (loopback by
    /// default: a load test on the server's machine) are exempt ([`Context::is_trusted`]).
    /// Without this call there is no limit.
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Packets<P> {
        self.rate_limit = Some(limit);
        self
    }

    /// Unwraps the handler.
    pub fn into_inner(self) -> P {
        self.inner
    }
}

impl<P: PacketHandler> Handler for Packets<P> {
    fn connected(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        if let Some(limit) = self.rate_limit.filter(|_| !ctx.is_trusted(id)) {
            let _ = ctx.set_data(id, TokenBucket::new(limit, ctx.now()));
        }
        self.inner.connected(ctx, id);
    }

    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        // Copied off the session for the decode (the handler may use the context meanwhile)
        // and written back after it: no allocation per read.
        let mut bucket = self.rate_limit.zip(ctx.data::<TokenBucket>(id).copied());
        let mut consumed = 0;
        let mut bad = None;
        // One packet at a time, while the session is open: once a packet closed it (an
        // unknown id, the rate limit) the rest of this input is never framed, so it cannot add
        // a second, misleading reason (a "bad packet" made of the bytes after the real one).
        while ctx.is_open(id) {
            let packet = match self.framer.next(&data[consumed..]) {
                Ok(Some(packet)) => packet,
                Ok(None) => break,
                Err(err) => {
                    bad = Some(err);
                    break;
                }
            };
            consumed += packet.len();
            ctx.count_packet_in();
            if let Some((limit, bucket)) = bucket.as_mut() {
                if !bucket.take(*limit, ctx.now()) {
                    tracing::info!(session = %id, peer = %PeerAddr(ctx.peer_addr(id)), per_sec = limit.per_sec, "packet rate limit exceeded");
                    self.inner.rate_limited(ctx, id, *limit);
                    ctx.close_with(id, CloseReason::RateLimited); // replies so far still leave
                    break;
                }
            }
            self.inner.packet(ctx, id, packet);
        }
        if let (Some((_, bucket)), Some(kept)) = (bucket, ctx.data_mut::<TokenBucket>(id)) {
            *kept = bucket; // none if the session closed meanwhile
        }
        if let Some(err) = bad {
            tracing::info!(session = %id, peer = %PeerAddr(ctx.peer_addr(id)), "bad packet: {err}{}", hint(&data[consumed..]));
            ctx.abort(id, CloseReason::Protocol(err.into()));
        }
        if ctx.is_open(id) {
            consumed
        } else {
            data.len() // closing: the rest is not read
        }
    }

    fn disconnected(&mut self, ctx: &mut Context<'_>, id: SessionId, reason: CloseReason) {
        self.inner.disconnected(ctx, id, reason);
    }

    fn tick(&mut self, ctx: &mut Context<'_>) {
        self.inner.tick(ctx);
    }

    fn notified(&mut self, ctx: &mut Context<'_>) {
        self.inner.notified(ctx);
    }

    fn held(&mut self, ctx: &mut Context<'_>, id: SessionId, request: HeldRequest) {
        self.inner.held(ctx, id, request);
    }
}

/// What a "bad packet" line adds when the bytes are not packets at all: what they look like,
/// and what that usually means on a packet port.
fn hint(start: &[u8]) -> String {
    let Some(lookalike) = Lookalike::of(start) else {
        return String::new();
    };
    let meaning = match lookalike {
        Lookalike::HttpRequest => {
            "; is this the WebSocket port? Browsers and WebSocket clients connect to the \
             WebSocket listener, not the packet port"
        }
        Lookalike::ProxyHeader => "; a load balancer's header: is the PROXY protocol turned on?",
        Lookalike::TlsHandshake => "; the server speaks plain TCP, not TLS",
        Lookalike::Text => "; a raw byte client (the lecture's) on a packet port?",
        Lookalike::HttpResponse => "",
    };
    format!(
        "; not a packet: looks like {lookalike} ({}){meaning}",
        first_bytes(start)
    )
}

/// A session's peer address in a log line: the address itself, or `unknown` (the same format
/// as the loop's own `peer=` lines).
struct PeerAddr(Option<std::net::SocketAddr>);

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(addr) => write!(f, "{addr}"),
            None => f.write_str("unknown"),
        }
    }
}
