//! The readiness model: epoll through `mio` — the lecture's WSAEventSelect server, finished.
//!
//! | lecture (WSAEventSelect)                          | here (Linux, via mio)                               |
//! |---------------------------------------------------|-----------------------------------------------------|
//! | `WSACreateEvent` per socket                       | one `epoll` instance per loop (`mio::Poll`)         |
//! | `WSAEventSelect(s, ev, FD_ACCEPT)`                | `epoll_ctl(ADD, listener, EPOLLIN \| EPOLLET)`       |
//! | `WSAEventSelect(s, ev, FD_READ\|FD_WRITE\|FD_CLOSE)` | `epoll_ctl(ADD, s, EPOLLIN \| EPOLLRDHUP \| EPOLLET)`, plus `EPOLLOUT` only while a send is stuck |
//! | `WSAWaitForMultipleEvents` (max 64 handles)       | `epoll_wait` (any number of sockets)                |
//! | `WSAEnumNetworkEvents` → `lNetworkEvents`         | the `epoll_event` flags (`mio::event::Event`)       |
//! | `FD_ACCEPT` → `accept`                            | `accept4` until `EAGAIN`                            |
//! | `FD_READ` → `recv`                                | `read` into the loop's scratch buffer until `EAGAIN` (edge-triggered: must drain) |
//! | `FD_WRITE` → `send` from `sendBytes`              | `writev` of the session's queue, resumed where it stopped |
//! | `FD_CLOSE`, "todo: remove session"                | `read` returns 0 / `EPOLLRDHUP`: flush, `close`, slot freed |
//! | `WSAEWOULDBLOCK`                                  | `EAGAIN` (`io::ErrorKind::WouldBlock`): a normal outcome, wait for the next edge |
//!
//! Edge-triggered rules this driver keeps: after a readable edge it reads until `EAGAIN`
//! (or a short read without `RDHUP`: Linux raises a new edge for every later arrival, so the
//! rest of the socket buffer is known empty); after a writable edge it writes until the queue
//! is empty or `EAGAIN`; a session whose reading was paused for backpressure is read again as
//! soon as it resumes, since no new edge would come for bytes already waiting.

use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::loop_core::{LoopCore, PendingAction};
use crate::mailbox::{Command, Wake};
use crate::session::MAX_IOVECS;
use crate::{CloseReason, Handler, ServiceConfig, SessionId};

const WAKER: Token = Token(usize::MAX);
const LISTENER: Token = Token(usize::MAX - 1);

/// A session's socket and its registration state.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    id: SessionId,
    /// `EPOLLOUT` is registered (only while a write is stuck on a full socket buffer).
    want_write: bool,
    /// Reading stopped with bytes possibly waiting (paused): read again when allowed.
    read_owed: bool,
}

/// The readiness driver of one loop.
pub(crate) struct EpollDriver {
    poll: Poll,
    events: Events,
    listener: Option<TcpListener>,
    /// Sockets by session slot.
    conns: Vec<Option<Conn>>,
    scratch: Vec<u8>,
    nodelay: bool,
    pending: Vec<SessionId>,
    commands: Vec<Command>,
}

impl Wake for Waker {
    fn wake(&self) -> io::Result<()> {
        Waker::wake(self)
    }
}

impl EpollDriver {
    pub(crate) fn new(
        listener: Option<std::net::TcpListener>,
        config: &ServiceConfig,
    ) -> io::Result<(EpollDriver, Box<dyn Wake>)> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let mut listener = match listener {
            Some(std_listener) => {
                std_listener.set_nonblocking(true)?;
                Some(TcpListener::from_std(std_listener))
            }
            None => None,
        };
        if let Some(listener) = &mut listener {
            poll.registry()
                .register(listener, LISTENER, Interest::READABLE)?;
        }
        let driver = EpollDriver {
            poll,
            events: Events::with_capacity(1024),
            listener,
            conns: Vec::new(),
            scratch: vec![0; config.read_chunk.max(1024)],
            nodelay: config.nodelay,
            pending: Vec::new(),
            commands: Vec::new(),
        };
        Ok((driver, Box::new(waker)))
    }

    /// Runs the loop until stop is requested and the sessions drained (see
    /// [`LoopCore::begin_shutdown`]), then closes whatever is left.
    pub(crate) fn run<H: Handler>(&mut self, core: &mut LoopCore<H>) -> io::Result<()> {
        loop {
            if let Err(err) = self.poll.poll(&mut self.events, core.timeout()) {
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
            core.begin_iteration();
            self.dispatch_events(core);
            self.run_commands(core);
            self.carry_out_pending(core);
            core.end_iteration();
            self.carry_out_pending(core);
            if core.accept_resume_due() {
                self.accept_all(core); // edge-triggered: the backlog will not raise a new edge
            }
            if core.mailbox().stop_requested() {
                self.stop_accepting();
                core.begin_shutdown();
                self.carry_out_pending(core);
                if core.drained() {
                    break;
                }
            }
        }
        self.shutdown(core);
        Ok(())
    }

    /// Closes the listening socket: no new sessions while draining.
    fn stop_accepting(&mut self) {
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
    }

    fn dispatch_events<H: Handler>(&mut self, core: &mut LoopCore<H>) {
        // The event list is taken out so handlers of one event may act on other sessions.
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        for event in events.iter() {
            match event.token() {
                WAKER => {}
                LISTENER => self.accept_all(core),
                token => self.on_session_event(core, token, event),
            }
        }
        self.events = events;
    }

    fn on_session_event<H: Handler>(
        &mut self,
        core: &mut LoopCore<H>,
        token: Token,
        event: &Event,
    ) {
        let id = SessionId::from_u64(token.0 as u64);
        if self.conn(id).is_none() {
            return; // an event for a socket closed earlier in this batch
        }
        if event.is_writable() {
            self.flush(core, id);
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            let drain = event.is_read_closed() || event.is_error();
            self.read(core, id, drain);
        }
    }

    /// Accepts until `EAGAIN` (the lecture's `FD_ACCEPT` → `accept`).
    fn accept_all<H: Handler>(&mut self, core: &mut LoopCore<H>) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            if core.accept_paused() {
                return; // out of descriptors: LoopCore says when to retry
            }
            match listener.accept() {
                Ok((stream, peer)) => self.admit(core, stream, peer),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if core.accept_failed(&err) => return, // paused: LoopCore says when
                Err(_) => {}                                    // one connection's error: skipped
            }
        }
    }

    /// A connection from the listener: a session if the caps allow, else the farewell and
    /// close.
    fn admit<H: Handler>(&mut self, core: &mut LoopCore<H>, stream: TcpStream, peer: SocketAddr) {
        if core.draining() {
            return; // shutting down: the socket is closed on drop
        }
        match core.accept(peer) {
            Ok(id) => self.register(core, stream, id, peer),
            Err(refused) => super::send_farewell(stream.as_fd(), refused.farewell.as_deref()),
        }
    }

    /// Registers a session's socket with epoll (`EPOLLIN | EPOLLRDHUP`, edge-triggered).
    fn register<H: Handler>(
        &mut self,
        core: &mut LoopCore<H>,
        mut stream: TcpStream,
        id: SessionId,
        peer: SocketAddr,
    ) {
        if self.nodelay {
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(%peer, "TCP_NODELAY: {err}");
            }
        }
        let token = Token(id.to_u64() as usize);
        if let Err(err) = self
            .poll
            .registry()
            .register(&mut stream, token, Interest::READABLE)
        {
            tracing::warn!(%peer, "epoll_ctl(ADD): {err}");
            core.close(id, CloseReason::from_io(&err));
            return;
        }
        let slot = id.slot();
        if self.conns.len() <= slot {
            self.conns.resize_with(slot + 1, || None);
        }
        self.conns[slot] = Some(Conn {
            stream,
            id,
            want_write: false,
            read_owed: false,
        });
    }

    fn run_commands<H: Handler>(&mut self, core: &mut LoopCore<H>) {
        core.mailbox().drain_into(&mut self.commands);
        for command in std::mem::take(&mut self.commands) {
            match command {
                Command::Adopt(stream) => self.adopt(core, stream),
                other => core.apply(other),
            }
        }
    }

    fn adopt<H: Handler>(&mut self, core: &mut LoopCore<H>, stream: std::net::TcpStream) {
        let peer = match stream
            .set_nonblocking(true)
            .and_then(|()| stream.peer_addr())
        {
            Ok(peer) => peer,
            Err(err) => {
                tracing::warn!("cannot adopt socket: {err}");
                return;
            }
        };
        if core.draining() {
            return;
        }
        let id = core.open(peer);
        self.register(core, TcpStream::from_std(stream), id, peer);
    }

    /// Reads until `EAGAIN` (or a short read, unless `drain`), handing each chunk to the
    /// session layer.
    fn read<H: Handler>(&mut self, core: &mut LoopCore<H>, id: SessionId, drain: bool) {
        loop {
            if core.read_blocked(id) {
                if let Some(conn) = self.conn_mut(id) {
                    conn.read_owed = true;
                }
                return;
            }
            let Some(conn) = conn_in(&mut self.conns, id) else {
                return;
            };
            match conn.stream.read(&mut self.scratch) {
                Ok(0) => {
                    core.peer_closed(id);
                    return;
                }
                Ok(n) => {
                    core.received(id, &self.scratch[..n]);
                    if n < self.scratch.len() && !drain {
                        return;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    self.close(core, id, CloseReason::from_io(&err));
                    return;
                }
            }
        }
    }

    /// Writes the session's queue with `writev` until it is empty or the socket is full.
    fn flush<H: Handler>(&mut self, core: &mut LoopCore<H>, id: SessionId) {
        loop {
            let Some(conn) = conn_in(&mut self.conns, id) else {
                return;
            };
            let Some(session) = core.session_mut(id) else {
                return;
            };
            if session.send.is_empty() {
                break;
            }
            // One buffer (the common echo case): plain write(2), cheaper in the kernel than
            // importing a one-element iovec, and no iovec array to fill here.
            let written = match session.send.only_buffer() {
                Some(buf) => conn.stream.write(buf),
                None => {
                    let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                    let count = session.send.io_slices(&mut slices);
                    conn.stream.write_vectored(&slices[..count])
                }
            };
            match written {
                Ok(n) => {
                    session.send.advance(n);
                    if core.wrote(id, n) {
                        self.resume_reading(core, id);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.set_write_interest(core, id, true);
                    return;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    self.close(core, id, CloseReason::from_io(&err));
                    return;
                }
            }
        }
        self.set_write_interest(core, id, false);
        if let Some(reason) = core.flushed(id) {
            self.close(core, id, reason);
        }
    }

    /// Backpressure lifted: read what waited while the session was paused.
    fn resume_reading<H: Handler>(&mut self, core: &mut LoopCore<H>, id: SessionId) {
        let owed = self
            .conn_mut(id)
            .is_some_and(|c| std::mem::take(&mut c.read_owed));
        if owed {
            self.read(core, id, true);
        }
    }

    fn set_write_interest<H: Handler>(
        &mut self,
        core: &mut LoopCore<H>,
        id: SessionId,
        want: bool,
    ) {
        let Some(conn) = conn_in(&mut self.conns, id) else {
            return;
        };
        if conn.want_write == want {
            return;
        }
        let interest = if want {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let token = Token(id.to_u64() as usize);
        match self
            .poll
            .registry()
            .reregister(&mut conn.stream, token, interest)
        {
            Ok(()) => conn.want_write = want,
            Err(err) => self.close(core, id, CloseReason::from_io(&err)),
        }
    }

    /// Flushes or closes every session on the pending list.
    fn carry_out_pending<H: Handler>(&mut self, core: &mut LoopCore<H>) {
        let mut pending = std::mem::take(&mut self.pending);
        core.take_pending(&mut pending);
        for &id in &pending {
            match core.pending_action(id) {
                PendingAction::Flush => {
                    let stuck = self.conn(id).is_some_and(|c| c.want_write);
                    if !stuck {
                        self.flush(core, id);
                    } else if let Some(reason) = core.flushed(id) {
                        self.close(core, id, reason);
                    }
                }
                PendingAction::Abort(reason) => self.close(core, id, reason),
                PendingAction::Gone => {}
            }
        }
        pending.clear();
        self.pending = pending;
    }

    /// Releases the socket (deregister, `close`) and removes the session.
    fn close<H: Handler>(&mut self, core: &mut LoopCore<H>, id: SessionId, reason: CloseReason) {
        let Some(slot) = self.conns.get_mut(id.slot()) else {
            return;
        };
        if slot.as_ref().is_none_or(|c| c.id != id) {
            return;
        }
        if let Some(mut conn) = slot.take() {
            let _ = self.poll.registry().deregister(&mut conn.stream);
            drop(conn); // `close(2)`
            core.descriptor_freed();
        }
        core.close(id, reason);
    }

    /// End of the drain: close every session still open (their peers did not take what was
    /// queued in time).
    fn shutdown<H: Handler>(&mut self, core: &mut LoopCore<H>) {
        for id in core.session_ids() {
            self.close(core, id, CloseReason::Shutdown);
        }
        debug_assert_eq!(core.session_count(), 0);
    }

    fn conn(&self, id: SessionId) -> Option<&Conn> {
        self.conns
            .get(id.slot())
            .and_then(Option::as_ref)
            .filter(|c| c.id == id)
    }

    fn conn_mut(&mut self, id: SessionId) -> Option<&mut Conn> {
        conn_in(&mut self.conns, id)
    }
}

/// The socket of session `id`, if it is still the one in its slot (a free function so the
/// caller can borrow other fields of the driver, like the scratch buffer, at the same time).
fn conn_in(conns: &mut [Option<Conn>], id: SessionId) -> Option<&mut Conn> {
    conns
        .get_mut(id.slot())
        .and_then(Option::as_mut)
        .filter(|c| c.id == id)
}
