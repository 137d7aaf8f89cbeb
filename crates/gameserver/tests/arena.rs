//! The arena in process (2 loops, the default model): each player's view is complete — exactly the
//! players within its view radius in the room's own state (the nearest `max_in_view` when
//! more are), at the positions the room holds — and every snapshot passes every client check;
//! the server never trusts an input: speeds over the rules are clamped and counted, bad
//! packets close the session, a flood is cut to the per-tick rule, a player who leaves leaves
//! every view.

mod util;

use std::sync::atomic::Ordering;
use std::time::Duration;

use game_protocol::arena::{Rules, ACTION_TAG};
use game_protocol::ids;
use gameserver::arena::{ArenaConfig, MAX_INPUTS_PER_TICK};
use rooms::Dropped;
use servercore::Model;
use util::arena::{ArenaClient, ArenaServer};
use util::*;

const STEP: Duration = Duration::from_secs(20);

fn config(size: u16, view_radius: u16, max_in_view: u16) -> ArenaConfig {
    ArenaConfig {
        rules: Rules {
            tick_hz: 20,
            size,
            view_radius,
            max_speed: 120,
            tag_radius: 24,
            max_in_view,
        },
        capacity: 100,
    }
}

/// The ids within the view radius of `you` in `truth`, nearest first, at most `max`; and the
/// distance of the farthest one kept.
fn in_view(rules: &Rules, truth: &[(u16, (i32, i32))], you: u16) -> Vec<(i64, u16)> {
    let me = truth
        .iter()
        .find(|p| p.0 == you)
        .expect("the player is in the room")
        .1;
    let mut seen: Vec<(i64, u16)> = truth
        .iter()
        .filter(|p| p.0 != you)
        .map(|&(id, pos)| (Rules::distance2(me, pos), id))
        .filter(|&(d2, _)| d2 <= rules.view_radius2())
        .collect();
    seen.sort_unstable();
    seen
}

/// Every client's view at the tick the room was looked at, against the room's own state.
fn assert_complete(server: &ArenaServer, clients: &mut [ArenaClient], room: u32) {
    let (tick, truth) = server.look(room);
    for client in clients.iter_mut() {
        client.until_tick(tick);
        let rules = client.rules();
        let you = client.world.you();
        let me = truth.iter().find(|p| p.0 == you).unwrap().1;
        assert_eq!(client.world.own(), Some(me), "own position at tick {tick}");
        let expected = in_view(&rules, &truth, you);
        let known = client.world.known();
        let max = usize::from(rules.max_in_view);
        assert_eq!(
            known.len(),
            expected.len().min(max),
            "tick {tick}, player {you}"
        );
        let farthest = expected[..expected.len().min(max)]
            .last()
            .map_or(0, |e| e.0);
        for &(d2, id) in &expected {
            if d2 < farthest || expected.len() <= max {
                assert!(
                    known.contains_key(&id),
                    "player {you} misses {id} at tick {tick}"
                );
            }
        }
        for (id, state) in known {
            let pos = truth
                .iter()
                .find(|p| p.0 == *id)
                .expect("a listed player exists")
                .1;
            assert_eq!(
                (i32::from(state.x), i32::from(state.y)),
                pos,
                "where {id} is"
            );
            assert!(
                Rules::distance2(me, pos) <= farthest,
                "{id} is beyond the nearest kept"
            );
        }
        assert!(client.violations.is_empty(), "{:?}", client.violations);
    }
}

fn every_view_is_complete(model: Model) {
    let server = ArenaServer::start(model, config(160, 50, 256));
    let mut clients: Vec<ArenaClient> = (0..12)
        .map(|i| ArenaClient::join(server.addr(), 3, &format!("p{i}")))
        .collect();
    for round in 0..4u8 {
        for (i, client) in clients.iter_mut().enumerate() {
            let speed = if i % 4 == 0 { 0 } else { 120 };
            client.input(
                (i as u8).wrapping_mul(37).wrapping_add(round * 50),
                speed,
                0,
            );
        }
        for client in &mut clients {
            for _ in 0..3 {
                client.next_snapshot();
            }
        }
        assert_complete(&server, &mut clients, 3);
    }
}

fn the_nearest_are_kept_when_too_many_are_in_view(model: Model) {
    let server = ArenaServer::start(model, config(100, 200, 3));
    let mut clients: Vec<ArenaClient> = (0..9)
        .map(|i| ArenaClient::join(server.addr(), 4, &format!("p{i}")))
        .collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.input((i * 28) as u8, 120, 0);
    }
    for _ in 0..3 {
        for client in &mut clients {
            client.next_snapshot();
        }
        assert_complete(&server, &mut clients, 4);
    }
}

/// Intents only: a speed over the rules is clamped (and counted) and the player still moves
/// exactly by the rules (its client's own-move check passes); unknown action bits are ignored
/// and counted; more inputs in a tick than the rule allows are dropped and counted, and the
/// session stays.
fn inputs_are_never_trusted(model: Model) {
    let server = ArenaServer::start(model, config(400, 100, 256));
    let mut cheat = ArenaClient::join(server.addr(), 5, "cheat");
    cheat.next_snapshot();
    cheat.input(0, u16::MAX, 0x80 | ACTION_TAG);
    let (x0, _) = cheat.world.own().unwrap();
    for _ in 0..5 {
        cheat.next_snapshot();
    }
    let moved = cheat.world.own().unwrap().0 - x0;
    assert!(moved <= 5 * cheat.rules().max_step(), "moved {moved}");
    assert!(cheat.violations.is_empty(), "{:?}", cheat.violations);
    assert!(wait_until(STEP, || server
        .stats
        .clamped_speed
        .load(Ordering::Relaxed)
        == 1));
    assert_eq!(server.stats.ignored_actions.load(Ordering::Relaxed), 1);
    let counted = |s: &rooms::RoomsSnapshot| s.inputs + s.dropped(Dropped::Rate);
    let before = counted(&server.hub.stats());
    let flood = 20u64; // in one write: applied in one or two ticks, at most 4 a tick
    cheat.inputs((0..flood).map(|i| (i as u8, 10, 0)));
    assert!(wait_until(STEP, || counted(&server.hub.stats()) == before + flood));
    assert!(
        server.hub.stats().dropped(Dropped::Rate) >= flood - 4 * u64::from(MAX_INPUTS_PER_TICK),
        "the flood was cut to {MAX_INPUTS_PER_TICK} a tick"
    );
    for _ in 0..3 {
        cheat.next_snapshot(); // still served
    }
    assert_eq!(cheat.violations.len(), 0, "{:?}", cheat.violations);
}

/// Bad packets close the session (and only it); a player who leaves leaves every view.
fn bad_packets_close_and_leavers_leave(model: Model) {
    let server = ArenaServer::start(model, config(50, 100, 256));
    let mut stay = ArenaClient::join(server.addr(), 6, "stay");
    let mut go = ArenaClient::join(server.addr(), 6, "go");
    let go_id = go.world.you();
    while !stay.world.known().contains_key(&go_id) {
        stay.next_snapshot();
    }
    for (id, body) in [
        (ids::ARENA_INPUT, vec![1, 2, 3, 4, 5]),     // not 6 bytes
        (ids::ARENA_JOIN, vec![6, 0, 0, 0, 0]),      // an empty name
        (ids::ARENA_INPUT, vec![1, 0, 0, 10, 0, 0]), // not in an arena
        (ids::CHAT, b"hello".to_vec()),              // not this game's packet
    ] {
        let mut hostile = connect(server.addr());
        send_packet(&mut hostile, id, &body);
        assert!(closed_by_server(&mut hostile), "packet {id} {body:?}");
    }
    send_packet(&mut go.stream, ids::ARENA_LEAVE, &[]);
    while stay.world.known().contains_key(&go_id) {
        stay.next_snapshot();
    }
    let mut back = ArenaClient::join(server.addr(), 6, "back");
    while back.world.known().is_empty() {
        back.next_snapshot();
    }
    drop(back);
    for _ in 0..5 {
        stay.next_snapshot();
    }
    assert!(stay.violations.is_empty(), "{:?}", stay.violations);
    assert_live(&server.service, 2);
}

/// The arena is full at its capacity: ROOM_FULL, and the player stays out.
fn a_full_arena_refuses(model: Model) {
    let mut small = config(50, 100, 256);
    small.capacity = 1;
    let server = ArenaServer::start(model, small);
    let _first = ArenaClient::join(server.addr(), 7, "first");
    let mut second = connect(server.addr());
    let join = game_protocol::arena::Join {
        room: 7,
        name: "second",
    }
    .encode();
    send_packet(&mut second, ids::ARENA_JOIN, &join);
    let (id, body) = read_packet(&mut second).unwrap();
    assert_eq!(id, ids::ROOM_FULL);
    assert_eq!(game_protocol::chat::parse_room_joined(&body), Some((7, 1)));
}

one_model!(complete_views, every_view_is_complete);
one_model!(nearest_kept, the_nearest_are_kept_when_too_many_are_in_view);
one_model!(untrusted_inputs, inputs_are_never_trusted);
one_model!(bad_packets_and_leavers, bad_packets_close_and_leavers_leave);
one_model!(full_arena, a_full_arena_refuses);
