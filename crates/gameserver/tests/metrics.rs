//! The real `gameserver` binary, operated: `--metrics` scraped over plain HTTP while echo
//! clients run, `--stats-interval` lines, SIGTERM ending it with exit status 0, and a second
//! signal cutting a stuck drain short.
//!
//! Unix-only: every test ends its server with a signal, and Windows cannot send its console
//! control events to one child process alone.

#![cfg(unix)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use servercore::Model;
use testkit::{both_models, connect, pattern, read_n, wait_until};

/// The most any one step may take; every wait in this file is bounded by it.
const STEP: Duration = Duration::from_secs(20);

both_models!(scrape_then_sigterm, scrape_then_sigterm_body);

/// Counters move with echo traffic, a stats line shows it, SIGTERM drains and exits 0.
fn scrape_then_sigterm_body(model: Model) {
    let mut server = Gameserver::start(model, &["--stats-interval", "1"]);

    let idle = server.scrape();
    assert_eq!(sample(&idle, "gameserver_sessions_accepted_total"), Some(0));
    assert_eq!(sample(&idle, "gameserver_sessions_live"), Some(0));
    for index in 0..2 {
        let series = format!("gameserver_event_loop_iterations_total{{loop=\"{index}\"}}");
        assert!(sample(&idle, &series).is_some(), "{series} in:\n{idle}");
    }

    let mut clients: Vec<TcpStream> = (0..3).map(|_| connect(server.addr)).collect();
    for (seed, client) in clients.iter_mut().enumerate() {
        let data = pattern(seed as u64, 1000);
        client.write_all(&data).expect("send");
        assert_eq!(read_n(client, data.len()).expect("echo"), data);
    }
    let mut busy = String::new();
    let moved = wait_until(STEP, || {
        busy = server.scrape();
        sample(&busy, "gameserver_sessions_accepted_total") == Some(3)
            && sample(&busy, "gameserver_sessions_live") == Some(3)
            && sample(&busy, "gameserver_received_bytes_total") == Some(3000)
            && sample(&busy, "gameserver_sent_bytes_total") == Some(3000)
    });
    assert!(moved, "counters did not move:\n{busy}");

    let line = server.wait_for_line(&["stats live=3 ", " bytes_in=3000 "]);
    let line = line.expect("a stats line with the clients' bytes");
    assert!(line.contains(" accepted=3 "), "{line}");

    server.signal(libc::SIGTERM);
    for client in &mut clients {
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).expect("closed by the drain");
        assert!(rest.is_empty());
    }
    let status = server.wait_exit().expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(server.wait_for_line(&[" stopped"]).is_some());
}

/// A drain that cannot finish (the client reads nothing) waits for `shutdown_drain`; a second
/// signal ends the process at once, still with status 0. Main-thread logic: one model suffices.
#[test]
fn second_signal_exits_during_the_drain() {
    let mut server = Gameserver::start(Model::Epoll, &[]);
    let mut client = connect(server.addr);
    client.set_nonblocking(true).expect("nonblocking");
    // Send until the server stops reading (its echo queue passed send_queue_pause) and every
    // buffer on the way is full.
    let chunk = vec![7; 64 * 1024];
    let (mut sent, deadline) = (0, Instant::now() + STEP);
    while sent < 256 << 20 && Instant::now() < deadline {
        match client.write(&chunk) {
            Ok(n) => sent += n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                if server.scrape_value("gameserver_send_queue_bytes") > 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(err) => panic!("send: {err}"),
        }
    }
    assert!(server.scrape_value("gameserver_send_queue_bytes") > 0);

    server.signal(libc::SIGTERM);
    server
        .wait_for_line(&["stopping"])
        .expect("the drain starts");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server.try_status().is_none(),
        "exited before its drain ended"
    );

    let second = Instant::now();
    server.signal(libc::SIGINT);
    let status = server.wait_exit().expect("exits after the second signal");
    assert_eq!(status.code(), Some(0), "{status}");
    let took = second.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "took {took:?} (drain is 5 s)"
    );
    assert!(server.wait_for_line(&["second signal"]).is_some());
}

/// A `gameserver` child process on loopback with `--port 0 --metrics 127.0.0.1:0`, its log
/// lines read on a thread. Killed if the test ends before it exits.
struct Gameserver {
    child: Child,
    lines: mpsc::Receiver<String>,
    addr: SocketAddr,
    metrics: SocketAddr,
}

impl Gameserver {
    fn start(model: Model, extra: &[&str]) -> Gameserver {
        let model = model.to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gameserver"))
            .args(["--bind", "127.0.0.1", "--port", "0", "--threads", "2"])
            .args(["--model", &model, "--metrics", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start gameserver");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("gameserver: {line}"); // shown if the test fails
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut server = Gameserver {
            child,
            lines,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            metrics: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let ready = server.wait_for_line(&[" ready "]).expect("a `ready` line");
        server.addr = field(&ready, "addr").parse().expect("addr=IP:PORT");
        let url = field(&ready, "metrics");
        let metrics = url
            .strip_prefix("http://")
            .and_then(|u| u.strip_suffix("/metrics"))
            .unwrap_or_else(|| panic!("metrics={url}"));
        server.metrics = metrics.parse().expect("metrics address");
        server
    }

    /// The next log line containing every one of `needles` (other lines are skipped), within
    /// [`STEP`].
    fn wait_for_line(&mut self, needles: &[&str]) -> Option<String> {
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

    /// `GET /metrics` over a plain TCP connection; the body of a `200` answer.
    fn scrape(&self) -> String {
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

    fn scrape_value(&self, series: &str) -> u64 {
        let body = self.scrape();
        sample(&body, series).unwrap_or_else(|| panic!("{series} in:\n{body}"))
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own child, which
        // has not been reaped (it is reaped only through `self.child`).
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
    }

    fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    fn wait_exit(&mut self) -> Option<ExitStatus> {
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
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line
        .find(&format!(" {key}="))
        .unwrap_or_else(|| panic!("no {key}= in {line}"))
        + key.len()
        + 2;
    line[start..].split_whitespace().next().unwrap_or_default()
}

/// The value of the sample `series` (`name` or `name{labels}`) in a Prometheus text body.
fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}
