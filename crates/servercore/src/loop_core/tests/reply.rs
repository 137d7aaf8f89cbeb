//! The direct reply (`reply.rs`): what a handler copies back to an idle session is the head
//! of its output, written by the flush with the rest of the pending list in one write — and
//! nothing about what the peer receives changes: the order, the close after the data, the
//! drop on an abort.

use super::*;

/// A fake whose socket takes `capacity` bytes per write.
fn socket_taking(capacity: usize) -> FakeDriver {
    FakeDriver {
        capacity,
        ..FakeDriver::default()
    }
}

/// An echo that copies (`Context::send_copy`), then does `then` in the same callback.
fn copy_echo(then: impl Fn(&mut Context<'_>, SessionId) + Send + 'static) -> Echo {
    Echo {
        reply: Some(Box::new(move |ctx, id, data| {
            ctx.send_copy(id, data).expect("queued");
            then(ctx, id);
        })),
        ..Echo::default()
    }
}

/// A loop with one session whose handler copies its input back.
fn copying_loop(
    config: ServiceConfig,
    driver: &mut FakeDriver,
) -> (LoopCore<Echo>, SessionId, Arc<Mutex<Vec<CloseReason>>>) {
    loop_with_handler(config, driver, copy_echo(|_, _| {}))
}

#[test]
fn replies_leave_after_the_reads_in_one_write_and_take_no_queue() {
    let mut driver = socket_taking(usize::MAX);
    let (mut core, id, _) = copying_loop(ServiceConfig::default(), &mut driver);
    feed(&mut driver, id, Pending::Data(b"hello".to_vec()));
    feed(&mut driver, id, Pending::Data(b" world".to_vec()));
    core.dispatch(&mut driver, Event::Readable(id));
    assert!(driver.written.is_empty(), "the reads first");
    assert_eq!(Context::new(&mut core.state).queued_bytes(id), Some(11));
    assert!(
        core.state.sessions.get(id).unwrap().send.is_empty(),
        "held as the head, not queued"
    );
    core.carry_out_pending(&mut driver);
    assert_eq!(driver.written[&id], b"hello world");
    assert_eq!(driver.writes, 1, "both reads' replies in one write");
    assert_eq!(core.stats().bytes_out, 11);
    assert!(
        core.state.replies.is_empty(),
        "the loop's buffer is emptied"
    );
}

#[test]
fn what_the_socket_does_not_take_is_queued_and_later_input_waits_behind_it() {
    let mut driver = socket_taking(4);
    let (mut core, id, _) = copying_loop(ServiceConfig::default(), &mut driver);
    feed(&mut driver, id, Pending::Data(b"hello world".to_vec()));
    core.dispatch(&mut driver, Event::Readable(id));
    driver.capacity = 4;
    core.carry_out_pending(&mut driver);
    assert!(driver.written[&id].starts_with(b"hell"));
    driver.capacity = 0; // full
    feed(&mut driver, id, Pending::Data(b"!".to_vec()));
    core.dispatch(&mut driver, Event::Readable(id)); // queued behind the rest: no reply
    core.carry_out_pending(&mut driver);
    driver.capacity = usize::MAX;
    core.dispatch(&mut driver, Event::Writable(id));
    core.carry_out_pending(&mut driver);
    assert_eq!(driver.written[&id], b"hello world!");
    assert!(core.state.replies.is_empty());
}

#[test]
fn a_head_the_driver_cannot_take_is_queued_in_order() {
    let mut driver = FakeDriver {
        head_refused: true, // a completion driver with a send in flight
        capacity: usize::MAX,
        ..FakeDriver::default()
    };
    let (mut core, id, _) = copying_loop(ServiceConfig::default(), &mut driver);
    feed(&mut driver, id, Pending::Data(b"first".to_vec()));
    core.dispatch(&mut driver, Event::Readable(id));
    core.carry_out_pending(&mut driver);
    assert!(!driver.written.contains_key(&id), "waiting");
    assert_eq!(core.state.sessions.get(id).unwrap().send.len(), 5, "queued");
    feed(&mut driver, id, Pending::Data(b"+second".to_vec()));
    core.dispatch(&mut driver, Event::Readable(id)); // behind the queue: no head
    core.dispatch(&mut driver, Event::Writable(id));
    core.carry_out_pending(&mut driver);
    assert_eq!(driver.written[&id], b"first+second");
}

#[test]
fn a_shared_buffer_sent_after_a_copy_goes_after_it() {
    let mut driver = socket_taking(usize::MAX);
    let echo = copy_echo(|ctx, id| {
        ctx.send(id, Bytes::from_static(b"+shared"))
            .expect("queued");
        ctx.send_copy(id, b"+copy").expect("queued");
    });
    let (mut core, id, _) = loop_with_handler(ServiceConfig::default(), &mut driver, echo);
    feed(&mut driver, id, Pending::Data(b"input".to_vec()));
    core.dispatch(&mut driver, Event::Readable(id));
    core.carry_out_pending(&mut driver);
    assert_eq!(driver.written[&id], b"input+shared+copy");
}

#[test]
fn the_reply_counts_as_queued_while_the_callback_runs() {
    let mut driver = socket_taking(usize::MAX);
    let seen = Arc::new(Mutex::new(None));
    let seen_in = seen.clone();
    let echo = copy_echo(move |ctx, id| *seen_in.lock().unwrap() = ctx.queued_bytes(id));
    let (mut core, id, _) = loop_with_handler(ServiceConfig::default(), &mut driver, echo);
    feed(&mut driver, id, Pending::Data(b"12345".to_vec()));
    core.dispatch(&mut driver, Event::Readable(id));
    assert_eq!(*seen.lock().unwrap(), Some(5));
    core.carry_out_pending(&mut driver);
    assert_eq!(Context::new(&mut core.state).queued_bytes(id), Some(0));
}

#[test]
fn a_close_in_the_callback_sends_the_reply_before_the_fin() {
    let mut driver = socket_taking(usize::MAX);
    let echo = copy_echo(|ctx, id| ctx.close(id));
    let (mut core, id, closed) = loop_with_handler(ServiceConfig::default(), &mut driver, echo);
    feed(&mut driver, id, Pending::Data(b"bye".to_vec()));
    core.dispatch(&mut driver, Event::Readable(id));
    core.carry_out_pending(&mut driver);
    assert_eq!(driver.written[&id], b"bye");
    assert_eq!(driver.shut, [id], "the FIN after the data");
    assert!(closed.lock().unwrap().is_empty(), "lingering");
    feed(&mut driver, id, Pending::Eof);
    core.dispatch(&mut driver, Event::Readable(id)); // the peer's EOF ends the lingering
    core.carry_out_pending(&mut driver);
    assert_eq!(*closed.lock().unwrap(), [CloseReason::Local]);
}

#[test]
fn an_abort_in_the_callback_drops_the_reply() {
    let mut driver = socket_taking(usize::MAX);
    let echo = copy_echo(|ctx, id| ctx.abort(id, CloseReason::Local));
    let (mut core, id, closed) = loop_with_handler(ServiceConfig::default(), &mut driver, echo);
    feed(&mut driver, id, Pending::Data(b"dropped".to_vec()));
    core.dispatch(&mut driver, Event::Readable(id));
    core.carry_out_pending(&mut driver);
    assert!(!driver.written.contains_key(&id), "nothing written");
    assert_eq!(driver.closed, [id]);
    assert_eq!(*closed.lock().unwrap(), [CloseReason::Local]);
    assert!(core.state.replies.is_empty());
}

#[test]
fn the_peer_eof_after_the_input_still_gets_the_reply() {
    let mut driver = socket_taking(usize::MAX);
    let (mut core, id, closed) = copying_loop(ServiceConfig::default(), &mut driver);
    feed(&mut driver, id, Pending::Data(b"last words".to_vec()));
    feed(&mut driver, id, Pending::Eof);
    core.dispatch(&mut driver, Event::Readable(id));
    core.dispatch(&mut driver, Event::Writable(id)); // a flush in the same batch
    core.carry_out_pending(&mut driver);
    assert_eq!(driver.written[&id], b"last words");
    assert_eq!(*closed.lock().unwrap(), [CloseReason::PeerClosed]);
}

#[test]
fn past_the_pause_mark_the_reply_is_queued_and_reading_pauses() {
    let mut driver = socket_taking(0); // the peer reads nothing
    let (mut core, id, _) = copying_loop(small_queues(), &mut driver);
    feed(&mut driver, id, Pending::Data(b"0123".to_vec()));
    feed(&mut driver, id, Pending::Data(b"456789".to_vec())); // 10 >= pause of 8
    feed(&mut driver, id, Pending::Data(b"waits".to_vec()));
    core.dispatch(&mut driver, Event::Readable(id));
    core.carry_out_pending(&mut driver);
    assert!(!driver.reading[&id], "paused");
    assert_eq!(driver.input[&id].len(), 1, "not read while paused");
    driver.capacity = usize::MAX;
    core.dispatch(&mut driver, Event::Writable(id));
    core.carry_out_pending(&mut driver);
    assert_eq!(driver.written[&id], b"0123456789waits");
}

#[test]
fn with_a_flush_interval_a_copy_is_queued_and_waits_for_the_flush() {
    let mut driver = socket_taking(usize::MAX);
    let config = ServiceConfig {
        flush_interval: Some(Duration::from_secs(3600)),
        ..ServiceConfig::default()
    };
    let (mut core, id, _) = copying_loop(config, &mut driver);
    feed(&mut driver, id, Pending::Data(b"held".to_vec()));
    core.dispatch(&mut driver, Event::Readable(id));
    core.carry_out_pending(&mut driver);
    assert!(!driver.written.contains_key(&id), "held until the interval");
    assert_eq!(core.state.sessions.get(id).unwrap().send.len(), 4);
}

/// A copying echo that also does `to_other` with the other session's id (set once known).
fn echo_with_other(
    to_other: impl Fn(&mut Context<'_>, SessionId, SessionId) + Send + 'static,
) -> (Echo, Arc<Mutex<Option<SessionId>>>) {
    let other = Arc::new(Mutex::new(None::<SessionId>));
    let other_in = other.clone();
    let echo = copy_echo(move |ctx, id| {
        let other = *other_in.lock().unwrap();
        if let Some(other) = other.filter(|&o| o != id) {
            to_other(ctx, id, other);
        }
    });
    (echo, other)
}

#[test]
fn two_sessions_replies_leave_one_write_each() {
    let mut driver = socket_taking(usize::MAX);
    let (mut core, a, _) = copying_loop(ServiceConfig::default(), &mut driver);
    let b = add_session(&mut core, &mut driver);
    feed(&mut driver, a, Pending::Data(b"to a".to_vec()));
    feed(&mut driver, b, Pending::Data(b"to b".to_vec()));
    core.dispatch(&mut driver, Event::Readable(a));
    core.dispatch(&mut driver, Event::Readable(b));
    assert!(driver.written.is_empty(), "the reads first");
    core.carry_out_pending(&mut driver);
    assert_eq!(driver.written[&a], b"to a");
    assert_eq!(driver.written[&b], b"to b");
    assert_eq!(driver.writes, 2);
    assert!(core.state.replies.is_empty());
}

#[test]
fn sends_from_another_sessions_callback_go_after_the_reply() {
    let mut driver = socket_taking(3); // the reply is written in part first
    let (echo, other) = echo_with_other(|ctx, _, other| {
        ctx.send(other, Bytes::from_static(b"+shared"))
            .expect("queued");
        ctx.send_copy(other, b"+copy").expect("queued");
    });
    let (mut core, a, _) = loop_with_handler(ServiceConfig::default(), &mut driver, echo);
    let b = add_session(&mut core, &mut driver);
    feed(&mut driver, a, Pending::Data(b"hello".to_vec()));
    core.dispatch(&mut driver, Event::Readable(a)); // a's reply, the buffer's tail
    *other.lock().unwrap() = Some(a);
    feed(&mut driver, b, Pending::Data(b"from b".to_vec()));
    core.dispatch(&mut driver, Event::Readable(b)); // b's reply, then sends to a: queued
    driver.capacity = usize::MAX;
    core.carry_out_pending(&mut driver);
    assert_eq!(driver.written[&a], b"hello+shared+copy");
    assert_eq!(driver.written[&b], b"from b");
    assert!(core.state.replies.is_empty());
}

#[test]
fn a_copy_to_a_session_whose_reply_is_not_the_tail_is_queued_behind_it() {
    let mut driver = socket_taking(usize::MAX);
    let (echo, other) = echo_with_other(|ctx, me, other| {
        ctx.send_copy(other, b"+to other").expect("queued"); // other's reply is not the tail
        ctx.send_copy(me, b"+mine").expect("queued"); // mine is no longer the tail
    });
    let (mut core, a, _) = loop_with_handler(ServiceConfig::default(), &mut driver, echo);
    let b = add_session(&mut core, &mut driver);
    feed(&mut driver, a, Pending::Data(b"a1".to_vec()));
    core.dispatch(&mut driver, Event::Readable(a));
    *other.lock().unwrap() = Some(a);
    feed(&mut driver, b, Pending::Data(b"b1".to_vec()));
    core.dispatch(&mut driver, Event::Readable(b));
    core.carry_out_pending(&mut driver);
    assert_eq!(driver.written[&a], b"a1+to other");
    assert_eq!(driver.written[&b], b"b1+mine");
}

#[test]
fn an_abort_from_another_sessions_callback_drops_the_reply() {
    let mut driver = socket_taking(usize::MAX);
    let (echo, other) = echo_with_other(|ctx, _, other| ctx.abort(other, CloseReason::Local));
    let (mut core, a, closed) = loop_with_handler(ServiceConfig::default(), &mut driver, echo);
    let b = add_session(&mut core, &mut driver);
    feed(&mut driver, a, Pending::Data(b"dropped".to_vec()));
    core.dispatch(&mut driver, Event::Readable(a));
    *other.lock().unwrap() = Some(a);
    feed(&mut driver, b, Pending::Data(b"kept".to_vec()));
    core.dispatch(&mut driver, Event::Readable(b));
    core.carry_out_pending(&mut driver);
    assert!(
        !driver.written.contains_key(&a),
        "nothing written to the aborted"
    );
    assert_eq!(driver.written[&b], b"kept");
    assert_eq!(driver.closed, [a]);
    assert_eq!(*closed.lock().unwrap(), [CloseReason::Local]);
    assert!(core.state.replies.is_empty());
}
