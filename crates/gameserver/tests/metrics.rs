//! The real `gameserver` binary, operated: `--metrics` scraped over plain HTTP while echo
//! clients run, `--stats-interval` lines, SIGTERM ending it with exit status 0, and a second
//! signal cutting a stuck drain short.
//!
//! Unix-only: every test ends its server with a signal, and Windows cannot send its console
//! control events to one child process alone.

#![cfg(unix)]

mod util;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use servercore::Model;
use testkit::{connect, one_model, pattern, read_n, wait_until};
use util::process::{sample, Gameserver, STEP};

one_model!(scrape_then_sigterm, scrape_then_sigterm_body);

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

one_model!(
    http_requests_to_the_websocket_port_balance_the_counters,
    counters_balance_body
);

/// Plain HTTP requests to the WebSocket port (the chat page, a page that does not exist, a
/// request cut short) are sessions that never reach the game: each is counted accepted and
/// closed once, so `accepted == live + Σ closed` (it used to read accepted 0, closed 3).
fn counters_balance_body(model: Model) {
    let args = ["--protocol", "packet", "--websocket", "127.0.0.1:0"];
    let server = Gameserver::start(model, &args);
    let ws = server.websocket.expect("the websocket address in the log");
    let requests: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    for request in requests {
        let mut stream = connect(ws);
        stream.write_all(request).expect("send the request");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    }
    let mut body = String::new();
    let closed_total = |body: &str| -> u64 {
        body.lines()
            .filter(|l| l.starts_with("gameserver_sessions_closed_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let settled = wait_until(STEP, || {
        body = server.scrape();
        sample(&body, "gameserver_sessions_live") == Some(0) && closed_total(&body) == 4
    });
    assert!(settled, "the four sessions did not all close:\n{body}");
    assert_eq!(
        sample(&body, "gameserver_sessions_accepted_total"),
        Some(4),
        "{body}"
    );
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
