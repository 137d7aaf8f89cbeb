//! [`Backplane`]: the Redis side of the cluster, on threads of its own — a publisher, a
//! subscriber and a presence thread, each with one blocking connection — and [`Connector`],
//! how each of them (re)connects: with back-off, one log line per state change.
//!
//! The event loops never wait for these threads: they talk to them through bounded queues
//! (`Link`, `Inbox`) and `servercore::Notifier`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use servercore::Notifier;

use crate::cluster::inbox::Incoming;
use crate::cluster::link::{Link, LinkEnds};
use crate::cluster::stats::{ClusterStats, Role};
use crate::cluster::{presence, publisher, subscriber};

/// First wait before reconnecting; doubled per failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// A connection that lasted this long was healthy: the back-off starts over.
const HEALTHY: Duration = Duration::from_secs(5);
/// How long a connect, a command or a reply may take before the connection counts as down.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Granularity of waits, so a stop is noticed quickly.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// The backplane could not start.
#[derive(Debug)]
pub enum StartError {
    /// `--cluster` is not a Redis URL.
    BadUrl(redis::RedisError),
    /// The shared secret is missing or unusable (the message says how to give it).
    Secret(String),
    /// A thread could not be started.
    Spawn(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::BadUrl(err) => write!(f, "bad --cluster URL: {err}"),
            StartError::Secret(message) => f.write_str(message),
            StartError::Spawn(err) => write!(f, "cannot start a backplane thread: {err}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Opens one role's connection, again and again, with back-off.
#[derive(Debug)]
pub(crate) struct Connector {
    client: redis::Client,
    role: Role,
    stats: Arc<ClusterStats>,
    stop: Arc<AtomicBool>,
    connected_once: bool,
    down_logged: bool,
    /// When the current connection was made (to tell a flapping one from a healthy one).
    connected_at: Instant,
    /// Wait before the next attempt after a connection that failed soon after it was made.
    backoff: Duration,
}

impl Connector {
    /// A connection, or `None` once the backplane is stopping. Logs and counts the change.
    pub(crate) fn connect(&mut self) -> Option<redis::Connection> {
        let mut backoff = MIN_BACKOFF;
        loop {
            if self.stopping() {
                return None;
            }
            match self.client.get_connection_with_timeout(IO_TIMEOUT) {
                Ok(con) if configure(&con).is_ok() => {
                    if self.connected_once {
                        ClusterStats::add(&self.stats.reconnects, 1);
                    }
                    self.connected_once = true;
                    self.connected_at = Instant::now();
                    self.up(true, None);
                    return Some(con);
                }
                Ok(_) => self.up(false, Some("cannot set timeouts")),
                Err(err) => self.up(false, Some(&err.to_string())),
            }
            self.sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// The connection failed with `err` (the next `connect` retries). A connection that
    /// fails soon after it was made is retried with a growing back-off too, so a Redis that
    /// accepts and then refuses is not hammered.
    pub(crate) fn lost(&mut self, err: &redis::RedisError) {
        self.up(false, Some(&err.to_string()));
        if self.connected_at.elapsed() < HEALTHY {
            self.sleep(self.backoff);
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        } else {
            self.backoff = MIN_BACKOFF;
        }
    }

    /// Records the connection state; logs once per change (and once if the very first
    /// attempts fail).
    fn up(&mut self, up: bool, why: Option<&str>) {
        let changed = self.stats.set_up(self.role, up);
        let (node, role) = (self.stats.node(), self.role.name());
        if up {
            if changed {
                tracing::info!(node, role, "backplane connection up");
            }
            self.down_logged = false;
        } else if !self.down_logged {
            tracing::warn!(
                node,
                role,
                why = why.unwrap_or(""),
                "backplane connection down; retrying with back-off"
            );
            self.down_logged = true;
        }
    }

    /// True once the backplane is stopping.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Sleeps `d`, waking early if the backplane stops.
    pub(crate) fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while !self.stopping() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(POLL));
        }
    }
}

fn configure(con: &redis::Connection) -> redis::RedisResult<()> {
    con.set_read_timeout(Some(IO_TIMEOUT))?;
    con.set_write_timeout(Some(IO_TIMEOUT))
}

/// The running Redis threads; dropping it stops them (the presence thread first removes this
/// node's entries, if Redis is reachable).
#[derive(Debug)]
pub struct Backplane {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Backplane {
    /// Starts the three threads on `client` (made from `url`, which is logged).
    /// `inboxes[i]` is loop `i`'s inbox; `notifier` wakes the loops.
    ///
    /// # Errors
    /// [`StartError::Spawn`] if a thread cannot start. (An unreachable Redis is not an error:
    /// the threads keep trying, and the server serves its own members meanwhile.)
    pub fn start(
        url: &str,
        client: redis::Client,
        link: Arc<Link>,
        ends: LinkEnds,
        inboxes: Vec<SyncSender<Incoming>>,
        notifier: Notifier,
        ttl: Duration,
    ) -> Result<Backplane, StartError> {
        let stop = Arc::new(AtomicBool::new(false));
        let connector = |role| Connector {
            client: client.clone(),
            role,
            stats: link.stats().clone(),
            stop: stop.clone(),
            connected_once: false,
            down_logged: false,
            connected_at: Instant::now(),
            backoff: MIN_BACKOFF,
        };
        tracing::info!(node = link.node(), url, "cluster: joining the backplane");
        // Dropped on an error below: stops the threads already started.
        let mut backplane = Backplane {
            stop: stop.clone(),
            threads: Vec::new(),
        };
        let mut spawn = |name: &str, body: Box<dyn FnOnce() + Send>| {
            let thread = std::thread::Builder::new()
                .name(name.into())
                .spawn(body)
                .map_err(StartError::Spawn)?;
            backplane.threads.push(thread);
            Ok::<(), StartError>(())
        };
        let (publisher_link, queue) = (link.clone(), ends.queue);
        let mut c = connector(Role::Publisher);
        spawn(
            "cluster-publish",
            Box::new(move || publisher::run(&mut c, &publisher_link, &queue)),
        )?;
        let mut c = connector(Role::Subscriber);
        let subscriber_link = link.clone();
        spawn(
            "cluster-subscribe",
            Box::new(move || subscriber::run(&mut c, &subscriber_link, &inboxes, &notifier, ttl)),
        )?;
        let mut c = connector(Role::Presence);
        let wake = ends.presence_wake;
        spawn(
            "cluster-presence",
            Box::new(move || presence::run(&mut c, &link, &wake, ttl)),
        )?;
        Ok(backplane)
    }
}

impl Drop for Backplane {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
