//! Accept under descriptor exhaustion: the real gameserver in a child process with a low
//! RLIMIT_NOFILE. Past the limit it stops accepting without spinning, keeps serving its
//! sessions, and accepts the waiting connections once clients leave.
//!
//! Linux-only: the limit is set with `setrlimit` in the forked child, the CPU time read from
//! `/proc/PID/stat`, and the server is stopped with SIGTERM.

#![cfg(target_os = "linux")]

mod util;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use servercore::Model;
use util::*;

const NOFILE: u64 = 64;

/// Starts gameserver on a free port with RLIMIT_NOFILE = `NOFILE`.
fn start(model: Model) -> (Child, SocketAddr) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_gameserver"));
    command
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--threads",
            "1",
        ])
        .args([
            "--model",
            &model.to_string(),
            "--max-sessions-per-ip",
            "100000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: `setrlimit` is async-signal-safe and touches no memory of the parent; the
    // closure runs in the forked child before exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: NOFILE,
                rlim_max: NOFILE,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn().expect("spawn gameserver");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert!(wait_until(Duration::from_secs(10), || TcpStream::connect(
        addr
    )
    .is_ok()));
    (child, addr)
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit(") ").next().unwrap().split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn echoes(stream: &mut TcpStream, timeout: Duration) -> bool {
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.write_all(b"ping").is_ok() && read_n(stream, 4).is_ok_and(|b| b == b"ping")
}

fn exhaustion_pauses_and_resumes(model: Model) {
    let (mut server, addr) = start(model);
    let mut first: Vec<_> = (0..30).map(|_| connect(addr)).collect();
    for s in &mut first {
        assert!(echoes(s, Duration::from_secs(5)), "the first 30 are served");
    }
    // 40 more: together over the 64 descriptors (about 10 are the server's own). Those past
    // the limit wait in the backlog.
    let mut waiting: Vec<_> = (0..40).map(|_| connect(addr)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut served_now = 0;
    for s in waiting.iter_mut() {
        served_now += usize::from(echoes(s, Duration::from_millis(50)));
    }
    assert!(
        served_now < 40,
        "some connections must be over the descriptor limit"
    );
    for s in first.iter_mut() {
        assert!(
            echoes(s, Duration::from_secs(5)),
            "existing sessions keep echoing"
        );
    }
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let before = cpu_ticks(server.id());
    let started = Instant::now();
    // Keep knocking while exhausted: every arrival makes the listener ready again.
    while started.elapsed() < Duration::from_secs(2) {
        drop(TcpStream::connect(addr));
        std::thread::sleep(Duration::from_millis(20));
    }
    let used = (cpu_ticks(server.id()) - before) as f64 / ticks_per_sec;
    let share = used / started.elapsed().as_secs_f64();
    println!(
        "{model}: {served_now} of 40 extra served at the limit; server CPU while exhausted: {:.1}%",
        share * 100.0
    );
    assert!(
        share < 0.05,
        "accept loop spins under EMFILE: {:.1}% CPU",
        share * 100.0
    );
    drop(first); // descriptors come free: accepting resumes
    for (i, s) in waiting.iter_mut().enumerate() {
        assert!(
            echoes(s, Duration::from_secs(10)),
            "waiting client {i} served after resume"
        );
    }
    // SAFETY: `kill` with a valid pid and signal number has no memory effects.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let status = server.wait().unwrap();
    assert!(
        status.success(),
        "gameserver exits 0 on SIGTERM: {status:?}"
    );
}

both_models!(emfile, exhaustion_pauses_and_resumes);
