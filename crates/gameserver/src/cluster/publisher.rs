//! The publisher thread: takes the loops' chats off the bounded queue and publishes them to
//! their rooms' channels, many per round trip (one `PUBLISH` per chat, pipelined).
//!
//! While Redis is unreachable it takes nothing off the queue: the queue fills to its bound and
//! the loops drop (and count) what does not fit, so memory stays bounded however long Redis is
//! away. A batch whose publish fails is lost and counted (`backplane_down`); either way the
//! lost chats' sequence numbers are used up, so the receivers count the hole.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::cluster::backplane::{Connector, POLL};
use crate::cluster::link::{Link, Outgoing};
use crate::cluster::stats::ClusterStats;
use crate::cluster::wire::room_channel;

/// Most chats sent in one round trip.
const BATCH: usize = 256;
/// An idle publisher pings Redis this often.
const IDLE_PING: Duration = Duration::from_secs(1);

/// Runs until the backplane stops or every loop is gone.
pub(crate) fn run(connector: &mut Connector, link: &Link, queue: &Receiver<Outgoing>) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(mut con) = connector.connect() {
        let mut idle_since = Instant::now();
        loop {
            if connector.stopping() {
                return;
            }
            match queue.recv_timeout(POLL) {
                Ok(first) => batch.push(first),
                Err(RecvTimeoutError::Timeout) => {
                    // Idle: check the connection now and then, so its state (and the
                    // metric) is true even when there is nothing to publish.
                    if idle_since.elapsed() >= IDLE_PING {
                        idle_since = Instant::now();
                        if let Err(err) = redis::cmd("PING").exec(&mut con) {
                            connector.lost(&err);
                            break;
                        }
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
            idle_since = Instant::now();
            batch.extend(queue.try_iter().take(BATCH - 1));
            link.taken(batch.len());
            let n = batch.len() as u64;
            match publish(&mut con, &batch) {
                Ok(()) => ClusterStats::add(&link.stats().published, n),
                Err(err) => {
                    ClusterStats::add(&link.stats().dropped_down, n);
                    connector.lost(&err);
                    batch.clear();
                    break;
                }
            }
            batch.clear();
        }
    }
}

/// Publishes `batch` in one pipeline.
fn publish(con: &mut redis::Connection, batch: &[Outgoing]) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    for chat in batch {
        pipe.cmd("PUBLISH")
            .arg(room_channel(chat.room))
            .arg(&chat.payload)
            .ignore();
    }
    pipe.exec(con)
}
