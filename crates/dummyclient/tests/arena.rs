//! `--scenario arena` against gameserver's arena built in process (over TCP and over
//! WebSocket): bots move, turn, ask for more than the speed limit now and then, and every
//! snapshot passes every check; and against a server that lies, the checks catch it and the
//! run fails (exit status 2) naming what was wrong.

mod util;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use game_protocol::arena::{EntityState, Own, Rules, SnapshotEncoder, SnapshotHeader, Welcome};
use game_protocol::ids;
use gameserver::arena::{arena_rooms, Arena, ArenaConfig, ArenaStats};
use servercore::packet::{encode, Packets};
use servercore::websocket::WsConfig;
use servercore::{Service, ServiceConfig};
use util::{count, json_report, run_dummyclient};

const RUN: Duration = Duration::from_secs(60);

fn rules() -> Rules {
    Rules {
        tick_hz: 20,
        size: 300,
        view_radius: 60,
        max_speed: 120,
        tag_radius: 24,
        max_in_view: 256,
    }
}

/// The arena server (2 loops) and its counters.
fn arena_server() -> (Service<Packets<Arena>>, Arc<ArenaStats>) {
    let stats = Arc::new(ArenaStats::default());
    let config = ArenaConfig {
        rules: rules(),
        capacity: 1000,
    };
    let hub = arena_rooms(2, config, stats.clone(), None);
    let service_config = ServiceConfig {
        threads: 2,
        ..Default::default()
    };
    let service = hub
        .serve(
            "127.0.0.1:0".parse().unwrap(),
            service_config,
            |_, rooms| Packets::new(Arena::new(rooms), 4096),
        )
        .expect("the arena server starts");
    (service, stats)
}

fn arena_args<'a>(addr: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--addr",
        addr,
        "--protocol",
        "packet",
        "--scenario",
        "arena",
        "--clients",
        "120",
        "--duration",
        "1.5",
        "--turn-ms",
        "200",
        "--threads",
        "2",
        "--json",
    ];
    args.extend_from_slice(extra);
    args
}

fn assert_clean(report: &serde_json::Value) {
    assert_eq!(count(report, "errors"), 0, "{report}");
    assert!(count(report, "snapshots") > 120 * 20, "{report}");
    assert!(count(report, "inputs") > 120, "{report}");
    assert!(report["in_view_avg"].as_f64().unwrap() > 1.0, "{report}");
    assert!(report["p99_us"].as_u64().unwrap() > 0, "{report}");
}

#[test]
fn bots_play_and_every_snapshot_checks_out() {
    let (server, stats) = arena_server();
    let addr = server.local_addr().unwrap().to_string();
    let output = run_dummyclient(&arena_args(&addr, &[]), RUN);
    assert!(output.status.success(), "{}", util::stderr(&output));
    assert_clean(&json_report(&output));
    assert!(
        stats.clamped_speed.load(Ordering::Relaxed) > 0,
        "the bots' over-the-limit speeds were clamped and counted"
    );
}

#[test]
fn bots_play_over_websocket() {
    let (server, _) = arena_server();
    let ws = server
        .listen_websocket("127.0.0.1:0".parse().unwrap(), WsConfig::new(4096))
        .unwrap()
        .to_string();
    let output = run_dummyclient(&arena_args(&ws, &["--websocket"]), RUN);
    assert!(output.status.success(), "{}", util::stderr(&output));
    let report = json_report(&output);
    assert_eq!(report["protocol"], "websocket");
    assert_clean(&report);
}

/// A fake arena that welcomes each bot, then sends a player far outside the view radius and
/// a delta against a tick the bot never had.
fn lying_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (you, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let welcome = Welcome {
                    room: 1,
                    you: you as u16,
                    rules: rules(),
                };
                let _ = stream.write_all(&encode(ids::ARENA_WELCOME, &welcome.encode()).unwrap());
                let mut enc = SnapshotEncoder::default();
                let own = Own {
                    x: 100,
                    y: 100,
                    flags: 0,
                    score: 0,
                };
                for (tick, base) in (1..).map(|t| (t, t - 1)).take(200) {
                    let base = if tick == 5 { 3 } else { base }; // a delta against tick 3
                    let mut out = BytesMut::new();
                    let header = SnapshotHeader {
                        tick,
                        base_tick: base,
                        sent_at_us: 0,
                        input_ack: 0,
                        you: own,
                    };
                    enc.begin(&mut out, &header);
                    if tick == 1 {
                        enc.entered(
                            999,
                            &EntityState {
                                x: 2000,
                                y: 2000,
                                flags: 0,
                            },
                        ); // far away
                    }
                    enc.finish(&mut out);
                    if stream.write_all(&out).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
        }
    });
    addr
}

#[test]
fn a_lying_server_is_caught() {
    let addr = lying_server().to_string();
    let output = run_dummyclient(
        &[
            "--addr",
            &addr,
            "--protocol",
            "packet",
            "--scenario",
            "arena",
            "--clients",
            "3",
            "--duration",
            "1",
            "--threads",
            "1",
            "--json",
        ],
        RUN,
    );
    assert_eq!(output.status.code(), Some(2), "{}", util::stderr(&output));
    let report = json_report(&output);
    for violation in ["outside_view", "unknown_base"] {
        assert!(
            count(&report["violations"], violation) >= 3,
            "{violation}: {report}"
        );
    }
}
