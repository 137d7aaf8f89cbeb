//! A `gameserver` child process for tests of the real binary: started on loopback with free
//! ports, its log lines read on a thread, its metrics scraped over plain HTTP.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use servercore::Model;
use testkit::{connect, read_lines, wait_until};

/// The shared secret of every test cluster (given to every server through
/// [`CLUSTER_SECRET_ENV`]), so a test can sign what a misconfigured instance would publish.
pub const CLUSTER_SECRET: &str = "the test cluster's shared secret";
pub use gameserver::cluster::SECRET_ENV as CLUSTER_SECRET_ENV;

/// The most any one step may take; every wait of these helpers is bounded by it.
pub const STEP: Duration = Duration::from_secs(20);

/// A `gameserver` child process on loopback with `--port 0 --metrics 127.0.0.1:0`, its log
/// lines read on a thread. Killed if the test ends before it exits.
pub struct Gameserver {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub addr: SocketAddr,
    pub metrics: SocketAddr,
    /// The WebSocket listener's address, with `--websocket`.
    pub websocket: Option<SocketAddr>,
}

impl Gameserver {
    pub fn start(model: Model, extra: &[&str]) -> Gameserver {
        Gameserver::start_on(model, 0, extra)
    }

    /// As [`Gameserver::start`], on `port` (0: any free port).
    pub fn start_on(model: Model, port: u16, extra: &[&str]) -> Gameserver {
        let (model, port) = (model.to_string(), port.to_string());
        let mut child = Command::new(env!("CARGO_BIN_EXE_gameserver"))
            .args(["--bind", "127.0.0.1", "--port", &port, "--threads", "2"])
            .args(["--model", &model, "--metrics", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "info")
            .env(CLUSTER_SECRET_ENV, CLUSTER_SECRET) // used by --cluster only
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start gameserver");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = read_lines(stdout, "gameserver: ");
        let mut server = Gameserver {
            child,
            lines,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            metrics: SocketAddr::from(([0, 0, 0, 0], 0)),
            websocket: None,
        };
        let start = server.lines_until(&[" ready "]).expect("a `ready` line");
        server.websocket = start
            .iter()
            .find(|line| line.contains("listening (websocket)"))
            .map(|line| field(line, "addr").parse().expect("addr=IP:PORT"));
        let ready = start.last().expect("the `ready` line");
        server.addr = field(ready, "addr").parse().expect("addr=IP:PORT");
        let url = field(ready, "metrics");
        let metrics = url
            .strip_prefix("http://")
            .and_then(|u| u.strip_suffix("/metrics"))
            .unwrap_or_else(|| panic!("metrics={url}"));
        server.metrics = metrics.parse().expect("metrics address");
        server
    }

    /// The next log line containing every one of `needles` (other lines are skipped), within
    /// [`STEP`].
    pub fn wait_for_line(&mut self, needles: &[&str]) -> Option<String> {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if needles.iter().all(|n| line.contains(n)) => return Some(line),
                Ok(_) => {}
                Err(_) => return None, // timed out, or the process closed its stdout
            }
        }
    }

    /// Every log line up to and including the next one containing every one of `needles`
    /// (within [`STEP`]); `None` if none came in time.
    pub fn lines_until(&mut self, needles: &[&str]) -> Option<Vec<String>> {
        let deadline = Instant::now() + STEP;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).ok()?;
            let done = needles.iter().all(|n| line.contains(n));
            seen.push(line);
            if done {
                return Some(seen);
            }
        }
    }

    /// `GET /metrics` over a plain TCP connection; the body of a `200` answer.
    pub fn scrape(&self) -> String {
        let mut stream = connect(self.metrics);
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: gameserver\r\nConnection: close\r\n\r\n")
            .expect("send request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read response");
        let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        assert!(head.contains("text/plain; version=0.0.4"), "{head}");
        body.to_owned()
    }

    pub fn scrape_value(&self, series: &str) -> u64 {
        let body = self.scrape();
        sample(&body, series).unwrap_or_else(|| panic!("{series} in:\n{body}"))
    }

    /// Sends `signal` to the server (Unix only: Windows cannot signal one child process).
    #[cfg(unix)]
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own child, which
        // has not been reaped (it is reaped only through `self.child`).
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
    }

    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    pub fn wait_exit(&mut self) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(STEP, || {
            status = self.try_status();
            status.is_some()
        });
        status
    }
}

impl Drop for Gameserver {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The value of `key=value` in a log line (up to the next space).
pub fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line
        .find(&format!(" {key}="))
        .unwrap_or_else(|| panic!("no {key}= in {line}"))
        + key.len()
        + 2;
    line[start..].split_whitespace().next().unwrap_or_default()
}

/// The value of the sample `series` (`name` or `name{labels}`) in a Prometheus text body.
pub fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}
