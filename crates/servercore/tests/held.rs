//! A session outlives its connection for the application: what was queued and not
//! acknowledged is still there when it disconnects (`Context::record` / `take_record`), and
//! requests made to its id afterwards — from any loop — reach `Handler::held` in order
//! (`Context::hold`), until it is released.

mod util;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use servercore::{CloseReason, Context, Handler, HeldRequest, Model, Service, SessionId};
use testkit::wait_until;
use util::*;

/// What the loops saw, shared by the test.
#[derive(Default)]
struct Log {
    ids: Vec<SessionId>,
    /// (session, kept tail's start, end, its bytes) at disconnect.
    records: Vec<(SessionId, u64, u64, Vec<u8>)>,
    held: Vec<(SessionId, HeldRequest)>,
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Log>>);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.0.lock().unwrap()
    }

    fn other_than(&self, id: SessionId) -> SessionId {
        *self.lock().ids.iter().find(|&&p| p != id).unwrap()
    }
}

/// Lines: `echo X` sends X back (recorded), `ack N` acknowledges, `to X` sends X to the other
/// session and answers `ok` or `err`, `close` closes the other session (a held one is then
/// released), `abort-then X` aborts this session and then sends it X.
struct Seats(Shared);

impl Seats {
    fn line(&mut self, ctx: &mut Context<'_>, id: SessionId, line: &str) {
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        match verb {
            "echo" => ctx.send_copy(id, arg.as_bytes()).unwrap(),
            "ack" => ctx.acknowledge(id, arg.parse().unwrap()).unwrap(),
            "to" => {
                let sent = ctx.send_copy(self.0.other_than(id), arg.as_bytes());
                let answer: &[u8] = if sent.is_ok() { b"ok" } else { b"err" };
                ctx.send_copy(id, answer).unwrap();
            }
            "close" => ctx.close(self.0.other_than(id)),
            "abort-then" => {
                ctx.abort(id, CloseReason::Invalid("test"));
                assert!(ctx.send_copy(id, arg.as_bytes()).is_err(), "closing");
            }
            _ => panic!("unknown line {line:?}"),
        }
    }
}

impl Handler for Seats {
    fn connected(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        self.0.lock().ids.push(id);
        assert!(ctx.record(id, 1024));
    }

    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let Some(end) = data.iter().rposition(|&b| b == b'\n') else {
            return 0;
        };
        for line in std::str::from_utf8(&data[..end]).unwrap().split('\n') {
            self.line(ctx, id, line);
        }
        end + 1
    }

    fn disconnected(&mut self, ctx: &mut Context<'_>, id: SessionId, _: CloseReason) {
        let record = ctx
            .take_record(id)
            .expect("the record outlives the connection");
        let tail = record.since(record.start()).unwrap().concat();
        let entry = (id, record.start(), record.end(), tail);
        self.0.lock().records.push(entry);
        assert!(ctx.hold(id) && ctx.is_held(id));
    }

    fn held(&mut self, ctx: &mut Context<'_>, id: SessionId, request: HeldRequest) {
        if matches!(request, HeldRequest::Close(_)) {
            ctx.release(id);
            assert!(!ctx.is_held(id));
        }
        self.0.lock().held.push((id, request));
    }
}

fn ask(stream: &mut TcpStream, line: &str, answer_len: usize) -> Vec<u8> {
    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut answer = vec![0; answer_len];
    stream.read_exact(&mut answer).unwrap();
    answer
}

fn held_requests_reach_the_handler_in_order(model: Model) {
    let shared = Shared::default();
    let handlers = shared.clone();
    let service = Service::unbound(config(model), move |_| Seats(handlers.clone())).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut ends = Vec::new();
    for _ in 0..2 {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        service.adopt(listener.accept().unwrap().0);
        assert_live(&service, ends.len() + 1);
        ends.push(client);
    }
    let (mut a, mut b) = (ends.remove(0), ends.remove(0));
    for s in [&a, &b] {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    }
    let a_id = shared.lock().ids[0];
    assert_ne!(a_id.loop_index(), shared.lock().ids[1].loop_index());

    assert_eq!(ask(&mut a, "echo hello", 5), b"hello");
    a.write_all(b"ack 2\n").unwrap(); // "he" arrived
    assert_eq!(ask(&mut a, "echo world", 5), b"world");
    a.shutdown(Shutdown::Both).unwrap();
    drop(a);
    assert!(wait_until(Duration::from_secs(20), || !shared
        .lock()
        .records
        .is_empty()));
    let (id, start, end, tail) = shared.lock().records[0].clone();
    assert_eq!((id, start, end), (a_id, 2, 10));
    assert_eq!(tail, b"lloworld", "the unacknowledged tail, in order");

    // From the other loop: a send and a close to the held id reach `held`, in order.
    assert_eq!(ask(&mut b, "to ping", 2), b"ok");
    b.write_all(b"to pong\nclose\n").unwrap();
    assert_eq!(ask(&mut b, "echo sync", 2 + 4), b"oksync");
    assert!(wait_until(Duration::from_secs(20), || shared
        .lock()
        .held
        .len()
        >= 3));
    let held = shared.lock().held.clone();
    let want = vec![
        (a_id, HeldRequest::Send(bytes::Bytes::from_static(b"ping"))),
        (a_id, HeldRequest::Send(bytes::Bytes::from_static(b"pong"))),
        (a_id, HeldRequest::Close(CloseReason::Local)),
    ];
    assert_eq!(held, want);

    // Released (on the close), the id is stale again: a send to it from its own loop (a
    // third session, adopted there) fails.
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    service.adopt(listener.accept().unwrap().0);
    assert_live(&service, 2);
    let mut c = client;
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let c_id = shared.lock().ids[2];
    assert_eq!(c_id.loop_index(), a_id.loop_index());
    assert_eq!(ask(&mut c, "to late", 3), b"err");
    assert_eq!(shared.lock().held.len(), 3);
}

/// What is sent to a recorded session after it began closing does not leave on its
/// connection, but its record keeps it (a resume replays it).
fn sends_to_a_closing_session_are_recorded(model: Model) {
    let shared = Shared::default();
    let handlers = shared.clone();
    let service = Service::unbound(config(model), move |_| Seats(handlers.clone())).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    service.adopt(listener.accept().unwrap().0);
    assert_live(&service, 1);
    a.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    assert_eq!(ask(&mut a, "echo one", 3), b"one");
    a.write_all(b"abort-then two\n").unwrap();
    assert!(wait_until(Duration::from_secs(20), || !shared
        .lock()
        .records
        .is_empty()));
    let (_, start, end, tail) = shared.lock().records[0].clone();
    assert_eq!((start, end), (0, 6));
    assert_eq!(tail, b"onetwo");
}

one_model!(held_requests, held_requests_reach_the_handler_in_order);
one_model!(
    closing_sends_recorded,
    sends_to_a_closing_session_are_recorded
);
