//! For the cluster tests: `gameserver --cluster` nodes pointed at a real `redis-server`
//! (`testkit::RedisServer`), and what Redis says about them.

use std::time::Duration;

use gameserver::cluster::wire::room_channel;
use servercore::Model;
use testkit::wait_until;

use super::process::{sample, Gameserver, STEP};

pub use testkit::{free_port, RedisServer};

/// Subscribers of `room`'s channel now (0 if Redis does not answer).
pub fn subscribers(redis: &RedisServer, room: u32) -> usize {
    let Ok(client) = redis::Client::open(redis.url()) else {
        return 0;
    };
    let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
        return 0;
    };
    let reply: redis::RedisResult<(String, usize)> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(room_channel(room))
        .query(&mut con);
    reply.map_or(0, |(_, n)| n)
}

/// Waits until `n` nodes are subscribed to `room`.
pub fn wait_subscribers(redis: &RedisServer, room: u32, n: usize) {
    let ok = wait_until(STEP, || subscribers(redis, room) == n);
    assert!(
        ok,
        "room {room}: {} subscribers, expected {n}",
        subscribers(redis, room)
    );
}

/// `gameserver --protocol packet --cluster URL --node-id NAME --rate-limit 0` with 2 loops,
/// plus `extra`.
pub fn node(model: Model, url: &str, name: &str, extra: &[&str]) -> Gameserver {
    let mut args = vec!["--protocol", "packet", "--cluster", url, "--node-id", name];
    args.extend_from_slice(&["--rate-limit", "0"]); // the tests send bursts
    args.extend_from_slice(extra);
    Gameserver::start(model, &args)
}

/// Waits until `series` in `node`'s metrics satisfies `ok`; returns the last value.
pub fn wait_metric(node: &Gameserver, series: &str, ok: impl Fn(u64) -> bool) -> u64 {
    let mut last = None;
    let done = wait_until(STEP, || {
        last = sample(&node.scrape(), series);
        last.is_some_and(&ok)
    });
    assert!(done, "{series} stayed at {last:?}");
    last.unwrap_or_default()
}
