//! [`RedisServer`]: a real `redis-server` (Debian package `redis-server`) for tests, on a free
//! loopback port, without persistence, killed by PID when dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::wait_until;

/// How long a start may take before it counts as failed.
const START: Duration = Duration::from_secs(30);

/// A `redis-server` child process.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts one on a free port and waits until it answers PING.
    ///
    /// # Panics
    /// If `redis-server` is not installed or does not come up (after a few ports).
    pub fn start() -> RedisServer {
        for _ in 0..5 {
            if let Some(server) = RedisServer::start_on(free_port()) {
                return server;
            }
        }
        panic!("redis-server did not start (is it installed? apt-get install -y redis-server)");
    }

    /// Starts one on `port` (e.g. again after [`RedisServer::kill`]); `None` if it did not
    /// come up (the port was taken, say).
    ///
    /// # Panics
    /// If `redis-server` cannot be run at all.
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
        let up = wait_until(START, || server.exited() || server.answers());
        (up && !server.exited()).then_some(server)
    }

    fn exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().map_or(true, |status| status.is_some()),
            None => true,
        }
    }

    /// True if it answers `PING` with `+PONG` now.
    pub fn answers(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut reply = [0; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Freezes it (SIGSTOP): its connections stay open, nothing is answered — a Redis that
    /// is slow, not gone. [`RedisServer::thaw`] resumes it. Unix only (signals).
    #[cfg(unix)]
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Resumes a frozen server (SIGCONT).
    #[cfg(unix)]
    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }

    #[cfg(unix)]
    fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("running");
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own child, not yet
        // reaped (it is reaped only through `self.child`), so it names no other process.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Kills it (SIGKILL: no goodbye to its clients) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill(); // SIGKILL ends a frozen process too
    }
}

/// A loopback port that was free a moment ago.
///
/// # Panics
/// If no loopback port can be bound.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local addr").port()
}
