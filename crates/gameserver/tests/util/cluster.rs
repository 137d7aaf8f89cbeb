//! For the cluster tests: a real `redis-server` on a free loopback port (killed by PID when
//! dropped) and `gameserver --cluster` nodes pointed at it.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gameserver::cluster::wire::room_channel;
use servercore::Model;
use testkit::wait_until;

use super::process::{sample, Gameserver, STEP};

/// A `redis-server` child: no persistence, loopback only.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

impl RedisServer {
    /// Starts one on a free port and waits until it answers PING.
    pub fn start() -> RedisServer {
        for _ in 0..5 {
            let port = free_port();
            if let Some(server) = RedisServer::start_on(port) {
                return server;
            }
        }
        panic!("redis-server did not start (is it installed? apt-get install -y redis-server)");
    }

    /// Starts one on `port`; `None` if it did not come up (e.g. the port was taken).
    pub fn start_on(port: u16) -> Option<RedisServer> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("run redis-server (apt-get install -y redis-server)");
        let mut server = RedisServer {
            child: Some(child),
            port,
        };
        let up = wait_until(STEP, || {
            server.exited() || server.connection().is_some_and(|mut c| ping(&mut c))
        });
        (up && !server.exited()).then_some(server)
    }

    fn exited(&mut self) -> bool {
        let child = self.child.as_mut().expect("running");
        child.try_wait().expect("try_wait").is_some()
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A fresh connection, if it answers.
    pub fn connection(&self) -> Option<redis::Connection> {
        let client = redis::Client::open(self.url()).ok()?;
        client
            .get_connection_with_timeout(Duration::from_secs(2))
            .ok()
    }

    /// Subscribers of `room`'s channel now (0 if Redis does not answer).
    pub fn subscribers(&self, room: u32) -> usize {
        let Some(mut con) = self.connection() else {
            return 0;
        };
        let reply: redis::RedisResult<(String, usize)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(room_channel(room))
            .query(&mut con);
        reply.map_or(0, |(_, n)| n)
    }

    /// Waits until `n` nodes are subscribed to `room`.
    pub fn wait_subscribers(&self, room: u32, n: usize) {
        let ok = wait_until(STEP, || self.subscribers(room) == n);
        assert!(
            ok,
            "room {room}: {} subscribers, expected {n}",
            self.subscribers(room)
        );
    }

    /// Kills it (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn ping(con: &mut redis::Connection) -> bool {
    redis::cmd("PING").query::<String>(con).is_ok()
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr").port()
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
