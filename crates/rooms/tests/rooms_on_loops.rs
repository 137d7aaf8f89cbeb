//! The facility on real event loops (2 loops; client `i` on loop `i % 2`; room `r` owned by
//! loop `r % 2`): routing across loops, per-sender order, seats that hold what follows a join,
//! leaving and closing, capacity, the tick's input rule, timers, visits. Both I/O models.

mod util;

use std::sync::mpsc;
use std::time::Duration;

use rooms::{Dropped, RoomId, RoomsConfig};
use servercore::Model;
use testkit::{one_model, wait_until};
use util::server;

const WAIT: Duration = Duration::from_secs(20);

/// Inputs sent right after a join, before its answer, reach the room in order, across loops,
/// and every member hears every one exactly once in that order; what a session piles up
/// while joining is bounded (`max_held`), the excess refused and counted.
fn inputs_follow_a_join_in_order_across_loops(model: Model) {
    let s = server(model, RoomsConfig::default(), None);
    let mut a = s.client(); // loop 0
    let mut b = s.client(); // loop 1, the owner of room 1
    b.send(&["J1"]);
    assert_eq!(b.line(), "joined r1");
    let lines: Vec<String> = (0..200).map(|i| format!("Ia{i}")).collect();
    let (held, direct) = lines.split_at(50);
    let mut burst = vec!["J1"];
    burst.extend(held.iter().map(String::as_str));
    a.send(&burst);
    assert_eq!(a.line(), "joined r1");
    a.send(&direct.iter().map(String::as_str).collect::<Vec<_>>());
    for i in 0..200 {
        let want = format!("r1 a{i}");
        assert_eq!(a.line(), want);
        assert_eq!(b.line(), want);
    }
    assert!(s
        .log()
        .iter()
        .any(|l| l.starts_with("r1 join") && l.ends_with("loop 1")));

    let mut c = s.client(); // loop 0
    let flood: Vec<String> = (0..100).map(|i| format!("Ic{i}")).collect();
    let mut burst = vec!["J1"];
    burst.extend(flood.iter().map(String::as_str));
    c.send(&burst);
    let (mut refused, mut heard) = (0, 0);
    while refused + heard < 100 {
        match c.line() {
            line if line == "error too many operations while joining a room" => refused += 1,
            line if line == "joined r1" => {}
            line => {
                assert_eq!(line, format!("r1 c{heard}"), "the held ones, in order");
                heard += 1;
            }
        }
    }
    assert!(heard >= 64, "{heard}");
    assert_eq!(s.hub.stats().dropped(Dropped::Held), refused as u64);
}

/// A member that moves on and speaks at once speaks in the new room only; the old room is
/// left, and closed once empty; a refused join leaves the member where it was.
fn moving_leaving_and_capacity(model: Model) {
    let config = RoomsConfig {
        capacity: 1,
        ..Default::default()
    };
    let s = server(model, config, None);
    let mut a = s.client(); // loop 0
    let mut b = s.client(); // loop 1
    a.send(&["J3", "Ihello"]);
    assert_eq!(a.line(), "joined r3");
    assert_eq!(a.line(), "r3 hello");
    b.send(&["J3", "Iafter refusal"]);
    assert_eq!(b.line(), "full");
    assert_eq!(b.line(), "error not in a room", "refused, in no room");
    a.send(&["J2", "Imoved"]);
    assert_eq!(a.line(), "joined r2");
    assert_eq!(a.line(), "r2 moved");
    assert!(wait_until(WAIT, || s
        .log()
        .contains(&"r3 closing".to_string())));
    b.send(&["J3", "Inow in"]);
    assert_eq!(b.line(), "joined r3");
    assert_eq!(b.line(), "r3 now in");
    a.send(&["L", "Inowhere"]);
    assert_eq!(a.line(), "error not in a room");
    drop(b);
    assert!(wait_until(WAIT, || s
        .log()
        .iter()
        .filter(|l| l.ends_with("closing"))
        .count()
        == 3));
    assert!(wait_until(WAIT, || s.hub.stats().rooms == 0));
}

/// A ticked room applies each member's inputs at most `max_inputs_per_tick` per tick and
/// counts the rest; timers fire on the room's loop; a visit sees the room.
fn ticks_timers_and_visits(model: Model) {
    let config = RoomsConfig {
        tick_hz: Some(50),
        max_inputs_per_tick: 2,
        ..Default::default()
    };
    let s = server(model, config, Some(Duration::from_millis(30)));
    let mut a = s.client();
    let mut b = s.client();
    a.send(&["J5"]);
    assert_eq!(a.line(), "joined r5");
    assert_eq!(a.line(), "timer");
    b.send(&["J5"]);
    assert_eq!(b.line(), "joined r5");
    let burst: Vec<String> = (0..30).map(|i| format!("I{i}")).collect();
    a.send(&burst.iter().map(String::as_str).collect::<Vec<_>>());
    let mut applied = 0;
    assert!(wait_until(WAIT, || {
        let stats = s.hub.stats();
        applied = stats.inputs;
        stats.inputs + stats.dropped(Dropped::Rate) == 30
    }));
    assert!(applied >= 2, "{applied}");
    let per_tick: Vec<usize> = s
        .log()
        .iter()
        .filter_map(|l| {
            l.strip_prefix("r5 tick ")?
                .split(" applied ")
                .nth(1)?
                .parse()
                .ok()
        })
        .collect();
    assert!(per_tick.iter().all(|&n| n <= 2), "{per_tick:?}");
    let mut heard = 0;
    while heard < applied {
        match b.line() {
            line if line == "timer" => {} // the timer of b's own join
            line => {
                assert!(line.starts_with("r5 "), "{line}");
                heard += 1;
            }
        }
    }
    let (tx, rx) = mpsc::channel();
    s.hub.visit(RoomId(5), move |_room, ctx| {
        let _ = tx.send(ctx.members().len());
    });
    assert_eq!(rx.recv_timeout(WAIT), Ok(2));
    let (tx, rx) = mpsc::channel::<usize>();
    s.hub.visit(RoomId(6), move |_, _| drop(tx));
    assert!(rx.recv_timeout(WAIT).is_err(), "no room 6: nothing runs");
    assert!(wait_until(WAIT, || s.hub.stats().ticks > 0
        && s.hub.stats().timers >= 1));
}

one_model!(cross_loop_order, inputs_follow_a_join_in_order_across_loops);
one_model!(moving_and_capacity, moving_leaving_and_capacity);
one_model!(ticks_and_timers, ticks_timers_and_visits);
