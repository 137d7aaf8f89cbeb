//! `--resume`: how a dropped client gets a new connection. Its state leaves its event loop,
//! a connect thread opens a new socket to its server and hands it to the service, and the
//! loop that adopts it takes the client back.
//!
//! ```text
//!   loop A: disconnected(client 7)  -> Rejoin::park(server, client 7) -> request(server)
//!   connect thread: connect(server) (retried, within the seat's window) -> Service::adopt
//!   loop B: connected(session)      -> Rejoin::take(peer) = client 7 -> RESUME first
//! ```
//!
//! The clients waiting for a connection are kept by server, not by socket: a fresh
//! connection to a server can carry any of its clients' RESUME (the server knows the player
//! by the RESUME, not by the socket), so whichever loop adopts a socket takes the client
//! that waited longest. Every park is followed by exactly one adopted socket or one
//! [`Rejoin::give_up`], so a socket never finds the queue empty while its own client waits.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::connect;

/// Clients (of type `T`) waiting for a new connection, by server, and the requests for one.
#[derive(Debug)]
pub struct Rejoin<T> {
    waiting: Mutex<HashMap<SocketAddr, VecDeque<T>>>,
    /// Clients whose connection could not be made (settled at the end of the run).
    gave_up: Mutex<Vec<T>>,
    /// Clients parked and not yet taken back nor given up.
    away: AtomicU32,
    requests: Sender<SocketAddr>,
}

impl<T> Rejoin<T> {
    /// An empty pool, and the receiving end of its connect requests (for [`Reconnector`]).
    pub fn new() -> (Rejoin<T>, Receiver<SocketAddr>) {
        let (requests, rx) = mpsc::channel();
        let rejoin = Rejoin {
            waiting: Mutex::new(HashMap::new()),
            gave_up: Mutex::new(Vec::new()),
            away: AtomicU32::new(0),
            requests,
        };
        (rejoin, rx)
    }

    /// Parks `client` until a new connection to `server` comes, and asks for one.
    pub fn park(&self, server: SocketAddr, client: T) {
        self.away.fetch_add(1, Ordering::AcqRel);
        let mut waiting = self.waiting.lock().expect("rejoin lock");
        waiting.entry(server).or_default().push_back(client);
        drop(waiting);
        // The receiver lives as long as the run's connect thread; after it stopped, the
        // client stays parked and is settled with the others.
        let _ = self.requests.send(server);
    }

    /// The client that waited longest for a connection to `server`, if any.
    pub fn take(&self, server: SocketAddr) -> Option<T> {
        let mut waiting = self.waiting.lock().expect("rejoin lock");
        let client = waiting.get_mut(&server)?.pop_front()?;
        self.away.fetch_sub(1, Ordering::AcqRel);
        Some(client)
    }

    /// No connection to `server` could be made: its longest-waiting client is given up,
    /// with `settle` applied to it.
    pub fn give_up(&self, server: SocketAddr, settle: impl FnOnce(&mut T)) {
        if let Some(mut client) = self.take(server) {
            settle(&mut client);
            self.gave_up.lock().expect("rejoin lock").push(client);
        }
    }

    /// Clients parked and neither taken back nor given up.
    pub fn away(&self) -> u32 {
        self.away.load(Ordering::Acquire)
    }

    /// After the run: every client still parked or given up.
    pub fn take_all(&self) -> Vec<T> {
        let mut all: Vec<T> = std::mem::take(&mut *self.gave_up.lock().expect("rejoin lock"));
        for (_, queue) in self.waiting.lock().expect("rejoin lock").drain() {
            all.extend(queue);
        }
        all
    }
}

/// The connect thread of `--resume`: takes [`Rejoin`]'s requests, connects (retried with
/// backoff, see [`connect::connect_all`]) and hands each socket to `adopt`; a server it
/// cannot reach within `timeout` has its client given up through `unreachable`.
#[derive(Debug)]
pub struct Reconnector {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Reconnector {
    /// Starts the thread.
    pub fn start(
        requests: Receiver<SocketAddr>,
        timeout: Duration,
        adopt: impl Fn(std::net::TcpStream) + Send + 'static,
        unreachable: impl Fn(SocketAddr) + Send + 'static,
    ) -> Reconnector {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("dummyclient-reconnect".into())
            .spawn(move || {
                while !stopping.load(Ordering::Acquire) {
                    let server = match requests.recv_timeout(Duration::from_millis(10)) {
                        Ok(server) => server,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => return,
                    };
                    if let Err(err) = connect::connect_all(server, 1, timeout, &adopt) {
                        tracing::warn!("resume: {err}");
                        unreachable(server);
                    }
                }
            })
            .expect("spawn the reconnect thread");
        Reconnector {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the thread (a connect under way finishes first) and waits for it; dropping
    /// the reconnector does the same.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Reconnector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_come_back_in_order_by_server_and_are_settled_when_given_up() {
        let (rejoin, rx) = Rejoin::new();
        let (a, b): (SocketAddr, SocketAddr) = (
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
        );
        rejoin.park(a, 1);
        rejoin.park(b, 2);
        rejoin.park(a, 3);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [a, b, a]);
        assert_eq!(rejoin.away(), 3);
        assert_eq!(rejoin.take(a), Some(1));
        assert_eq!(rejoin.take(b), Some(2));
        assert_eq!(rejoin.take(b), None);
        rejoin.give_up(a, |c| *c += 100);
        assert_eq!(rejoin.away(), 0);
        rejoin.park(b, 4);
        let mut left = rejoin.take_all();
        left.sort();
        assert_eq!(left, [4, 103]);
    }

    #[test]
    fn the_thread_adopts_a_connection_or_gives_the_client_up() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap(); // released: nothing listens there
        let (rejoin, rx) = Rejoin::new();
        let rejoin = Arc::new(rejoin);
        let (adopted_tx, adopted) = mpsc::channel();
        let given_up = rejoin.clone();
        let thread = Reconnector::start(
            rx,
            Duration::from_millis(200),
            move |stream| adopted_tx.send(stream.peer_addr().unwrap()).unwrap(),
            move |server| given_up.give_up(server, |_| {}),
        );
        rejoin.park(open, "a");
        rejoin.park(closed, "b");
        assert_eq!(adopted.recv_timeout(Duration::from_secs(10)), Ok(open));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while rejoin.away() > 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            rejoin.away(),
            1,
            "b given up, a still parked (no loop took it)"
        );
        thread.stop();
        let mut left = rejoin.take_all();
        left.sort();
        assert_eq!(left, ["a", "b"]);
    }
}
