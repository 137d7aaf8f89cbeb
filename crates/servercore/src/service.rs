//! [`Service`]: binds, runs the event loops, stops.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use crate::admission::Admission;
use crate::driver::acceptor::Acceptor;
use crate::driver::{self, AnyDriver};
use crate::listener::{Listener, Sharing};
use crate::loop_core::LoopCore;
use crate::mailbox::{Arrival, Command, Mailbox};
use crate::session::pipeline::{Pipeline, Recipe};
use crate::stop_handle::Ending;
use crate::websocket::WsConfig;
use crate::{CloseReason, Handler, LoopStats, Model, Notifier, ServiceConfig, StopHandle};

/// A running server (or client pool): `threads` event loops, each on its own thread with its
/// own handler, sessions and kernel queue.
///
/// Dropping a `Service` stops it: every loop closes its sessions (handlers see
/// [`CloseReason::Shutdown`](crate::CloseReason::Shutdown)) and its thread is joined.
///
/// # Examples
/// ```
/// use servercore::{Context, Handler, Service, ServiceConfig, SessionId};
///
/// struct Echo;
/// impl Handler for Echo {
///     fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
///         let _ = ctx.send_copy(id, data);
///         data.len()
///     }
/// }
///
/// # fn main() -> std::io::Result<()> {
/// let config = ServiceConfig { threads: 2, ..Default::default() };
/// let service = Service::bind("127.0.0.1:0".parse().unwrap(), config, |_loop| Echo)?;
/// let mut client = std::net::TcpStream::connect(service.local_addr().unwrap())?;
/// # use std::io::{Read, Write};
/// client.write_all(b"Hello World")?;
/// let mut echo = [0; 11];
/// client.read_exact(&mut echo)?;
/// assert_eq!(&echo, b"Hello World");
/// service.stop();
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Service<H> {
    loops: Arc<[Arc<Mailbox>]>,
    ending: Arc<Ending>,
    threads: Vec<JoinHandle<io::Result<H>>>,
    local_addr: Option<SocketAddr>,
    model: Model,
    /// Round robin over the loops for adopted and acceptor-thread sockets.
    next_loop: Arc<AtomicUsize>,
    /// Listeners of their own threads (`listen_websocket`); stopped before the loops.
    acceptors: Mutex<Vec<Acceptor>>,
    /// `ServiceConfig::backlog`, for listeners added later.
    backlog: i32,
    /// The stages every listener's connections start with (PROXY, TLS), for listeners added
    /// later.
    recipe: Recipe,
    /// `ServiceConfig::reuse_port`, for listeners added later.
    sharing: Sharing,
}

impl<H: Handler> Service<H> {
    /// Listens on `addr` and starts the loops. `factory(i)` makes loop `i`'s handler.
    ///
    /// # Errors
    /// Binding errors (`AddrInUse`, `PermissionDenied`), or a loop that cannot start its
    /// driver (the others are stopped). A port another process listens on is refused with
    /// `AddrInUse` and a message naming the port, unless both set
    /// [`ServiceConfig::reuse_port`].
    pub fn bind(
        addr: SocketAddr,
        config: ServiceConfig,
        factory: impl FnMut(usize) -> H,
    ) -> io::Result<Service<H>> {
        let listener = Listener::bind(
            addr,
            config.threads.max(1),
            config.backlog,
            sharing(&config),
        )?;
        let local_addr = listener.local_addr();
        let sockets = listener.into_sockets().into_iter().map(Some).collect();
        let mut service = Service::start(config, sockets, factory)?;
        service.local_addr = Some(local_addr);
        tracing::info!(addr = %local_addr, model = %service.model, threads = service.loops.len(), "listening");
        Ok(service)
    }

    /// Starts loops that accept nothing: sessions come from [`Service::adopt`] (a client).
    ///
    /// # Errors
    /// A loop that cannot start its driver.
    pub fn unbound(
        config: ServiceConfig,
        factory: impl FnMut(usize) -> H,
    ) -> io::Result<Service<H>> {
        let sockets = (0..config.threads.max(1)).map(|_| None).collect();
        Service::start(config, sockets, factory)
    }

    fn start(
        config: ServiceConfig,
        listeners: Vec<Option<std::net::TcpListener>>,
        mut factory: impl FnMut(usize) -> H,
    ) -> io::Result<Service<H>> {
        let model = driver::resolve(config.model);
        let config = Arc::new(config);
        let loops: Arc<[Arc<Mailbox>]> = listeners
            .iter()
            .map(|_| Arc::new(Mailbox::default()))
            .collect();
        let ending = Arc::new(Ending::default());
        let mut service = Service {
            loops: loops.clone(),
            ending: ending.clone(),
            threads: Vec::new(),
            local_addr: None,
            model,
            next_loop: Arc::new(AtomicUsize::new(0)),
            acceptors: Mutex::new(Vec::new()),
            backlog: config.backlog,
            recipe: Recipe::for_port(&config),
            sharing: sharing(&config),
        };
        let admission = Arc::new(Admission::for_config(&config));
        let (ready_tx, ready_rx) = mpsc::channel();
        for (index, listener) in listeners.into_iter().enumerate() {
            let core = LoopCore::new(
                index,
                config.clone(),
                loops.clone(),
                admission.clone(),
                factory(index),
            );
            let ready = ready_tx.clone();
            let ending = ending.clone();
            let thread = std::thread::Builder::new()
                .name(format!("servercore-{index}"))
                .spawn(move || {
                    let result = run_loop(model, listener, core, ready);
                    ending.loop_ended();
                    result
                })?;
            service.threads.push(thread);
        }
        drop(ready_tx);
        for _ in 0..service.threads.len() {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(err)) => return Err(err), // dropping `service` stops the others
                Err(_) => return Err(io::Error::other("an event loop thread died while starting")),
            }
        }
        Ok(service)
    }

    /// The address the service listens on (`None` for [`Service::unbound`]).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// The I/O model the loops run (never [`Model::Auto`]: the resolved one).
    pub fn model(&self) -> Model {
        self.model
    }

    /// Number of event loops.
    pub fn threads(&self) -> usize {
        self.loops.len()
    }

    /// Sessions alive right now, over all loops. Updated by each loop on connect and close.
    pub fn live_sessions(&self) -> usize {
        self.loops.iter().map(|l| l.live()).sum()
    }

    /// Loops whose thread ended with an error (logged; their sessions were closed with
    /// [`CloseReason::LoopFailed`]). A healthy service has none; [`Service::stop`] returns
    /// the errors.
    pub fn failed_loops(&self) -> usize {
        self.loops.iter().filter(|l| l.failed()).count()
    }

    /// Each loop's stats, by loop index, as last published (at most ~100 ms old). Merge them
    /// with [`LoopStats::merge`].
    pub fn stats(&self) -> Vec<LoopStats> {
        self.loops.iter().map(|l| l.stats()).collect()
    }

    /// A handle other threads use to run the loops' [`Handler::notified`].
    pub fn notifier(&self) -> Notifier {
        Notifier::new(self.loops.clone())
    }

    /// Hands a connected socket to the next loop (round robin) as a new session.
    pub fn adopt(&self, stream: TcpStream) {
        self.adopt_as(stream, Arrival::Adopted(None));
    }

    /// Hands a connected socket to the next loop as a new session speaking TLS through
    /// `tls`, the client side of the connection: started (the loop sends its first flight
    /// and finishes the handshake; the handler hears of the session once it is done) or
    /// already established over this socket (the handler hears at once). The load
    /// generator's `--tls` clients are these.
    pub fn adopt_tls(&self, stream: TcpStream, tls: crate::tls::rustls::ClientConnection) {
        self.adopt_as(stream, Arrival::Adopted(Pipeline::tls_client(tls)));
    }

    fn adopt_as(&self, stream: TcpStream, arrival: Arrival) {
        let index = self.next_loop.fetch_add(1, Ordering::Relaxed) % self.loops.len();
        self.loops[index].post([Command::Adopt { stream, arrival }]);
    }

    /// Also listens on `addr` for WebSocket players (RFC 6455, binary messages; `config`
    /// bounds messages and the upgrade request and may carry a page served at `/`). Each
    /// connection is accepted by a thread of its own and handed to a loop, where it is
    /// admitted under the session caps (after its PROXY header, with
    /// [`ServiceConfig::proxy_protocol`]), decrypted (`wss://`, and the page over `https://`,
    /// with [`ServiceConfig::tls`]), upgraded, and then served like any session: the
    /// handler gets the messages' bytes as one byte stream, and every
    /// [`Context::send`](crate::Context::send) to it leaves as one binary message. Returns the
    /// bound address.
    ///
    /// # Errors
    /// Binding errors (`AddrInUse`, `PermissionDenied`), as for [`Service::bind`]: a port
    /// already listened on (by another process, or by this service's own loops) is refused
    /// unless [`ServiceConfig::reuse_port`] is set.
    pub fn listen_websocket(&self, addr: SocketAddr, config: WsConfig) -> io::Result<SocketAddr> {
        let acceptor = Acceptor::start(
            addr,
            self.backlog,
            self.sharing,
            Recipe {
                websocket: Some(Arc::new(config)),
                ..self.recipe.clone()
            },
            self.loops.clone(),
            self.next_loop.clone(),
        )?;
        let local = acceptor.local_addr();
        tracing::info!(addr = %local, "listening (websocket)");
        self.acceptors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(acceptor);
        Ok(local)
    }

    /// A handle other threads use to stop the service (and wake [`Service::wait`]).
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle::new(self.loops.clone(), self.ending.clone())
    }

    /// Serves until [`StopHandle::stop`] is called or a loop fails, then stops every loop
    /// (draining) and returns the handlers, by loop (a failed loop's error in its place).
    ///
    /// # Panics
    /// If a loop thread panicked (a handler bug); the panic is resumed here.
    pub fn wait(self) -> Vec<io::Result<H>> {
        self.ending.wait();
        self.stop()
    }

    /// Stops every loop (sessions close with `Shutdown`) and returns the handlers, by loop.
    ///
    /// # Panics
    /// If a loop thread panicked (a handler bug); the panic is resumed here.
    pub fn stop(mut self) -> Vec<io::Result<H>> {
        self.request_stop();
        self.threads
            .drain(..)
            .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    }

    /// As [`Service::stop`], with each loop's final stats (published as its thread ended:
    /// every byte it received, sent and discarded while draining).
    ///
    /// # Panics
    /// If a loop thread panicked (a handler bug); the panic is resumed here.
    pub fn stop_with_stats(self) -> (Vec<io::Result<H>>, Vec<LoopStats>) {
        let loops = self.loops.clone();
        let handlers = self.stop();
        (handlers, loops.iter().map(|l| l.stats()).collect())
    }

    fn request_stop(&self) {
        self.acceptors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear(); // no new sessions from them while the loops drain
        for mailbox in self.loops.iter() {
            mailbox.request_stop();
        }
    }
}

impl<H> Drop for Service<H> {
    fn drop(&mut self) {
        self.acceptors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        for mailbox in self.loops.iter() {
            mailbox.request_stop();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// How the service's listeners treat a port other processes listen on.
fn sharing(config: &ServiceConfig) -> Sharing {
    match config.reuse_port {
        true => Sharing::WithOtherProcesses,
        false => Sharing::Exclusive,
    }
}

/// Body of a loop thread: build the driver here (io_uring wants its submitter thread to be
/// its creator), report readiness, run until stopped.
fn run_loop<H: Handler>(
    model: Model,
    listener: Option<std::net::TcpListener>,
    mut core: LoopCore<H>,
    ready: mpsc::Sender<io::Result<()>>,
) -> io::Result<H> {
    let mut driver = match driver::start(model, listener, core.config()) {
        Ok((driver, waker)) => {
            core.mailbox().set_waker(waker);
            let _ = ready.send(Ok(()));
            driver
        }
        Err(err) => {
            let _ = ready.send(Err(io::Error::new(
                err.kind(),
                format!("starting {model} driver: {err}"),
            )));
            return Err(err);
        }
    };
    drop(ready);
    let result = match &mut driver {
        AnyDriver::Epoll(d) => core.run(d),
        #[cfg(target_os = "linux")]
        AnyDriver::Uring(d) => core.run(d.as_mut()),
    };
    if let Err(err) = result {
        tracing::error!(loop_index = core.state.index, "event loop failed: {err}");
        // Other loops stop reaching it, and the handler hears of every session it had (so
        // the application forgets them); the driver, dropped below, closes their sockets.
        core.mailbox().mark_failed();
        core.close_all(CloseReason::LoopFailed);
        return Err(err);
    }
    Ok(core.into_handler())
}
