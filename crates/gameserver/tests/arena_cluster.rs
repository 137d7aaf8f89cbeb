//! Arenas in a cluster, on a real `redis-server` with two `gameserver --game arena --cluster`
//! processes: an arena lives on the instance that took its lease; a player who joins it on
//! the other instance is redirected to the owner's public address and meets the players
//! there; when the owner dies (SIGKILL), its lease expires and the next join takes the arena
//! over on the living instance; a lease in Redis that is not signed with the cluster's secret
//! is not believed.

// Unix only: redis-server is a Linux program here, and the owner is killed with SIGKILL.
#![cfg(unix)]

mod util;

use std::net::{SocketAddr, TcpStream};

use game_protocol::arena::{Join, Redirect};
use game_protocol::ids;
use servercore::Model;
use util::arena::ArenaClient;
use util::cluster::{free_port, wait_metric, RedisServer};
use util::process::{Gameserver, STEP};
use util::*;

/// An arena node on a chosen port, announcing that port as its public address.
fn arena_node(model: Model, redis: &RedisServer, name: &str) -> (Gameserver, SocketAddr) {
    let port = free_port();
    let public = format!("127.0.0.1:{port}");
    let url = redis.url();
    let args = [
        "--protocol",
        "packet",
        "--game",
        "arena",
        "--cluster",
        &url,
        "--node-id",
        name,
        "--public-addr",
        &public,
        "--cluster-ttl-ms",
        "1000",
        "--arena-size",
        "50",
        "--view-radius",
        "100",
    ];
    let node = Gameserver::start_on(model, port, &args);
    (node, public.parse().unwrap())
}

/// Sends ARENA_JOIN for `room` and returns the answer.
fn join_answer(stream: &mut TcpStream, room: u32) -> (u16, Vec<u8>) {
    send_packet(stream, ids::ARENA_JOIN, &Join { room, name: "p" }.encode());
    read_packet(stream).expect("an answer to the join")
}

fn a_player_elsewhere_is_redirected_and_the_arena_survives_its_owner(model: Model) {
    let redis = RedisServer::start();
    let (mut a, a_public) = arena_node(model, &redis, "a");
    let (b, _) = arena_node(model, &redis, "b");

    let mut first = ArenaClient::join(a.addr, 5, "first"); // a takes the lease
    let mut elsewhere = connect(b.addr);
    let (id, body) = join_answer(&mut elsewhere, 5);
    assert_eq!(id, ids::REDIRECT, "{body:?}");
    let redirect = Redirect::parse(&body).expect("a redirect");
    assert_eq!(
        (redirect.room, redirect.addr),
        (5, a_public.to_string().as_str())
    );
    wait_metric(
        &b,
        "gameserver_arena_lease_answers_total{answer=\"redirect\"}",
        |n| n == 1,
    );

    let second = ArenaClient::join(redirect.addr.parse().unwrap(), 5, "second");
    while !first.world.known().contains_key(&second.world.you()) {
        first.next_snapshot(); // the two meet on the owner
    }
    assert!(first.violations.is_empty(), "{:?}", first.violations);

    a.child.kill().expect("SIGKILL the owner");
    let _ = a.child.wait();
    let mut answers = Vec::new();
    let taken_over = wait_until(STEP, || {
        let mut stream = connect(b.addr);
        let (id, _) = join_answer(&mut stream, 5);
        answers.push(id);
        id == ids::ARENA_WELCOME
    });
    assert!(taken_over, "b never took arena 5 over: answers {answers:?}");
    assert!(answers
        .iter()
        .all(|&id| [ids::REDIRECT, ids::ROOM_UNAVAILABLE, ids::ARENA_WELCOME].contains(&id)));
    wait_metric(&b, "gameserver_arena_leases_taken_total", |n| n == 1);
}

fn a_forged_lease_is_not_believed(model: Model) {
    let redis = RedisServer::start();
    let (b, _) = arena_node(model, &redis, "b");
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let forged = "mallory 6.6.6.6:7777 - 1 00ff";
    let _: () = redis::cmd("SET")
        .arg(gameserver::cluster::lease_key(9))
        .arg(forged)
        .arg("PX")
        .arg(60_000)
        .query(&mut con)
        .unwrap();
    let mut player = connect(b.addr);
    let (id, body) = join_answer(&mut player, 9);
    assert_eq!(
        (id, body),
        (ids::ROOM_UNAVAILABLE, 9u32.to_le_bytes().to_vec())
    );
    wait_metric(&b, "gameserver_arena_leases_rejected_total", |n| n >= 1);
    // A free arena is still taken and served.
    let _ = ArenaClient::join(b.addr, 10, "free");
}

one_model!(
    redirect_and_takeover,
    a_player_elsewhere_is_redirected_and_the_arena_survives_its_owner
);
one_model!(forged_lease, a_forged_lease_is_not_believed);
