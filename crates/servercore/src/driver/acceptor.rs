//! [`Acceptor`]: a listener of its own thread that hands each connection to an event loop —
//! the lecture's accept thread. It waits with the readiness model (`mio`) whatever the
//! loops' model is, which is why it lives with the drivers: nothing above `driver/` polls. It serves the WebSocket listener
//! ([`Service::listen_websocket`](crate::Service::listen_websocket)): browser players connect
//! far less often than they send, so one `accept` thread and one mailbox post per connection
//! cost nothing that matters, and the loops' drivers keep their single listener each. The
//! sessions it hands over are admitted, limited and served by the loops exactly like the
//! others.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::listener::{Listener, Sharing};
use crate::mailbox::{Arrival, Command, Mailbox};
use crate::session::pipeline::Recipe;

const LISTENER: Token = Token(0);
const STOP: Token = Token(1);

/// A running accept thread; dropping it stops the thread.
#[derive(Debug)]
pub(crate) struct Acceptor {
    local_addr: SocketAddr,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl Acceptor {
    /// Listens on `addr` (the service's backlog; shared with other processes only as
    /// `sharing` says) and starts the thread, which gives each connection to the next loop
    /// (round robin, shared with `Service::adopt`) as a session with `recipe`'s stages.
    pub(crate) fn start(
        addr: SocketAddr,
        backlog: i32,
        sharing: Sharing,
        recipe: Recipe,
        loops: Arc<[Arc<Mailbox>]>,
        next_loop: Arc<AtomicUsize>,
    ) -> io::Result<Acceptor> {
        let std_listener = Listener::bind(addr, 1, backlog, sharing)?;
        let local_addr = std_listener.local_addr();
        let Some(std_listener) = std_listener.into_sockets().pop() else {
            unreachable!("one socket was bound")
        };
        let mut listener = TcpListener::from_std(std_listener);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), STOP)?);
        let thread = std::thread::Builder::new()
            .name(format!("servercore-accept-{}", local_addr.port()))
            .spawn(move || accept_loop(poll, &listener, &recipe, &loops, &next_loop))?;
        Ok(Acceptor {
            local_addr,
            waker,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        let _ = self.waker.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// After an accept failure other than `WouldBlock` (out of descriptors), how long the thread
/// waits before it tries again (the loops free descriptors as sessions close).
const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(100);

/// Waits for connections (or the stop wake-up) and posts each to a loop.
///
/// Accepts until `WouldBlock` after each event: mio promises a new event only once an
/// operation has returned it ("Draining readiness" in `mio::Poll`'s docs; on Windows the AFD
/// poll is re-armed by that `WouldBlock`, on Linux no edge comes for connections already
/// queued). A round stopped by a failure instead leaves the backlog owed: the next round comes
/// after [`RETRY_AFTER_FAILURE`], event or not, and the stop wake-up is still heard meanwhile.
fn accept_loop(
    mut poll: Poll,
    listener: &TcpListener,
    recipe: &Recipe,
    loops: &[Arc<Mailbox>],
    next_loop: &AtomicUsize,
) {
    let mut events = Events::with_capacity(16);
    let mut owed = false;
    loop {
        let timeout = owed.then_some(RETRY_AFTER_FAILURE);
        if let Err(err) = poll.poll(&mut events, timeout) {
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            tracing::error!("accept thread: {err}");
            return;
        }
        if events.iter().any(|e| e.token() == STOP) {
            return;
        }
        owed = false;
        loop {
            match listener.accept() {
                Ok((stream, _peer)) => {
                    let index = next_loop.fetch_add(1, Ordering::Relaxed) % loops.len();
                    loops[index].post([Command::Adopt {
                        stream: stream.into(),
                        arrival: Arrival::Accepted(recipe.clone()),
                    }]);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if crate::accept_backoff::AcceptBackoff::is_transient(&err) => {}
                Err(err) => {
                    tracing::warn!(
                        "accept (websocket listener): {err}; retrying in {} ms",
                        RETRY_AFTER_FAILURE.as_millis()
                    );
                    owed = true;
                    break;
                }
            }
        }
    }
}
