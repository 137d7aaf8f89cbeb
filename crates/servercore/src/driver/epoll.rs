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
//! | `FD_READ` → `recv`                                | `recv` into the loop's scratch buffer until `EAGAIN` (edge-triggered: must drain) |
//! | `FD_WRITE` → `send` from `sendBytes`              | `send` (one buffer) or `writev` of the session's queue, resumed where it stopped |
//! | `FD_CLOSE`, "todo: remove session"                | `read` returns 0 / `EPOLLRDHUP`: flush, `close`, slot freed |
//! | `WSAEWOULDBLOCK`                                  | `EAGAIN` (`io::ErrorKind::WouldBlock`): a normal outcome, wait for the next edge |
//!
//! Edge-triggered rules this driver keeps, mio's contract (no new event is promised until an
//! operation returns `WouldBlock`): after a readable edge it reads until `EAGAIN` (on Linux, or
//! a short read without `RDHUP`: Linux raises a new edge for every later arrival, so the rest
//! of the socket buffer is known empty; `SHORT_READ_DRAINS`); after a writable edge it writes
//! until the queue is empty or `EAGAIN`; accepting goes on until `EAGAIN`; a session whose
//! reading was paused for backpressure is read again as soon as it resumes, since no new edge
//! would come for bytes already waiting; and an accept paused for descriptor exhaustion drains
//! the backlog when it resumes.
//!
//! The loop itself is [`LoopCore::run`](crate::loop_core::LoopCore); this file is only the
//! [`Driver`] half: wait, read, write, register, close.

use std::io::{self, IoSlice, Write};
use std::time::Duration;

use mio::event::Event as MioEvent;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use super::{socket_call, Driver, Event, Input, Outgoing, SendProgress, SocketOptions};
use crate::accept_backoff::AcceptBackoff;
use crate::mailbox::Wake;
use crate::session::MAX_IOVECS;
use crate::{ServiceConfig, SessionId};

/// A short read leaves nothing to wait for: Linux only.
///
/// mio promises a new readiness event only once an operation has returned `WouldBlock`
/// ("Draining readiness", `mio::Poll`'s docs). Linux's edge-triggered epoll gives more: every
/// later arrival raises a new edge, so a read that did not fill the buffer (and no hang-up)
/// means the socket buffer is empty, and the `recv` that would say `EAGAIN` is saved, one
/// system call per message. Elsewhere the driver keeps to the contract and reads until
/// `WouldBlock`. On Windows that is required: mio's AFD poll re-arms a socket only when an
/// operation returns `WouldBlock`, so a session stopped after a short read got no event for
/// its next message and hung after one echo (issue 23). kqueue's `EV_CLEAR` would allow the
/// shortcut as epoll does, but mio does not promise it, so macOS takes the contract's path too.
const SHORT_READ_DRAINS: bool = cfg!(target_os = "linux");

const WAKER: Token = Token(usize::MAX);
const LISTENER: Token = Token(usize::MAX - 1);

/// A session's socket and its registration state.
#[derive(Debug)]
struct Socket {
    stream: TcpStream,
    id: SessionId,
    /// `EPOLLOUT` is registered (kept until the queue is empty once more).
    write_interest: bool,
    /// The last write hit `EAGAIN` and no writable edge came since.
    write_blocked: bool,
    /// Reading is allowed ([`Driver::set_reading`]).
    reading: bool,
    /// Bytes may be waiting in the kernel: a readable edge came, or reading was stopped
    /// before `EAGAIN`. Cleared by `EAGAIN`, or on Linux a short read (`SHORT_READ_DRAINS`).
    readable: bool,
    /// The peer hung up or the socket failed: read to the end even after a short read.
    hup: bool,
}

/// The readiness driver of one loop.
pub(crate) struct EpollDriver {
    poll: Poll,
    events: Events,
    listener: Option<TcpListener>,
    /// Accepting is paused after a failure, until [`Driver::resume_accepting`].
    accept_paused: bool,
    /// The backlog must be accepted without waiting for an edge (after a pause).
    accept_owed: bool,
    /// Sockets by session slot.
    sockets: Vec<Option<Socket>>,
    scratch: Vec<u8>,
    /// Set on every session's socket in `register`.
    options: SocketOptions,
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
            accept_paused: false,
            accept_owed: false,
            sockets: Vec::new(),
            scratch: vec![0; config.read_chunk.max(1024)],
            options: SocketOptions::from_config(config),
        };
        Ok((driver, Box::new(waker)))
    }

    /// Accepts until `EAGAIN` (the lecture's `FD_ACCEPT` → `accept`). A failure about one
    /// connection is skipped; any other pauses accepting and is reported.
    fn accept_all(&mut self, out: &mut Vec<Event>) {
        self.accept_owed = false;
        while let Some(listener) = &self.listener {
            if self.accept_paused {
                return;
            }
            match listener.accept() {
                Ok((stream, peer)) => out.push(Event::Accepted {
                    stream: stream.into(),
                    peer,
                }),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if AcceptBackoff::is_transient(&err) => tracing::debug!("accept: {err}"),
                Err(err) => {
                    self.accept_paused = true;
                    out.push(Event::AcceptFailed(err));
                }
            }
        }
    }

    /// Turns one epoll event of a session into the session layer's events.
    fn session_event(&mut self, event: &MioEvent, out: &mut Vec<Event>) {
        let id = SessionId::from_u64(event.token().0 as u64);
        let Some(socket) = socket_in(&mut self.sockets, id) else {
            return; // an event for a socket closed earlier in this batch
        };
        if event.is_writable() {
            socket.write_blocked = false;
            out.push(Event::Writable(id));
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            socket.hup |= event.is_read_closed() || event.is_error();
            socket.readable = true;
            if socket.reading {
                out.push(Event::Readable(id));
            }
        }
    }
}

impl Socket {
    /// Registers or drops `EPOLLOUT`.
    fn set_write_interest(&mut self, registry: &Registry, want: bool) -> io::Result<()> {
        if self.write_interest == want {
            return Ok(());
        }
        let interest = if want {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        registry.reregister(&mut self.stream, token(self.id), interest)?;
        self.write_interest = want;
        Ok(())
    }

    /// One write (`write` given the stream), retried on `EINTR`. `None` if the socket is
    /// full (`EAGAIN`): `EPOLLOUT` is registered, and writes wait for its edge.
    ///
    /// Within mio's contract on every OS: writes stop waiting only for an edge that follows a
    /// `WouldBlock` (the write that returned it re-armed the poll, on Windows too). A short
    /// write is not taken for a full socket: the loop writes the rest at once
    /// (`LoopCore::flush` sends until the queue is empty or this says `None`; a direct reply's
    /// rest is queued and flushed the same way), so a wait always begins with a `WouldBlock`.
    fn write(
        &mut self,
        registry: &Registry,
        mut write: impl FnMut(&TcpStream) -> io::Result<usize>,
    ) -> io::Result<Option<usize>> {
        if self.write_blocked {
            return Ok(None);
        }
        loop {
            match write(&self.stream) {
                Ok(n) => return Ok(Some(n)),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.write_blocked = true;
                    self.set_write_interest(registry, true)?;
                    return Ok(None);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }
}

impl Driver for EpollDriver {
    type Socket = std::net::TcpStream;

    fn adopt(
        &mut self,
        stream: std::net::TcpStream,
    ) -> io::Result<(std::net::TcpStream, std::net::SocketAddr)> {
        super::adopt_stream(stream)
    }

    fn refuse(&mut self, socket: std::net::TcpStream, farewell: Option<&[u8]>) {
        if let Some(farewell) = farewell {
            super::send_farewell(&socket, farewell);
        }
    }

    fn poll(&mut self, timeout: Option<Duration>, out: &mut Vec<Event>) -> io::Result<()> {
        let timeout = if self.accept_owed {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        if let Err(err) = self.poll.poll(&mut self.events, timeout) {
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
        if self.accept_owed {
            self.accept_all(out);
        }
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        for event in events.iter() {
            match event.token() {
                WAKER => {}
                LISTENER => self.accept_all(out),
                _ => self.session_event(event, out),
            }
        }
        self.events = events;
        Ok(())
    }

    /// `epoll_ctl(ADD, EPOLLIN | EPOLLRDHUP | EPOLLET)`: the lecture's
    /// `WSAEventSelect(FD_READ | FD_CLOSE)`.
    fn register(&mut self, id: SessionId, stream: std::net::TcpStream) -> io::Result<()> {
        self.options.apply(&stream);
        stream.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(stream);
        self.poll
            .registry()
            .register(&mut stream, token(id), Interest::READABLE)?;
        let slot = id.slot();
        if self.sockets.len() <= slot {
            self.sockets.resize_with(slot + 1, || None);
        }
        self.sockets[slot] = Some(Socket {
            stream,
            id,
            write_interest: false,
            write_blocked: false,
            reading: true,
            readable: false,
            hup: false,
        });
        Ok(())
    }

    /// `recv` into the loop's scratch buffer (the lecture's `FD_READ` → `recv`; a raw system
    /// call, see [`socket_call`]).
    fn read(&mut self, id: SessionId) -> Input<'_> {
        let Some(socket) = socket_in(&mut self.sockets, id) else {
            return Input::Wait;
        };
        loop {
            if !socket.reading || !socket.readable {
                return Input::Wait;
            }
            match socket_call::recv(&socket.stream, &mut self.scratch) {
                Ok(0) => {
                    socket.readable = false;
                    return Input::Eof;
                }
                Ok(n) => {
                    // On Linux a short read empties the socket buffer: a later arrival raises a
                    // new edge (unless the peer hung up, which raises none: read on to EOF).
                    // Elsewhere read on until `WouldBlock`, the only re-arm mio promises.
                    socket.readable = n == self.scratch.len() || socket.hup || !SHORT_READ_DRAINS;
                    return Input::Data(&self.scratch[..n]);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    socket.readable = false;
                    return Input::Wait;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    socket.readable = false;
                    return Input::Failed(err);
                }
            }
        }
    }

    /// A paused socket keeps its bytes in the kernel; `readable` remembers they may wait.
    fn set_reading(&mut self, id: SessionId, on: bool) {
        if let Some(socket) = socket_in(&mut self.sockets, id) {
            socket.reading = on;
        }
    }

    /// `send` (one buffer: the head alone, or one queued buffer) or `writev` (the head and
    /// the queue's buffers) — the lecture's `FD_WRITE` → `send` from `sendBytes`; on `EAGAIN`,
    /// `EPOLLOUT` is registered until a write empties the queue again.
    fn send(&mut self, id: SessionId, out: Outgoing<'_>) -> io::Result<SendProgress> {
        let registry = self.poll.registry();
        let Some(socket) = socket_in(&mut self.sockets, id) else {
            return Ok(SendProgress::Idle);
        };
        if socket.write_blocked {
            return Ok(SendProgress::Wait); // `EPOLLOUT` stays registered until its edge
        }
        let Outgoing { head, queue } = out;
        if head.is_empty() && queue.is_empty() {
            socket.set_write_interest(registry, false)?;
            return Ok(SendProgress::Idle);
        }
        // One buffer (a direct reply, or a single message queued): plain send(2), cheaper in
        // the kernel than importing a one-element iovec, and no iovec array to fill here.
        let only = match (head.is_empty(), queue.is_empty()) {
            (false, true) => Some(head),
            (true, false) => queue.only_buffer(),
            _ => None,
        };
        let written = socket.write(registry, |mut stream| match only {
            Some(buf) => socket_call::send(stream, buf),
            None => {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                slices[0] = IoSlice::new(head);
                let first = usize::from(!head.is_empty());
                let count = first + queue.io_slices(&mut slices[first..]);
                stream.write_vectored(&slices[..count])
            }
        })?;
        let Some(n) = written else {
            return Ok(SendProgress::Wait);
        };
        queue.advance(n.saturating_sub(head.len()));
        if n >= head.len() && queue.is_empty() {
            socket.set_write_interest(registry, false)?;
        }
        Ok(SendProgress::Wrote(n))
    }

    fn shutdown_write(&mut self, id: SessionId) -> io::Result<()> {
        match socket_in(&mut self.sockets, id) {
            Some(socket) => socket.stream.shutdown(std::net::Shutdown::Write),
            None => Ok(()),
        }
    }

    /// Deregisters and closes the socket at once (the lecture's "todo: remove session").
    fn close(&mut self, id: SessionId) -> bool {
        let Some(slot) = self.sockets.get_mut(id.slot()) else {
            return false;
        };
        if slot.as_ref().is_none_or(|s| s.id != id) {
            return false;
        }
        let Some(mut socket) = slot.take() else {
            return false;
        };
        let _ = self.poll.registry().deregister(&mut socket.stream);
        drop(socket); // `close(2)`
        true
    }

    /// The paused round stopped before `WouldBlock`, and mio promises no event until an
    /// accept returns it (on Linux, connections that queued meanwhile raised no new edge): the
    /// next poll accepts the backlog without waiting.
    fn resume_accepting(&mut self) {
        if std::mem::take(&mut self.accept_paused) {
            self.accept_owed = true;
        }
    }

    fn stop_accepting(&mut self) {
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(()) // nothing of the driver's is left in the kernel: closes took effect at once
    }

    fn shrink(&mut self) {
        super::shrink_slots(&mut self.sockets);
    }
}

fn token(id: SessionId) -> Token {
    Token(id.to_u64() as usize)
}

/// The socket of session `id`, if it is still the one in its slot (a free function so the
/// caller can borrow other fields of the driver, like the scratch buffer, at the same time).
fn socket_in(sockets: &mut [Option<Socket>], id: SessionId) -> Option<&mut Socket> {
    sockets
        .get_mut(id.slot())
        .and_then(Option::as_mut)
        .filter(|s| s.id == id)
}
