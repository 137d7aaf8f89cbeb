//! Shared helpers for dummyclient's integration tests: echo servers (a correct servercore one
//! and a std one that mangles the stream on purpose), gameserver's packet game in process, a
//! std chat server that drops or repeats a broadcast on purpose ([`chat_server`]), and a
//! bounded run of the built binary.

#![allow(dead_code)] // each test file uses some of these

pub mod chat_server;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gameserver::chat_room::DEFAULT_ROOM_CAPACITY;
use gameserver::chat_service::bind_chat;
use gameserver::game::Game;
use gameserver::login::{Gate, Login, ResumeRules, SecondLogin};
use servercore::packet::{Packets, DEFAULT_MAX_PACKET};
use servercore::{Context, Handler, Service, ServiceConfig, SessionId};

/// The lecture's echo server on servercore.
pub struct Echo;

impl Handler for Echo {
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let _ = ctx.send_copy(id, data);
        data.len()
    }
}

/// A servercore echo server on 127.0.0.1 with an OS-chosen port.
pub fn echo_server(threads: usize) -> Service<Echo> {
    let config = ServiceConfig {
        threads,
        ..Default::default()
    };
    Service::bind("127.0.0.1:0".parse().unwrap(), config, |_| Echo).expect("echo server starts")
}

/// gameserver's chat on `threads` loops behind a login checking tokens signed with
/// `secret`, holding seats by `resume` (`None`: resume off); the login, for its counters.
pub fn gated_chat(
    secret: &[u8],
    threads: usize,
    resume: Option<ResumeRules>,
) -> (Service<Packets<Gate<Game>>>, Arc<Login>) {
    let login = Login::new(secret, Duration::from_secs(10), SecondLogin::Replace, 30)
        .expect("a long secret")
        .with_resume(resume);
    let login = Arc::new(login);
    let config = ServiceConfig {
        threads,
        ..Default::default()
    };
    let addr = "127.0.0.1:0".parse().unwrap();
    let gated = login.clone();
    let service = bind_chat(addr, config, DEFAULT_ROOM_CAPACITY, None, move |game| {
        Packets::new(Gate::new(game, Some(gated.clone())), DEFAULT_MAX_PACKET)
    })
    .expect("game server starts")
    .0;
    login.bind(service.notifier());
    (service, login)
}

/// gameserver's packet protocol (echo, rooms, chat: `gameserver --protocol packet`) on
/// 127.0.0.1 with an OS-chosen port, built from the gameserver library.
pub fn game_server(threads: usize) -> Service<Packets<Game>> {
    let config = ServiceConfig {
        threads,
        ..Default::default()
    };
    let addr = "127.0.0.1:0".parse().unwrap();
    bind_chat(addr, config, DEFAULT_ROOM_CAPACITY, None, |game| {
        Packets::new(game, DEFAULT_MAX_PACKET)
    })
    .expect("game server starts")
    .0
}

/// How [`mangling_server`] spoils the echo of a stream of `size`-byte messages.
#[derive(Debug, Clone, Copy)]
pub enum Mangle {
    /// Invert one byte of every `n`-th message.
    FlipEvery(u64),
    /// Do not echo every `n`-th message.
    DropEvery(u64),
    /// Echo messages 1, 0, 3, 2, ...
    SwapPairs,
}

/// A plain std echo server (a thread per connection) that cuts each connection's stream into
/// `size`-byte messages and mangles their echo as `mangle` says. Returns its address.
pub fn mangling_server(size: usize, mangle: Mangle) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || serve_mangled(stream, size, mangle));
        }
    });
    addr
}

fn serve_mangled(mut stream: TcpStream, size: usize, mangle: Mangle) {
    let _ = stream.set_nodelay(true);
    let mut held: Option<Vec<u8>> = None;
    for count in 0u64.. {
        let mut msg = vec![0; size];
        if stream.read_exact(&mut msg).is_err() {
            return;
        }
        let out: Vec<Vec<u8>> = match mangle {
            Mangle::FlipEvery(n) if count % n == n - 1 => {
                msg[(count as usize * 7) % size] ^= 0xff;
                vec![msg]
            }
            Mangle::DropEvery(n) if count % n == n - 1 => vec![],
            Mangle::SwapPairs => match held.take() {
                None => {
                    held = Some(msg);
                    vec![]
                }
                Some(first) => vec![msg, first],
            },
            _ => vec![msg],
        };
        for m in out {
            if stream.write_all(&m).is_err() {
                return;
            }
        }
    }
}

/// A plain std echo server that, on each connection, reads nothing for `stall` and then
/// echoes everything: a server that falls behind. Returns its address.
pub fn stalling_server(stall: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                std::thread::sleep(stall);
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// An address nothing listens on (a port just bound and released).
pub fn closed_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Runs the built `dummyclient` with `args`, killing it (and failing the test) if it has not
/// finished within `timeout`.
pub fn run_dummyclient(args: &[&str], timeout: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dummyclient"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dummyclient starts");
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait().expect("wait for dummyclient").is_some() {
            return child.wait_with_output().expect("dummyclient output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("dummyclient output");
            panic!(
                "dummyclient {args:?} still running after {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// As [`run_dummyclient`], and asserts that it exited 0.
pub fn run_ok(args: &[&str], timeout: Duration) -> Output {
    let output = run_dummyclient(args, timeout);
    assert!(
        output.status.success(),
        "dummyclient {args:?}: status {:?}, stderr:\n{}",
        output.status,
        stderr(&output)
    );
    output
}

/// Parses the one JSON line `--json` prints.
pub fn json_report(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "--json prints one line, got:\n{stdout}\nstderr:\n{}",
        stderr(output)
    );
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {}", lines[0]))
}

/// The integer field `key` of a JSON report.
pub fn count(report: &serde_json::Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing or not an integer in {report}"))
}

/// The child's stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A 1 s closed-loop run (20 clients, 4 in flight, 100-byte messages, one loop) against the
/// server at `addr` through the library API, with the checks every clean run must pass:
/// no error, more than 1,000 messages, every message sent came back.
pub fn clean_closed_loop_run(
    addr: SocketAddr,
    protocol: dummyclient::wire::Protocol,
) -> dummyclient::stats::Report {
    use dummyclient::load::{self, LoadConfig, Pacing};
    let config = LoadConfig {
        protocol,
        size: 100,
        pacing: Pacing::Closed { inflight: 4 },
        duration: Duration::from_secs(1),
        threads: 1,
        connect_timeout: Duration::from_secs(5),
        ..LoadConfig::new(addr.to_string(), 20)
    };
    let report =
        load::run(&config, &std::sync::atomic::AtomicBool::new(false)).expect("run completes");
    assert!(report.passed(), "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert!(report.messages > 1000, "{report}");
    assert_eq!(
        report.messages, report.sent,
        "every message sent came back: {report}"
    );
    report
}
