//! The real `gameserver` binary, started with flags it used to accept and then misbehave
//! with (issue 15): each is refused at start-up with a usage error on stderr that names the
//! flag, and exit status 2, before anything is bound. And the edges of the accepted ranges
//! work: a server with every flag at its edge serves packets up to the smallest
//! `--max-packet`, closes a session over it, and stops on SIGTERM with the longest
//! `--shutdown-drain` (a drain of `u64::MAX` seconds used to panic a loop).

mod util;

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use util::*;

// For the edges test, which ends with SIGTERM: Windows cannot signal one child process alone.
#[cfg(unix)]
use {
    gameserver::protocol, servercore::Model, std::net::SocketAddr, std::sync::mpsc,
    std::time::Instant,
};

/// The most any one step may take; every wait in this file is bounded by it.
const STEP: Duration = Duration::from_secs(30);

/// `gameserver` on loopback, any free port, with `flags` after the address; stdout piped
/// (log lines) or dropped.
fn gameserver(flags: &[&str], stdout: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_gameserver"))
        .args(["--bind", "127.0.0.1", "--port", "0"])
        .args(flags)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gameserver")
}

/// Waits up to [`STEP`] for `child` to exit; kills it (and returns `None`) if it does not.
fn exit_status(child: &mut Child) -> Option<ExitStatus> {
    let mut status = None;
    wait_until(STEP, || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status
}

/// Starts `gameserver` with `flags` and returns its stderr once it exited with status 2 (a
/// usage error) naming every one of `named`.
fn assert_refused(flags: &[&str], named: &[&str]) -> String {
    let mut child = gameserver(flags, Stdio::null());
    let status = exit_status(&mut child);
    let mut stderr = String::new();
    let pipe = child.stderr.as_mut().expect("piped stderr");
    pipe.read_to_string(&mut stderr).expect("read stderr");
    assert!(status.is_some(), "{flags:?} accepted: the server ran");
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(2),
        "{flags:?}: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{flags:?}: {stderr}");
    for flag in named {
        assert!(
            stderr.contains(flag),
            "{flags:?} does not name {flag}: {stderr}"
        );
    }
    stderr
}

#[test]
fn threads_must_be_1_to_1024() {
    for bad in ["0", "1025"] {
        assert_refused(&["--threads", bad], &["--threads"]);
    }
}

#[test]
fn max_packet_must_hold_a_room_id_and_fit_the_size_field() {
    for bad in ["0", "3", "4", "7", "65536", "70000"] {
        let stderr = assert_refused(&["--max-packet", bad], &["--max-packet"]);
        assert!(stderr.contains("8..=65535"), "{stderr}");
    }
}

#[test]
fn every_duration_has_a_ceiling() {
    let huge = u64::MAX.to_string();
    for (flag, over) in [
        ("--shutdown-drain", "3601"),
        ("--partial-timeout", "3601"),
        ("--idle-timeout", "86401"),
        ("--stats-interval", "86401"),
        ("--flush-interval-ms", "1001"),
    ] {
        assert_refused(&[flag, over], &[flag]);
        assert_refused(&[flag, &huge], &[flag]);
    }
    assert_refused(&["--stats-interval", "0"], &["--stats-interval"]);
}

#[test]
fn counts_that_make_no_sense_at_zero_are_refused() {
    for flag in [
        "--rate-burst",
        "--send-queue-pause",
        "--max-sessions",
        "--max-sessions-per-ip",
        "--max-room-members",
    ] {
        let stderr = assert_refused(&[flag, "0"], &[flag]);
        assert!(stderr.contains("at least 1"), "{stderr}");
    }
}

#[test]
fn queue_limits_must_hold_one_read() {
    for flag in ["--send-queue-limit", "--mailbox-limit"] {
        for bad in ["0", "65535"] {
            let stderr = assert_refused(&[flag, bad], &[flag]);
            assert!(stderr.contains("at least 65536"), "{stderr}");
        }
    }
}

#[test]
fn the_send_queue_pause_must_sit_a_read_below_the_limit() {
    let both = ["--send-queue-pause (", "--send-queue-limit ("];
    // Above the default limit (4 MiB).
    assert_refused(&["--send-queue-pause", "5000000"], &both);
    // Below the limit, but less than one read (64 KiB) below it.
    let stderr = assert_refused(
        &[
            "--send-queue-limit",
            "100000",
            "--send-queue-pause",
            "50000",
        ],
        &both,
    );
    assert!(stderr.contains("at most 34464"), "{stderr}");
}

#[test]
fn proxy_protocol_needs_its_trusted_proxies_and_lists_must_parse() {
    assert_refused(&["--proxy-protocol"], &["--trusted-proxies"]);
    assert_refused(&["--trusted-proxies", "10.0.0.0/8"], &["--proxy-protocol"]);
    assert_refused(
        &["--proxy-protocol", "--trusted-proxies", "10.0.0.0/33"],
        &["--trusted-proxies"],
    );
    assert_refused(&["--trusted-sources", "localhost"], &["--trusted-sources"]);
}

#[cfg(unix)] // ends with SIGTERM: Windows cannot signal one child process alone
one_model!(edges_are_accepted_and_work, edges_body);

/// Every flag at an edge of its range: the server starts, serves a packet of exactly
/// `--max-packet` bytes, closes a session that sends one byte more, and exits 0 on SIGTERM.
#[cfg(unix)]
fn edges_body(model: Model) {
    let model = model.to_string();
    let mut server = gameserver(
        &[
            ["--model", &model, "--protocol", "packet", "--threads", "1"].as_slice(),
            &["--max-packet", "8", "--max-room-members", "1"],
            &["--send-queue-pause", "1", "--send-queue-limit", "65537"],
            &["--mailbox-limit", "65536", "--rate-burst", "1"],
            &["--max-sessions", "1", "--max-sessions-per-ip", "1"],
            &["--shutdown-drain", "3600", "--partial-timeout", "3600"],
            &["--idle-timeout", "86400", "--stats-interval", "86400"],
            &["--flush-interval-ms", "1000"],
        ]
        .concat(),
        Stdio::piped(),
    );
    let lines = log_lines(&mut server);
    let ready = next_line_with(&lines, " ready ");
    let ready = ready.unwrap_or_else(|| panic!("no `ready` line: {:?}", exit_status(&mut server)));
    let addr: SocketAddr = field(&ready, "addr").parse().expect("addr=IP:PORT");

    let mut client = connect(addr);
    join(&mut client, 7); // ENTER_ROOM: 8 bytes, the whole --max-packet
    send_packet(&mut client, protocol::ECHO, b"four");
    let echo = read_packet(&mut client).expect("the echo of an 8-byte packet");
    assert_eq!(echo, (protocol::ECHO, b"four".to_vec()));
    send_packet(&mut client, protocol::ECHO, b"five!");
    assert!(closed_by_server(&mut client), "a 9-byte packet was served");

    let pid = libc::pid_t::try_from(server.id()).expect("pid fits pid_t");
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own child, not reaped
    // yet (it is reaped only through `server`).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = exit_status(&mut server).expect("exits on SIGTERM");
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(next_line_with(&lines, " stopped").is_some());
}

/// The child's stdout, line by line, read on a thread (and echoed, shown if the test fails).
#[cfg(unix)]
fn log_lines(child: &mut Child) -> mpsc::Receiver<String> {
    testkit::read_lines(child.stdout.take().expect("piped stdout"), "gameserver: ")
}

/// The next of `lines` containing `needle` (others are skipped), within [`STEP`]; `None` if
/// none came in time or the process closed its stdout first.
#[cfg(unix)]
fn next_line_with(lines: &mpsc::Receiver<String>, needle: &str) -> Option<String> {
    let deadline = Instant::now() + STEP;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return Some(line),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

/// The value of ` key=value` in a log line, up to the next space.
#[cfg(unix)]
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let (_, rest) = line
        .split_once(&format!(" {key}="))
        .unwrap_or_else(|| panic!("no {key}= in {line}"));
    rest.split_whitespace().next().unwrap_or_default()
}

#[test]
fn packet_mode_flags_in_raw_mode_are_usage_errors() {
    assert_refused(
        &["--websocket", "127.0.0.1:0"],
        &["--websocket", "--protocol packet"],
    );
    assert_refused(
        &["--cluster", "redis://127.0.0.1:6379"],
        &["--cluster", "--protocol packet"],
    );
    assert_refused(
        &["--auth-secret", "auth.secret"],
        &["--auth-secret", "--protocol packet"],
    );
}

#[test]
fn auth_secrets_must_be_readable_and_long_enough() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let short = dir.join("flags-short-auth.secret");
    std::fs::write(&short, "sixteen bytes...\n").unwrap();
    let short = short.to_str().unwrap();
    let stderr = assert_refused(
        &["--protocol", "packet", "--auth-secret", short],
        &["--auth-secret", "16 bytes", "at least 32"],
    );
    assert!(stderr.contains("urandom"), "says how to make one: {stderr}");
    let missing = dir.join("flags-no-such.secret");
    let missing = missing.to_str().unwrap();
    assert_refused(
        &["--protocol", "packet", "--auth-secret", missing],
        &["--auth-secret", "flags-no-such.secret"],
    );
    assert_refused(
        &["--protocol", "packet", "--second-login", "maybe"],
        &["--second-login", "replace", "refuse"],
    );
    assert_refused(
        &["--protocol", "packet", "--player-logins-per-minute", "0"],
        &["--player-logins-per-minute"],
    );
    let secret = dir.join("flags-resume.secret");
    std::fs::write(&secret, "a long enough secret for the flags test\n").unwrap();
    let secret = secret.to_str().unwrap();
    assert_refused(
        &[
            "--protocol",
            "packet",
            "--auth-secret",
            secret,
            "--resume-buffer",
            "100",
        ],
        &["--resume-buffer", "4096"],
    );
    // A resume replays the buffer at once: it must fit the send queue.
    let too_big = [
        "--protocol",
        "packet",
        "--auth-secret",
        secret,
        "--resume-buffer",
        "1048576",
        "--send-queue-limit",
        "1048576",
        "--send-queue-pause",
        "65536",
    ];
    assert_refused(
        &too_big,
        &["--resume-buffer 1048576", "--send-queue-limit 1048576"],
    );
}

#[test]
fn cluster_flags_say_what_they_want() {
    let stderr = assert_refused(
        &["--protocol", "packet", "--cluster", "http://127.0.0.1:6379"],
        &["--cluster", "redis://host:port"],
    );
    assert!(!stderr.contains("InvalidClientConfig"), "{stderr}");
    for (flag, bad, range) in [
        ("--cluster-queue", "0", "1..=1048576"),
        ("--cluster-ttl-ms", "100", "300..=3600000"),
    ] {
        let stderr = assert_refused(&["--protocol", "packet", flag, bad], &[flag, range]);
        assert!(!stderr.contains("18446744073709551615"), "{stderr}");
    }
}
