//! `--resume --chaos` against gameserver's chat with held seats (its `Login` with resume
//! rules, two loops, in process): the client drops its own connections 20 times a second
//! while chatting, each dropped client resumes its seat, and every chat still arrives exactly
//! once, in per-sender order. Also: the flags `--resume` needs are asked for.

mod util;

use std::path::PathBuf;
use std::time::Duration;

use gameserver::game::Game;
use gameserver::login::{Gate, ResumeRules, DEFAULT_RESUME_BUFFER};
use servercore::packet::Packets;
use servercore::Service;
use util::{count, gated_chat, json_report, run_dummyclient, stderr};

const SECRET: &[u8] = b"the resume test's token secret, 32+ bytes";

fn secret_file(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.secret"));
    std::fs::write(&path, SECRET).expect("write the secret");
    path
}

/// gameserver's chat on two loops behind a login with seats (`--resume-window 30`).
fn seated_server() -> Service<Packets<Gate<Game>>> {
    let rules = ResumeRules {
        window_s: 30,
        buffer: DEFAULT_RESUME_BUFFER,
    };
    gated_chat(SECRET, 2, Some(rules)).0
}

#[test]
fn chats_survive_chaos_exactly_once_across_resumes() {
    let secret = secret_file("resume-chaos");
    let secret = secret.to_str().unwrap();
    let server = seated_server();
    let addr = server.local_addr().expect("bound").to_string();
    let args = [
        "--addr",
        &addr,
        "--protocol",
        "packet",
        "--scenario",
        "chat",
        "--clients",
        "12",
        "--rooms",
        "3",
        "--chat-rate",
        "20",
        "--duration",
        "3",
        "--threads",
        "2",
        "--auth-secret",
        secret,
        "--resume",
        "--chaos",
        "20",
        "--json",
    ];
    let output = run_dummyclient(&args, Duration::from_secs(90));
    let report = json_report(&output);
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{report}\n{stderr}");
    for error in [
        "lost",
        "duplicates",
        "out_of_order",
        "corrupt",
        "disconnects",
    ] {
        assert_eq!(count(&report, error), 0, "{error}: {report}");
    }
    assert_eq!(
        count(&report, "deliveries"),
        count(&report, "sent") * 4,
        "every chat to each of its room's 4 members: {report}"
    );
    let resume = &report["resume"];
    let drops = count(resume, "drops");
    assert!(drops >= 20, "about 60 drops in 3 s: {resume}");
    assert_eq!(
        count(resume, "resumes") + count(resume, "handshake_drops"),
        drops + count(resume, "server_drops"),
        "every drop resumed (one cut in its resume, by the resume after it): {resume}"
    );
    assert_eq!(count(resume, "seats_lost"), 0, "{resume}");
    assert_eq!(count(resume, "violations"), 0, "{resume}");
    assert!(count(resume, "latency_p99_us") > 0, "{resume}");
}

#[test]
fn resume_needs_a_signed_in_packet_client() {
    let secret = secret_file("resume-flags");
    let secret = secret.to_str().unwrap();
    let base = ["--addr", "127.0.0.1:1", "--clients", "1", "--duration", "1"];
    for (extra, want) in [
        (vec!["--protocol", "packet", "--resume"], "--auth-secret"),
        (vec!["--protocol", "packet", "--chaos", "5"], "--resume"),
        (
            vec![
                "--protocol",
                "packet",
                "--websocket",
                "--auth-secret",
                secret,
                "--resume",
            ],
            "plain TCP",
        ),
        (
            vec![
                "--protocol",
                "packet",
                "--scenario",
                "arena",
                "--auth-secret",
                secret,
                "--resume",
            ],
            "not arena",
        ),
    ] {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let output = run_dummyclient(&args, Duration::from_secs(20));
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {want:?} in {stderr}");
    }
}
