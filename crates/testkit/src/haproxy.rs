//! [`Haproxy`]: a real HAProxy (the Debian package `haproxy`, installed by `.ci/run`) in front
//! of a test's backend, speaking PROXY protocol v2 to it, on free loopback ports.
//!
//! ```text
//!   client --> 127.0.0.1:frontend  HAProxy  --PROXY v2 header + bytes--> backend (the test's)
//!              127.0.0.1:monitor   GET /ready -> 200 (readiness, never reaches the backend)
//!                                  GET /stats;csv (the backend's health: Haproxy::backend_stat)
//!                                  health check every 200 ms --LOCAL header, close--> backend
//! ```
//!
//! [`Haproxy::start`] writes [`config`]'s `haproxy.cfg` into a temporary directory, runs
//! `haproxy -f haproxy.cfg -db` (foreground) as a child and returns once HAProxy answers on its
//! monitor port; dropping the [`Haproxy`] kills that child by PID and waits for it. Readiness
//! is probed on a separate monitor frontend because a probe of the game frontend would itself
//! be forwarded to the backend as a client connection. HAProxy binds all its frontends before
//! it serves any, so a ready monitor means the game frontend is bound too.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_loopback_addrs;

/// How long [`Haproxy::start`] waits for HAProxy to answer on its monitor port.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts at starting, each on fresh ports (another process may take a free port first).
const START_ATTEMPTS: usize = 3;

/// `haproxy.cfg` for a TCP frontend on `frontend` forwarding to one server at `backend` with
/// `send-proxy-v2` (every connection starts with a v2 header) and a TCP health check every
/// `check_interval` (with `send-proxy-v2` HAProxy sends its checks a v2 `LOCAL` header too),
/// and an HTTP monitor on `monitor` answering `GET /ready` and serving statistics on `/stats`.
/// Timeouts are generous (5 min),
/// above gameserver's default `--idle-timeout` of 60 s, so the server closes idle players
/// itself. `docs/deploy.md` shows this file.
pub fn config(
    frontend: SocketAddr,
    monitor: SocketAddr,
    backend: SocketAddr,
    check_interval: Duration,
) -> String {
    let inter = check_interval.as_millis();
    format!(
        "\
global
    log stderr format raw daemon
    maxconn 1000

defaults
    mode tcp
    log global
    option tcplog
    timeout connect 5s
    timeout client 5m
    timeout server 5m
    timeout tunnel 5m
    timeout check 5s

frontend game
    bind {frontend}
    default_backend gameservers

backend gameservers
    server game1 {backend} send-proxy-v2 check inter {inter}ms

frontend monitor
    mode http
    bind {monitor}
    timeout http-request 5s
    monitor-uri /ready
    stats enable
    stats uri /stats
"
    )
}

/// A running HAProxy; killed (by PID) and reaped on drop.
#[derive(Debug)]
pub struct Haproxy {
    child: Child,
    frontend: SocketAddr,
    monitor: SocketAddr,
    /// Holds `haproxy.cfg` and HAProxy's stderr (`haproxy.log`); removed on drop.
    dir: tempfile::TempDir,
}

impl Haproxy {
    /// Starts HAProxy in front of `backend`, health-checking it every 200 ms, and waits until
    /// it serves (see the module docs).
    ///
    /// # Errors
    /// `haproxy` is not installed (`NotFound`, naming the package), cannot start (its stderr
    /// in the message), or does not answer within 30 s.
    pub fn start(backend: SocketAddr) -> io::Result<Haproxy> {
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match Haproxy::try_start(backend, Duration::from_millis(200)) {
                Ok(haproxy) => return Ok(haproxy),
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Err(err),
                Err(err) => last = Some(err),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn try_start(backend: SocketAddr, check_interval: Duration) -> io::Result<Haproxy> {
        let dir = tempfile::Builder::new().prefix("haproxy-").tempdir()?;
        let ports = free_loopback_addrs(2);
        let (frontend, monitor) = (ports[0], ports[1]);
        let cfg = dir.path().join("haproxy.cfg");
        fs::write(&cfg, config(frontend, monitor, backend, check_interval))?;
        let log = fs::File::create(dir.path().join("haproxy.log"))?;
        let child = Command::new("haproxy")
            .arg("-f")
            .arg(&cfg)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|err| match err.kind() {
                io::ErrorKind::NotFound => io::Error::new(
                    err.kind(),
                    "haproxy is not installed: apt-get install -y haproxy (as .ci/run does)",
                ),
                _ => err,
            })?;
        let mut haproxy = Haproxy {
            child,
            frontend,
            monitor,
            dir,
        };
        haproxy.wait_ready()?;
        Ok(haproxy)
    }

    /// Polls the monitor until it answers 200, HAProxy exits, or [`START_TIMEOUT`] passes.
    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "haproxy exited ({status}) before serving:\n{}",
                    self.log()
                )));
            }
            if monitor_ready(self.monitor) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "haproxy did not answer within {START_TIMEOUT:?}:\n{}",
                self.log()
            ),
        ))
    }

    /// Where clients connect: HAProxy's game frontend.
    pub fn frontend(&self) -> SocketAddr {
        self.frontend
    }

    /// One column of the backend server's line in HAProxy's CSV statistics, e.g. `"status"`
    /// (`"UP"`, `"DOWN"`, or a transition such as `"UP 1/3"`: going down after one failed
    /// check of three), `"check_status"` (the last check: `"L4OK"`, `"L4CON"` refused, ...) or
    /// `"chkfail"` (failed checks so far).
    ///
    /// # Errors
    /// The statistics cannot be read, or have no such server or column.
    pub fn backend_stat(&self, column: &str) -> io::Result<String> {
        let csv = http_get(self.monitor, "/stats;csv")?;
        game1_stat(&csv, column)
            .ok_or_else(|| io::Error::other(format!("no {column} of game1 in:\n{csv}")))
    }

    /// HAProxy's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The `haproxy.cfg` it runs.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("haproxy.cfg")
    }

    /// What HAProxy wrote so far: alerts, warnings, one line per connection and health-check
    /// state change. For test failure messages.
    pub fn log(&self) -> String {
        read_lossy(&self.dir.path().join("haproxy.log"))
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        // `Child::kill` is kill(pid, SIGKILL) on this child's own PID; then reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether HAProxy's monitor answers `GET /ready` with 200.
fn monitor_ready(monitor: SocketAddr) -> bool {
    http_get(monitor, "/ready").is_ok()
}

/// The body of `GET path` on `monitor`, if it answers 200.
fn http_get(monitor: SocketAddr, path: &str) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&monitor, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    let reply = String::from_utf8_lossy(&reply);
    let ok = reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200");
    match reply.split_once("\r\n\r\n") {
        Some((head, body)) if ok && head.to_ascii_lowercase().contains("chunked") => {
            dechunk(body).ok_or_else(|| io::Error::other(format!("GET {path}: bad chunks")))
        }
        Some((_, body)) if ok => Ok(body.to_owned()),
        _ => Err(io::Error::other(format!("GET {path}: {reply}"))),
    }
}

/// The payload of a chunked HTTP body (HAProxy sends its statistics so, even to HTTP/1.0).
fn dechunk(mut body: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..size)?);
        body = rest.get(size..)?.strip_prefix("\r\n")?;
    }
}

/// Column `name` of server `game1`'s line in HAProxy's CSV statistics.
fn game1_stat(csv: &str, name: &str) -> Option<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next()?.trim_start_matches("# ").split(',').collect();
    let column = |name| header.iter().position(|&h| h == name);
    let (px, sv, wanted) = (column("pxname")?, column("svname")?, column(name)?);
    lines
        .map(|line| line.split(',').collect::<Vec<_>>())
        .find(|row| row.get(px) == Some(&"gameservers") && row.get(sv) == Some(&"game1"))
        .and_then(|row| row.get(wanted).map(|s| (*s).to_owned()))
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_else(|err| format!("({}: {err})", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_forwards_with_proxy_v2_and_checks_the_backend() {
        let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let cfg = config(at(1000), at(1001), at(1002), Duration::from_millis(250));
        assert!(cfg.contains("    bind 127.0.0.1:1000\n"));
        assert!(cfg.contains("server game1 127.0.0.1:1002 send-proxy-v2 check inter 250ms\n"));
        assert!(cfg.contains("    bind 127.0.0.1:1001\n"));
        assert!(cfg.contains("monitor-uri /ready"));
        assert!(cfg.contains("stats uri /stats"));
        for timeout in ["client", "server", "tunnel"] {
            assert!(
                cfg.contains(&format!("timeout {timeout} 5m\n")),
                "{timeout}"
            );
        }
    }

    #[test]
    fn stats_are_read_from_the_csv_columns() {
        let csv = "# pxname,svname,qcur,status,check_status\n\
                   game,FRONTEND,,OPEN,\n\
                   gameservers,game1,0,UP 1/3,L4CON\n\
                   gameservers,BACKEND,0,UP,\n";
        assert_eq!(game1_stat(csv, "status").as_deref(), Some("UP 1/3"));
        assert_eq!(game1_stat(csv, "check_status").as_deref(), Some("L4CON"));
        assert_eq!(game1_stat(csv, "weight"), None);
        assert_eq!(game1_stat("# pxname,svname,status\n", "status"), None);
        assert_eq!(game1_stat("", "status"), None);
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk("3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").as_deref(),
            Some("abcde")
        );
        assert_eq!(dechunk("0\r\n\r\n").as_deref(), Some(""));
        assert_eq!(dechunk("5\r\nabc"), None, "truncated");
        assert_eq!(dechunk("z\r\n"), None, "not hex");
    }

    /// docs/deploy.md shows the harness's file, for its documented addresses and interval.
    #[test]
    fn deploy_md_shows_the_harness_config() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/deploy.md");
        let doc = fs::read_to_string(&path).expect("read docs/deploy.md");
        let open = "```haproxy\n";
        let start = doc.find(open).expect("a haproxy code block") + open.len();
        let len = doc[start..].find("```").expect("the block's end");
        let expected = config(
            "0.0.0.0:7777".parse().unwrap(),
            "127.0.0.1:8404".parse().unwrap(),
            "10.0.1.11:7777".parse().unwrap(),
            Duration::from_secs(2),
        );
        assert_eq!(&doc[start..start + len], expected);
    }
}
