//! [`Pipeline`]: the transport stages between a session's socket and its handler, sans I/O.
//!
//! ```text
//!   socket ──bytes──> [PROXY header] ──> [TLS] ──> [WebSocket] ──bytes──> handler (offer)
//!   socket <──bytes── [PROXY: as is] <── [TLS] <── [WebSocket] <──messages── Context::send
//! ```
//!
//! Each [`Stage`] is a sans-I/O state machine in the manner of quinn-proto and rustls'
//! `ServerConnection`: bytes from below go in ([`Stage::input`]), and out come bytes for the
//! stage above ([`Emit::Up`]), bytes to send toward the peer ([`Emit::Down`], framed by the
//! stages below it) and what the session layer must do ([`Signal`]: the prelude is done, the
//! PROXY header named a client, close, abort). Messages from above are framed on their way
//! down ([`Stage::output`]); a graceful close adds each stage's own farewell ([`Stage::close`]:
//! a WebSocket close frame, a TLS `close_notify`). A stage knows nothing of sockets, sessions
//! or time: the session layer (`loop_core/transport.rs`) carries out what it says, and judges
//! its deadlines with the loop's clock.
//!
//! A session without stages (the lecture's raw TCP, or a PROXY session once its header is
//! read: the stage steps aside) has no pipeline at all, and pays nothing per message.
//! A new transport is one new [`Stage`] variant and its file.

use std::sync::Arc;

use bytes::Bytes;

use crate::proxy::ProxiedSource;
use crate::session::SendBufferPool;
use crate::CloseReason;

pub(crate) use crate::proxy::ProxyPrelude;
pub(crate) use crate::tls::TlsStage;
pub(crate) use crate::websocket::WsStage;

/// The stages a listener's connections start with, wire side first: a PROXY header when the
/// service takes one, TLS when it has a certificate, then WebSocket for a WebSocket listener.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recipe {
    /// A PROXY header first (`ServiceConfig::proxy_protocol`).
    pub(crate) proxy: bool,
    /// TLS (`ServiceConfig::tls`).
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    /// A WebSocket listener's upgrade and messages.
    pub(crate) websocket: Option<Arc<crate::websocket::WsConfig>>,
}

impl Recipe {
    /// The stages of the service's own listeners' connections (the game port): a PROXY
    /// header and TLS as `config` says.
    pub(crate) fn for_port(config: &crate::ServiceConfig) -> Recipe {
        Recipe {
            proxy: config.proxy_protocol.is_some(),
            tls: config.tls.as_ref().map(|tls| tls.server_config().clone()),
            websocket: None,
        }
    }

    /// A new connection's pipeline (`None`: no stage, the session is raw).
    ///
    /// # Errors
    /// rustls could not start a connection (it refused the configuration).
    pub(crate) fn build(&self) -> Result<Option<Box<Pipeline>>, rustls::Error> {
        let mut stages = Vec::new();
        if self.proxy {
            stages.push(Stage::Proxy(ProxyPrelude::default()));
        }
        if let Some(config) = &self.tls {
            stages.push(Stage::Tls(Box::new(TlsStage::server(config)?)));
        }
        if let Some(config) = &self.websocket {
            stages.push(Stage::WebSocket(Box::new(WsStage::new(config))));
        }
        Ok(Pipeline::new(stages))
    }

    /// True if the connection's bytes are the application's from the first one (a farewell
    /// can be written to it as it is).
    pub(crate) fn is_raw(&self) -> bool {
        !self.proxy && self.tls.is_none() && self.websocket.is_none()
    }
}

/// One transport stage.
#[derive(Debug)]
pub(crate) enum Stage {
    /// The PROXY protocol header a load balancer puts first (`crate::proxy`).
    Proxy(ProxyPrelude),
    /// TLS: the handshake, then encrypted records (`crate::tls`).
    Tls(Box<TlsStage>),
    /// WebSocket: the HTTP upgrade, then binary messages (`crate::websocket`).
    WebSocket(Box<WsStage>),
}

/// What a stage made of its input.
#[derive(Debug)]
pub(crate) enum Emit<'a> {
    /// Bytes for the stage above (or, at the top, for the handler).
    Up(&'a [u8]),
    /// Bytes toward the peer, to be framed by the stages below this one.
    Down(Bytes),
    /// Something for the session layer to do.
    Signal(Signal),
}

/// What a stage asks of the session layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// The stage's prelude (handshake) is done: it passes messages now.
    Ready,
    /// The PROXY header is read: who the connection is for (admission decides).
    Source(ProxiedSource),
    /// Close gracefully with this reason, after what is queued (what the stage sent last,
    /// e.g. a WebSocket close frame answering the peer's, is queued already).
    Close(CloseReason),
    /// Close at once: the peer broke the stage's protocol beyond answering.
    Abort(CloseReason),
}

/// The deadline a stage's unfinished prelude is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prelude {
    /// A PROXY header (`ProxyProtocol::header_timeout`, then `ProxyHeaderTimeout`).
    Header,
    /// A handshake (`ServiceConfig::partial_timeout`, then `PartialTimeout`).
    Handshake,
}

/// The result of one [`Stage::input`].
#[derive(Debug)]
pub(crate) struct Step<'a> {
    /// Bytes of the input taken; less than all only together with an emission (call again
    /// with the rest). A stage keeps what it cannot use yet (a partial header) itself.
    pub(crate) consumed: usize,
    /// What came of it, if anything; `None` once the input is used up and nothing is owed.
    pub(crate) emit: Option<Emit<'a>>,
}

impl Step<'_> {
    /// All of `len` bytes taken, nothing to report.
    pub(crate) fn used(len: usize) -> Step<'static> {
        Step {
            consumed: len,
            emit: None,
        }
    }
}

impl Stage {
    /// Takes bytes from below; see [`Step`].
    pub(crate) fn input<'a>(&'a mut self, data: &'a [u8]) -> Step<'a> {
        match self {
            Stage::Proxy(stage) => stage.input(data),
            Stage::Tls(stage) => stage.input(data),
            Stage::WebSocket(stage) => stage.input(data),
        }
    }

    /// Frames `msg` from above on its way down, into `out` (or keeps it until
    /// [`Stage::flush`]: TLS encrypts a batch of messages into one buffer).
    pub(crate) fn output(&mut self, msg: Bytes, pool: &mut SendBufferPool, out: &mut Vec<Bytes>) {
        match self {
            Stage::Proxy(_) => out.push(msg),
            Stage::Tls(stage) => stage.output(&msg),
            Stage::WebSocket(stage) => stage.output(msg, pool, out),
        }
    }

    /// What the stage kept of a batch of [`Stage::output`]s, into `out`.
    pub(crate) fn flush(&mut self, pool: &mut SendBufferPool, out: &mut Vec<Bytes>) {
        if let Stage::Tls(stage) = self {
            stage.flush(pool, out);
        }
    }

    /// The stage's own farewell on a graceful close (once; nothing after an abort-worthy end).
    pub(crate) fn close(
        &mut self,
        reason: CloseReason,
        pool: &mut SendBufferPool,
        out: &mut Vec<Bytes>,
    ) {
        match self {
            Stage::Proxy(_) => {}
            Stage::Tls(stage) => stage.close(pool, out),
            Stage::WebSocket(stage) => stage.close(reason, out),
        }
    }

    /// True once the stage passes messages (its prelude is done).
    pub(crate) fn is_ready(&self) -> bool {
        match self {
            Stage::Proxy(stage) => stage.is_ready(),
            Stage::Tls(stage) => stage.is_ready(),
            Stage::WebSocket(stage) => stage.is_ready(),
        }
    }

    /// The deadline of the stage's prelude while it is not done.
    fn prelude(&self) -> Prelude {
        match self {
            Stage::Proxy(_) => Prelude::Header,
            Stage::Tls(_) | Stage::WebSocket(_) => Prelude::Handshake,
        }
    }

    /// True while part of a frame or message is held (the partial-message deadline runs).
    pub(crate) fn is_mid_message(&self) -> bool {
        match self {
            Stage::Proxy(_) => false,
            Stage::Tls(stage) => stage.is_mid_message(),
            Stage::WebSocket(stage) => stage.is_mid_message(),
        }
    }

    /// Bytes that keep a quiet peer's connection alive (a WebSocket ping), once per quiet
    /// spell.
    pub(crate) fn idle(&mut self) -> Option<Bytes> {
        match self {
            Stage::Proxy(_) | Stage::Tls(_) => None,
            Stage::WebSocket(stage) => stage.idle(),
        }
    }

    /// True once the stage does nothing more to the bytes (a PROXY prelude after its header):
    /// it steps out of the pipeline.
    fn is_transparent(&self) -> bool {
        matches!(self, Stage::Proxy(stage) if stage.is_done())
    }
}

/// What the session layer does with a pipeline's output.
pub(crate) trait Sink {
    /// Bytes that came out of the top: the handler's input.
    fn up(&mut self, data: &[u8]);
    /// A stage's [`Signal`].
    fn signal(&mut self, signal: Signal);
    /// True once the session takes no more input (closed, closing or gone): feeding stops.
    fn stopped(&self) -> bool;
    /// The loop's pool, for framing what the stages send toward the peer.
    fn pool(&mut self) -> &mut SendBufferPool;
}

/// A session's stages, wire side first.
#[derive(Debug)]
pub(crate) struct Pipeline {
    stages: Vec<Stage>,
    /// Bytes the stages sent toward the peer during the last input, framed, in order.
    downs: Vec<Bytes>,
    /// Reused lists for framing (no allocation per message once warm).
    framed: Vec<Bytes>,
    spare: Vec<Bytes>,
}

impl Pipeline {
    /// A pipeline of `stages` (wire side first); `None` if there are none.
    pub(crate) fn new(stages: Vec<Stage>) -> Option<Box<Pipeline>> {
        (!stages.is_empty()).then(|| {
            Box::new(Pipeline {
                stages,
                downs: Vec::new(),
                framed: Vec::new(),
                spare: Vec::new(),
            })
        })
    }

    /// The pipeline of an adopted client socket that speaks TLS through `conn`.
    pub(crate) fn tls_client(conn: rustls::ClientConnection) -> Option<Box<Pipeline>> {
        Pipeline::new(vec![Stage::Tls(Box::new(TlsStage::client(conn)))])
    }

    /// True if no stage is left (they all stepped aside): the session is raw now.
    pub(crate) fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Bytes from the socket: through every stage, out to `sink`. What the stages send
    /// toward the peer meanwhile (a handshake's answer, a pong) is framed by the stages below
    /// each as it is made, and kept in order for [`Pipeline::downs`].
    pub(crate) fn input(&mut self, data: &[u8], sink: &mut impl Sink) {
        feed(
            &mut self.stages,
            data,
            sink,
            &mut self.downs,
            &mut self.spare,
        );
    }

    /// What the stages sent toward the peer during the last input, framed: the bytes to
    /// queue (ahead of anything the application sent meanwhile). Stages that have nothing
    /// more to do step out of the pipeline here.
    pub(crate) fn downs(&mut self) -> &mut Vec<Bytes> {
        self.stages.retain(|stage| !stage.is_transparent());
        &mut self.downs
    }

    /// Frames a message from the application on its way to the peer; the bytes to queue.
    pub(crate) fn output(&mut self, msg: Bytes, pool: &mut SendBufferPool) -> &mut Vec<Bytes> {
        self.framed.clear();
        self.framed.push(msg);
        encode(&mut self.stages, pool, &mut self.framed, &mut self.spare);
        &mut self.framed
    }

    /// The farewells of a graceful close, top stage first, each framed by the stages below
    /// it (nothing from a stage that already said goodbye); the bytes to queue.
    pub(crate) fn close(
        &mut self,
        reason: CloseReason,
        pool: &mut SendBufferPool,
    ) -> &mut Vec<Bytes> {
        self.framed.clear();
        for level in (0..self.stages.len()).rev() {
            let start = self.framed.len();
            self.stages[level].close(reason, pool, &mut self.framed);
            let mut own = self.framed.split_off(start);
            encode(&mut self.stages[..level], pool, &mut own, &mut self.spare);
            self.framed.append(&mut own);
        }
        &mut self.framed
    }

    /// Keep-alive bytes for a quiet peer, framed (once per quiet spell); the bytes to queue.
    pub(crate) fn idle(&mut self, pool: &mut SendBufferPool) -> &mut Vec<Bytes> {
        self.framed.clear();
        for level in (0..self.stages.len()).rev() {
            if let Some(ping) = self.stages[level].idle() {
                let mut own = vec![ping];
                encode(&mut self.stages[..level], pool, &mut own, &mut self.spare);
                self.framed.append(&mut own);
            }
        }
        &mut self.framed
    }

    /// True when every stage passes messages.
    pub(crate) fn is_ready(&self) -> bool {
        self.stages.iter().all(Stage::is_ready)
    }

    /// Stages whose prelude is not done yet.
    pub(crate) fn preludes_left(&self) -> usize {
        self.stages.iter().filter(|s| !s.is_ready()).count()
    }

    /// The deadline of the first unfinished prelude, if any.
    pub(crate) fn prelude(&self) -> Option<Prelude> {
        self.stages
            .iter()
            .find(|s| !s.is_ready())
            .map(Stage::prelude)
    }

    /// True while some stage holds part of a frame or message.
    pub(crate) fn is_mid_message(&self) -> bool {
        self.stages.iter().any(Stage::is_mid_message)
    }
}

/// Feeds `data` to the first of `stages` and what comes out of it to the rest. What a stage
/// sends toward the peer is pushed to `downs`; what the stages above it sent while it lent
/// them its bytes is framed by it as soon as they are done with them — before it makes
/// anything of its own again, so the wire gets every stage's bytes in the order they were
/// made (TLS records cannot be reordered).
fn feed(
    stages: &mut [Stage],
    data: &[u8],
    sink: &mut impl Sink,
    downs: &mut Vec<Bytes>,
    spare: &mut Vec<Bytes>,
) {
    let Some((stage, above)) = stages.split_first_mut() else {
        sink.up(data);
        return;
    };
    let mut at = 0;
    while !sink.stopped() {
        let step = stage.input(&data[at..]);
        at += step.consumed;
        match step.emit {
            None => break,
            Some(Emit::Up(bytes)) => {
                let mark = downs.len();
                feed(above, bytes, sink, downs, spare);
                if downs.len() > mark {
                    frame(stage, sink.pool(), downs, mark, spare);
                }
            }
            Some(Emit::Down(buf)) => downs.push(buf),
            Some(Emit::Signal(signal)) => sink.signal(signal),
        }
    }
}

/// Frames `bufs` through `stages`, top stage first (each stage's output is the next one's
/// input); `spare` is a reused list.
fn encode(
    stages: &mut [Stage],
    pool: &mut SendBufferPool,
    bufs: &mut Vec<Bytes>,
    spare: &mut Vec<Bytes>,
) {
    for stage in stages.iter_mut().rev() {
        frame(stage, pool, bufs, 0, spare);
    }
}

/// Frames `bufs[from..]` through `stage`, in place.
fn frame(
    stage: &mut Stage,
    pool: &mut SendBufferPool,
    bufs: &mut Vec<Bytes>,
    from: usize,
    spare: &mut Vec<Bytes>,
) {
    if matches!(stage, Stage::Proxy(_)) {
        return; // as is
    }
    spare.clear();
    spare.extend(bufs.drain(from..));
    for msg in spare.drain(..) {
        stage.output(msg, pool, bufs);
    }
    stage.flush(pool, bufs);
}
