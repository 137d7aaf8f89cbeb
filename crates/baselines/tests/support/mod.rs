//! What the baseline servers' tests share: starting one on a free port.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A baseline server process on 127.0.0.1 (any free port), killed on drop.
pub struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Starts `bin` with `extra` arguments; its first stderr line ends with its address.
    pub fn start(bin: &str, extra: &[&str]) -> Server {
        let mut child = Command::new(bin)
            .args(["--bind", "127.0.0.1", "--port", "0", "--threads", "1"])
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("{bin} starts: {err}"));
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Server { child, addr }
    }

    /// A client connection with Nagle off and a 10 s read timeout (a hang fails, never waits
    /// forever).
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
