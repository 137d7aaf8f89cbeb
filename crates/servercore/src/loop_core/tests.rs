//! The loop's decisions, tested against a fake driver: what reaches the handler, what is
//! held, paused, resumed, flushed and closed — with no kernel involved: no socket, and with
//! [`ManualClock`] no wall-clock time either (`policy.rs`).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use super::LoopCore;
use crate::admission::Admission;
use crate::driver::{Driver, Event, Input, Outgoing, SendProgress};
use crate::mailbox::Mailbox;
use crate::{CloseReason, Context, Handler, ServiceConfig, SessionId};

/// What the fake kernel has for a session.
#[derive(Debug)]
enum Pending {
    Data(Vec<u8>),
    Eof,
}

/// A driver that records what it was told and lends scripted input.
#[derive(Default)]
struct FakeDriver {
    /// Completion-like: completed input is handed over even while reading is stopped.
    completion: bool,
    /// Like a completion driver with a send in flight: a head is never taken (`Wait`).
    head_refused: bool,
    /// Writes made.
    writes: usize,
    input: HashMap<SessionId, VecDeque<Pending>>,
    reading: HashMap<SessionId, bool>,
    /// Bytes the fake socket takes per `send` (`usize::MAX`: all).
    capacity: usize,
    written: HashMap<SessionId, Vec<u8>>,
    closed: Vec<SessionId>,
    shut: Vec<SessionId>,
    lent: Vec<u8>,
    /// Times the loop asked for memory back (`Driver::shrink`).
    shrinks: usize,
    /// Events the next `poll` reports (`Sim` queues them).
    events: Vec<Event<FakeSocket>>,
    /// Farewells written to refused connections.
    farewells: Vec<Vec<u8>>,
}

/// The fake driver's connection: no socket at all.
#[derive(Debug)]
struct FakeSocket;

impl Driver for FakeDriver {
    type Socket = FakeSocket;

    fn poll(&mut self, _: Option<Duration>, out: &mut Vec<Event<FakeSocket>>) -> io::Result<()> {
        out.append(&mut self.events);
        Ok(())
    }

    fn register(&mut self, id: SessionId, _: FakeSocket) -> io::Result<()> {
        self.reading.insert(id, true);
        Ok(())
    }

    fn adopt(&mut self, stream: TcpStream) -> io::Result<(FakeSocket, SocketAddr)> {
        Ok((FakeSocket, stream.peer_addr()?))
    }

    fn refuse(&mut self, _: FakeSocket, farewell: Option<&[u8]>) {
        self.farewells.push(farewell.unwrap_or_default().to_vec());
    }

    fn read(&mut self, id: SessionId) -> Input<'_> {
        if !self.completion && !self.reading.get(&id).copied().unwrap_or(false) {
            return Input::Wait;
        }
        match self.input.get_mut(&id).and_then(VecDeque::pop_front) {
            Some(Pending::Data(data)) => {
                self.lent = data;
                Input::Data(&self.lent)
            }
            Some(Pending::Eof) => Input::Eof,
            None => Input::Wait,
        }
    }

    fn set_reading(&mut self, id: SessionId, on: bool) {
        self.reading.insert(id, on);
    }

    fn send(&mut self, id: SessionId, out: Outgoing<'_>) -> io::Result<SendProgress> {
        let Outgoing { head, queue } = out;
        if head.is_empty() && queue.is_empty() {
            return Ok(SendProgress::Idle);
        }
        if self.head_refused && !head.is_empty() {
            return Ok(SendProgress::Wait);
        }
        let n = (head.len() + queue.len()).min(self.capacity);
        if n == 0 {
            return Ok(SendProgress::Wait);
        }
        self.writes += 1;
        let out = self.written.entry(id).or_default();
        let from_head = n.min(head.len());
        out.extend_from_slice(&head[..from_head]);
        let from_queue = n - from_head;
        if from_queue > 0 {
            let mut bufs = Vec::new();
            queue.take_front(usize::MAX, &mut bufs);
            let mut left = from_queue;
            for buf in &bufs {
                let take = left.min(buf.len());
                out.extend_from_slice(&buf[..take]);
                left -= take;
            }
            queue.give_back(from_queue, &mut bufs);
        }
        Ok(SendProgress::Wrote(n))
    }

    fn shutdown_write(&mut self, id: SessionId) -> io::Result<()> {
        self.shut.push(id);
        Ok(())
    }

    fn close(&mut self, id: SessionId) -> bool {
        self.closed.push(id);
        true
    }

    fn resume_accepting(&mut self) {}

    fn stop_accepting(&mut self) {}

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn shrink(&mut self) {
        self.shrinks += 1;
    }
}

/// What [`Echo`] does with input in place of echoing it as a shared buffer.
type Reply = Box<dyn FnMut(&mut Context<'_>, SessionId, &[u8]) + Send>;

/// Echo that records close reasons.
#[derive(Default)]
struct Echo {
    closed: Arc<Mutex<Vec<CloseReason>>>,
    reply: Option<Reply>,
}

impl Handler for Echo {
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        match &mut self.reply {
            Some(reply) => reply(ctx, id, data),
            None => {
                let _ = ctx.send(id, Bytes::copy_from_slice(data));
            }
        }
        data.len()
    }

    fn disconnected(&mut self, _: &mut Context<'_>, _: SessionId, reason: CloseReason) {
        self.closed.lock().unwrap().push(reason);
    }
}

/// A loop with one session.
fn loop_with_session(
    config: ServiceConfig,
    driver: &mut FakeDriver,
) -> (LoopCore<Echo>, SessionId, Arc<Mutex<Vec<CloseReason>>>) {
    loop_with_handler(config, driver, Echo::default())
}

/// As [`loop_with_session`], with the handler given.
fn loop_with_handler(
    config: ServiceConfig,
    driver: &mut FakeDriver,
    echo: Echo,
) -> (LoopCore<Echo>, SessionId, Arc<Mutex<Vec<CloseReason>>>) {
    let loops: Arc<[Arc<Mailbox>]> = vec![Arc::new(Mailbox::default())].into();
    let admission = Arc::new(Admission::new(usize::MAX, usize::MAX, 0));
    let closed = echo.closed.clone();
    let mut core = LoopCore::new(0, Arc::new(config), loops, admission, echo);
    let id = add_session(&mut core, driver);
    (core, id, closed)
}

/// Accepts one more session (from 10.0.0.1, no socket) and returns its id.
fn add_session(core: &mut LoopCore<Echo>, driver: &mut FakeDriver) -> SessionId {
    let before = core.session_ids();
    core.admit(driver, FakeSocket, SocketAddr::from(([10, 0, 0, 1], 4000)));
    let ids = core.session_ids();
    ids.into_iter()
        .find(|id| !before.contains(id))
        .expect("accepted")
}

fn feed(driver: &mut FakeDriver, id: SessionId, input: Pending) {
    driver.input.entry(id).or_default().push_back(input);
}

fn small_queues() -> ServiceConfig {
    ServiceConfig {
        send_queue_pause: 8,
        recv_buffer_limit: 64,
        ..ServiceConfig::default()
    }
}

#[test]
fn input_is_echoed_and_flushed_at_the_end_of_the_iteration() {
    let mut driver = FakeDriver {
        capacity: usize::MAX,
        ..FakeDriver::default()
    };
    let (mut core, id, _) = loop_with_session(ServiceConfig::default(), &mut driver);
    feed(&mut driver, id, Pending::Data(b"hello".to_vec()));
    feed(&mut driver, id, Pending::Data(b" world".to_vec()));
    core.dispatch(&mut driver, Event::Readable(id));
    assert!(driver.written.is_empty(), "sends wait for the pending list");
    core.carry_out_pending(&mut driver);
    assert_eq!(driver.written[&id], b"hello world");
}

#[test]
fn a_pause_reaches_the_driver_and_held_input_counts_against_the_receive_limit() {
    let mut driver = FakeDriver {
        completion: true,
        capacity: 0, // the peer reads nothing
        ..FakeDriver::default()
    };
    let (mut core, id, closed) = loop_with_session(small_queues(), &mut driver);
    feed(&mut driver, id, Pending::Data(vec![1; 10])); // echo of 10 >= pause of 8
    feed(&mut driver, id, Pending::Data(vec![2; 40])); // completed before the pause landed
    core.dispatch(&mut driver, Event::Readable(id));
    assert!(!driver.reading[&id], "the driver was told to stop reading");
    assert_eq!(core.stats().recv_held_high_water, 40);
    assert!(closed.lock().unwrap().is_empty());
    feed(&mut driver, id, Pending::Data(vec![3; 40])); // 80 held > 64
    core.dispatch(&mut driver, Event::Readable(id));
    core.carry_out_pending(&mut driver);
    assert_eq!(
        *closed.lock().unwrap(),
        [CloseReason::RecvBufferFull { limit: 64 }]
    );
    assert_eq!(driver.closed, [id]);
}

#[test]
fn resuming_shows_held_bytes_then_the_eof_behind_them() {
    let mut driver = FakeDriver {
        completion: true,
        capacity: 0,
        ..FakeDriver::default()
    };
    let (mut core, id, closed) = loop_with_session(small_queues(), &mut driver);
    feed(&mut driver, id, Pending::Data(b"0123456789".to_vec()));
    feed(&mut driver, id, Pending::Data(b"held".to_vec()));
    feed(&mut driver, id, Pending::Eof);
    core.dispatch(&mut driver, Event::Readable(id));
    core.carry_out_pending(&mut driver);
    assert!(
        closed.lock().unwrap().is_empty(),
        "the EOF waits behind held bytes"
    );
    driver.capacity = usize::MAX; // the peer reads again
    core.dispatch(&mut driver, Event::Writable(id));
    core.carry_out_pending(&mut driver);
    assert_eq!(driver.written[&id], b"0123456789held");
    assert_eq!(*closed.lock().unwrap(), [CloseReason::PeerClosed]);
}

#[test]
fn a_readiness_driver_leaves_paused_input_in_the_kernel_until_resumed() {
    let mut driver = FakeDriver {
        capacity: 0,
        ..FakeDriver::default()
    };
    let (mut core, id, _) = loop_with_session(small_queues(), &mut driver);
    feed(&mut driver, id, Pending::Data(b"0123456789".to_vec()));
    feed(&mut driver, id, Pending::Data(b"waits".to_vec()));
    core.dispatch(&mut driver, Event::Readable(id));
    assert_eq!(driver.input[&id].len(), 1, "not read while paused");
    assert_eq!(core.stats().recv_held_high_water, 0);
    driver.capacity = 4; // partial writes
    core.dispatch(&mut driver, Event::Writable(id));
    core.carry_out_pending(&mut driver);
    assert!(driver.input[&id].is_empty(), "read once resumed");
    assert_eq!(driver.written[&id], b"0123456789waits");
}

#[test]
fn an_abort_drops_the_queue_and_closes_once() {
    let mut driver = FakeDriver {
        capacity: 0,
        ..FakeDriver::default()
    };
    let (mut core, id, closed) = loop_with_session(ServiceConfig::default(), &mut driver);
    feed(&mut driver, id, Pending::Data(b"x".to_vec()));
    core.dispatch(&mut driver, Event::Readable(id));
    Context::new(&mut core.state).abort(id, CloseReason::Local);
    core.carry_out_pending(&mut driver);
    core.dispatch(&mut driver, Event::Writable(id)); // a late completion: ignored
    assert_eq!(driver.closed, [id]);
    assert_eq!(*closed.lock().unwrap(), [CloseReason::Local]);
    assert_eq!(core.session_count(), 0);
}

#[test]
fn a_stop_shows_input_held_while_paused_before_the_close() {
    let mut driver = FakeDriver {
        completion: true,
        capacity: 0, // the peer reads nothing yet
        ..FakeDriver::default()
    };
    let (mut core, id, closed) = loop_with_session(small_queues(), &mut driver);
    feed(&mut driver, id, Pending::Data(b"0123456789".to_vec())); // its echo pauses reading
    feed(&mut driver, id, Pending::Data(b"read ahead".to_vec())); // completed after the pause
    core.dispatch(&mut driver, Event::Readable(id));
    core.carry_out_pending(&mut driver);
    core.begin_shutdown();
    core.carry_out_pending(&mut driver);
    assert!(
        !driver.reading[&id],
        "nothing new is read while the held input waits"
    );
    assert!(
        closed.lock().unwrap().is_empty(),
        "the close waits behind it"
    );
    driver.capacity = usize::MAX; // the peer reads what it is owed
    core.dispatch(&mut driver, Event::Writable(id));
    core.carry_out_pending(&mut driver);
    assert_eq!(
        driver.written[&id], b"0123456789read ahead",
        "input already read was answered, not dropped"
    );
    assert_eq!(
        driver.shut,
        [id],
        "then a graceful close: FIN behind the data"
    );
    assert_eq!(core.stats().bytes_in, 20);
    assert_eq!(core.stats().bytes_discarded, 0);
}

#[test]
fn a_closing_peer_past_the_discard_budget_stops_being_read_and_keeps_its_queue() {
    let mut driver = FakeDriver {
        completion: true,
        capacity: 0,
        ..FakeDriver::default()
    };
    let config = ServiceConfig {
        lingering_bytes: 16,
        ..small_queues()
    };
    let (mut core, id, closed) = loop_with_session(config, &mut driver);
    feed(&mut driver, id, Pending::Data(b"0123456789".to_vec()));
    core.dispatch(&mut driver, Event::Readable(id));
    core.carry_out_pending(&mut driver);
    Context::new(&mut core.state).close(id);
    core.carry_out_pending(&mut driver);
    assert!(driver.reading[&id], "closing: read and discard");
    feed(&mut driver, id, Pending::Data(vec![7; 10]));
    feed(&mut driver, id, Pending::Data(vec![7; 10])); // 20 > 16 discarded
    core.dispatch(&mut driver, Event::Readable(id));
    core.carry_out_pending(&mut driver);
    assert!(!driver.reading[&id], "past the budget: no longer read");
    assert!(closed.lock().unwrap().is_empty(), "and not aborted");
    assert_eq!(core.stats().bytes_discarded, 20);
    driver.capacity = usize::MAX;
    core.dispatch(&mut driver, Event::Writable(id));
    core.carry_out_pending(&mut driver);
    assert_eq!(driver.written[&id], b"0123456789", "its queue still left");
    assert_eq!(
        driver.shut,
        [id],
        "then FIN; the close waits for lingering_time"
    );
}

#[test]
fn a_closed_burst_is_given_back_at_the_next_sweep() {
    let mut driver = FakeDriver::default();
    let (mut core, first, _) = loop_with_session(ServiceConfig::default(), &mut driver);
    let burst: Vec<_> = (0..200)
        .map(|_| add_session(&mut core, &mut driver))
        .collect();
    assert_eq!(core.state.sessions.slots(), 201);
    for id in burst {
        core.close_session(&mut driver, id, CloseReason::Local);
    }
    core.trim(&mut driver);
    assert_eq!(driver.shrinks, 0, "only after a sweep");
    core.sweep();
    core.trim(&mut driver);
    assert_eq!(driver.shrinks, 1, "the driver gave back its tables too");
    assert_eq!(
        core.state.sessions.slots(),
        1,
        "cut after the one live session"
    );
    assert!(core.state.sessions.get(first).is_some());
    core.trim(&mut driver);
    assert_eq!(driver.shrinks, 1, "once per sweep with closes");
}

#[test]
fn a_huge_drain_deadline_means_never_not_a_panic() {
    let mut driver = FakeDriver::default();
    let config = ServiceConfig {
        shutdown_drain: Duration::MAX,
        ..ServiceConfig::default()
    };
    let (mut core, _, _) = loop_with_session(config, &mut driver);
    core.begin_shutdown();
    assert!(core.draining());
    assert!(!core.drained(), "the session still flushes");
}

mod policy;
mod reply;
mod sim;
mod tls;
