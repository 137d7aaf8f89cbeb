//! Connect tokens on the real `gameserver` binary (`--auth-secret`): a good token signs the
//! player in (minted by the `mint-token` command, as a developer would); bad, expired,
//! foreign, missing or late ones are refused with UNAUTHENTICATED and their own close reason,
//! counted; the token's rooms hold; a second login replaces or is refused; the per-player
//! login limit holds whatever the source. Without `--auth-secret` nothing changes (every other
//! test of this crate).

mod util;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use game_protocol::arena::Join;
use game_protocol::login::parse_hello_ok;
use game_protocol::token::{mint, unix_now, Claims, LEEWAY_SECS};
use gameserver::chat_service::bind_chat;
use gameserver::login::{Gate, Login, SecondLogin};
use gameserver::protocol;
use servercore::packet::{Packets, DEFAULT_MAX_PACKET};
use servercore::Model;
use servercore::ServiceConfig;
use testkit::{connect, loopback, one_model};
use util::process::{Gameserver, STEP};
use util::{closed_by_server, read_packet, send_packet};

const SECRET: &[u8] = b"the test players' token secret, 32+ bytes";

/// The secret in a file of its own (one per test: tests run in parallel).
fn secret_file(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("auth-{name}.secret"));
    std::fs::write(&path, [SECRET, b"\n"].concat()).expect("write the secret");
    path
}

/// A packet-mode server checking tokens with [`SECRET`], and `extra` flags.
fn server(model: Model, name: &str, extra: &[&str]) -> Gameserver {
    let secret = secret_file(name);
    let mut flags = vec![
        "--protocol",
        "packet",
        "--auth-secret",
        secret.to_str().expect("a UTF-8 path"),
    ];
    flags.extend_from_slice(extra);
    Gameserver::start(model, &flags)
}

/// A token for `player` from the `mint-token` command.
fn minted(name: &str, player: &str, rooms: Option<&str>) -> String {
    let secret = secret_file(name);
    let mut command = Command::new(env!("CARGO_BIN_EXE_mint-token"));
    command
        .arg("--auth-secret")
        .arg(&secret)
        .args(["--player", player]);
    if let Some(rooms) = rooms {
        command.args(["--rooms", rooms]);
    }
    let out = command
        .stderr(Stdio::inherit())
        .output()
        .expect("run mint-token");
    assert!(out.status.success(), "{:?}", out.status);
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned()
}

/// A token signed here with the library.
fn token(player: &str) -> String {
    mint(SECRET, &Claims::valid_for(player, 600)).expect("a long secret")
}

fn client(server: &Gameserver) -> TcpStream {
    let stream = connect(server.addr);
    stream.set_read_timeout(Some(STEP)).expect("timeout");
    stream
}

/// Sends HELLO with `token` and returns the answer.
fn hello(stream: &mut TcpStream, token: &str) -> (u16, Vec<u8>) {
    send_packet(stream, protocol::HELLO, token.as_bytes());
    read_packet(stream).expect("an answer to HELLO")
}

/// Signs `player` in and checks HELLO_OK names it.
fn sign_in(server: &Gameserver, token: &str, player: &str) -> TcpStream {
    let mut stream = client(server);
    let (id, body) = hello(&mut stream, token);
    assert_eq!(id, protocol::HELLO_OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(parse_hello_ok(&body), Some(player));
    stream
}

/// Reads the UNAUTHENTICATED that must come next, then the server's close; returns the
/// reason.
fn refused(stream: &mut TcpStream) -> String {
    let (id, body) = read_packet(stream).expect("UNAUTHENTICATED");
    let reason = String::from_utf8(body).expect("UTF-8 reason");
    assert_eq!(id, protocol::UNAUTHENTICATED, "{reason}");
    assert!(closed_by_server(stream), "closed after UNAUTHENTICATED");
    reason
}

fn enter(stream: &mut TcpStream, room: u32) -> (u16, Vec<u8>) {
    send_packet(stream, protocol::ENTER_ROOM, &protocol::room(room));
    read_packet(stream).expect("an answer to ENTER_ROOM")
}

/// Chats `text` and reads it back (the sender hears its own chat).
fn chat_back(stream: &mut TcpStream, text: &[u8]) {
    send_packet(stream, protocol::CHAT, text);
    let (id, body) = read_packet(stream).expect("CHAT_BROADCAST");
    assert_eq!((id, body.as_slice()), (protocol::CHAT_BROADCAST, text));
}

fn logins(server: &Gameserver, result: &str) -> u64 {
    server.scrape_value(&format!("gameserver_logins_total{{result=\"{result}\"}}"))
}

one_model!(a_minted_token_signs_in_and_plays, signs_in_body);
one_model!(bad_tokens_are_refused_with_a_reason, bad_tokens_body);
one_model!(nothing_but_hello_comes_first, hello_first_body);
one_model!(
    a_session_without_hello_is_closed_at_the_deadline,
    deadline_body
);
one_model!(the_tokens_rooms_hold, rooms_body);
one_model!(a_second_login_replaces_the_first, replace_body);
one_model!(a_second_login_can_be_refused, refuse_body);
one_model!(logins_per_player_are_limited, login_rate_body);
one_model!(the_tokens_rooms_hold_in_the_arena, arena_rooms_body);
one_model!(
    login_deadlines_stay_within_the_live_sessions,
    deadlines_bound_body
);

fn signs_in_body(model: Model) {
    let server = server(model, "signs-in", &[]);
    let mut alice = sign_in(&server, &minted("signs-in", "alice", None), "alice");
    let (id, body) = enter(&mut alice, 3);
    assert_eq!(id, protocol::ROOM_JOINED);
    assert_eq!(protocol::parse_room(&body[..4]), Some(3));
    chat_back(&mut alice, b"hello");
    assert_eq!(logins(&server, "ok"), 1);
    assert_eq!(server.scrape_value("gameserver_players_online"), 1);
    drop(alice);
    let signed_out = testkit::wait_until(STEP, || {
        server.scrape_value("gameserver_players_online") == 0
    });
    assert!(signed_out, "the player is signed out when its session ends");
}

fn bad_tokens_body(model: Model) {
    let server = server(model, "bad", &[]);
    let foreign = mint(
        b"another studio's secret, also 32+ bytes",
        &Claims::valid_for("eve", 600),
    )
    .unwrap();
    let expired = mint(SECRET, &Claims::new("bob", unix_now() - LEEWAY_SECS - 60)).unwrap();
    // alg "none" (unsigned): {"alg":"none","typ":"JWT"}.{"sub":"bob","exp":4000000000}.
    let unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJib2IiLCJleHAiOjQwMDAwMDAwMDB9.";
    let long_player = mint(SECRET, &Claims::valid_for("x".repeat(65), 600)).unwrap();
    let cases: [(&[u8], &str, &str); 6] = [
        (foreign.as_bytes(), "bad_signature", "signature"),
        (expired.as_bytes(), "expired", "expired"),
        (unsigned.as_bytes(), "malformed", "malformed"),
        (b"\xff\xfe not UTF-8", "malformed", "malformed"),
        (&[b'a'; 4000], "malformed", "malformed"),
        (long_player.as_bytes(), "bad_player", "player id"),
    ];
    for (token, result, says) in cases {
        let mut stream = client(&server);
        send_packet(&mut stream, protocol::HELLO, token);
        let reason = refused(&mut stream);
        assert!(reason.contains(says), "{result}: {reason}");
    }
    for result in ["bad_signature", "expired", "bad_player"] {
        assert_eq!(logins(&server, result), 1, "{result}");
    }
    assert_eq!(logins(&server, "malformed"), 3);
    assert_eq!(logins(&server, "ok"), 0);
    let closed = "gameserver_sessions_closed_total{reason=\"unauthenticated\"}";
    assert!(testkit::wait_until(STEP, || server.scrape_value(closed) == 6));
    // The server is unharmed: a good token still signs in.
    sign_in(&server, &token("carol"), "carol");
}

fn hello_first_body(model: Model) {
    let server = server(model, "first", &[]);
    // A member in room 5 sees nobody else join it.
    let mut member = sign_in(&server, &token("member"), "member");
    assert_eq!(enter(&mut member, 5).0, protocol::ROOM_JOINED);
    let mut stranger = client(&server);
    send_packet(&mut stranger, protocol::ENTER_ROOM, &protocol::room(5));
    send_packet(&mut stranger, protocol::CHAT, b"let me in");
    let reason = refused(&mut stranger);
    assert!(reason.contains("first packet"), "{reason}");
    assert_eq!(logins(&server, "not_hello_first"), 1);
    // The member heard nothing of it; its own chat is the next thing it reads.
    chat_back(&mut member, b"still alone");
    // HELLO twice is a protocol error of a signed-in player.
    send_packet(&mut member, protocol::HELLO, token("member").as_bytes());
    assert!(closed_by_server(&mut member));
}

fn deadline_body(model: Model) {
    let server = server(model, "deadline", &["--partial-timeout", "1"]);
    let mut silent = client(&server);
    let reason = refused(&mut silent);
    assert!(reason.contains("no HELLO within"), "{reason}");
    assert_eq!(logins(&server, "no_hello"), 1);
    // A session that signed in is not closed by the login deadline (it reads its chat back
    // after the deadline of a session that connected later has passed).
    let mut player = sign_in(&server, &token("p"), "p");
    let mut late = client(&server);
    refused(&mut late);
    assert_eq!(enter(&mut player, 1).0, protocol::ROOM_JOINED);
    chat_back(&mut player, b"still here");
}

fn rooms_body(model: Model) {
    let server = server(model, "rooms", &[]);
    let token = minted("rooms", "dora", Some("1,7"));
    let mut dora = sign_in(&server, &token, "dora");
    let (id, body) = enter(&mut dora, 2);
    assert_eq!(id, protocol::ROOM_FORBIDDEN);
    assert_eq!(protocol::parse_room(&body), Some(2));
    let (id, _) = enter(&mut dora, 7);
    assert_eq!(id, protocol::ROOM_JOINED);
    // Still in room 7 after another forbidden ENTER_ROOM.
    assert_eq!(enter(&mut dora, 3).0, protocol::ROOM_FORBIDDEN);
    chat_back(&mut dora, b"in seven");
}

fn replace_body(model: Model) {
    let server = server(model, "replace", &[]);
    let mut first = sign_in(&server, &token("sam"), "sam");
    assert_eq!(enter(&mut first, 4).0, protocol::ROOM_JOINED);
    let mut second = sign_in(&server, &token("sam"), "sam");
    let (id, _) = read_packet(&mut first).expect("SESSION_REPLACED");
    assert_eq!(id, protocol::SESSION_REPLACED);
    assert!(closed_by_server(&mut first));
    assert_eq!(enter(&mut second, 4).0, protocol::ROOM_JOINED);
    chat_back(&mut second, b"the new one");
    assert_eq!((logins(&server, "ok"), logins(&server, "replaced")), (2, 1));
    // The old session's end (once the client closes its side too) does not sign out the new
    // one.
    drop(first);
    let local = "gameserver_sessions_closed_total{reason=\"local\"}";
    assert!(testkit::wait_until(STEP, || server.scrape_value(local) == 1));
    assert_eq!(server.scrape_value("gameserver_players_online"), 1);
    chat_back(&mut second, b"still signed in");
}

fn refuse_body(model: Model) {
    let server = server(model, "refuse", &["--second-login", "refuse"]);
    let mut first = sign_in(&server, &token("ray"), "ray");
    let mut second = client(&server);
    let (id, body) = hello(&mut second, &token("ray"));
    assert_eq!(id, protocol::UNAUTHENTICATED);
    assert!(String::from_utf8_lossy(&body).contains("already signed in"));
    assert!(closed_by_server(&mut second));
    assert_eq!(logins(&server, "signed_in"), 1);
    assert_eq!(enter(&mut first, 1).0, protocol::ROOM_JOINED);
    chat_back(&mut first, b"the first plays on");
}

fn login_rate_body(model: Model) {
    let server = server(model, "rate", &["--player-logins-per-minute", "2"]);
    let _first = sign_in(&server, &token("quick"), "quick");
    let _second = sign_in(&server, &token("quick"), "quick");
    let mut third = client(&server);
    let (id, body) = hello(&mut third, &token("quick"));
    assert_eq!(id, protocol::UNAUTHENTICATED);
    assert!(String::from_utf8_lossy(&body).contains("too many logins"));
    assert_eq!(logins(&server, "too_many_logins"), 1);
    // Another player is not limited by it.
    sign_in(&server, &token("other"), "other");
}

fn arena_rooms_body(model: Model) {
    let server = server(model, "arena", &["--game", "arena"]);
    let token = minted("arena", "erin", Some("3"));
    let mut erin = sign_in(&server, &token, "erin");
    let join = |room| Join { room, name: "erin" }.encode();
    send_packet(&mut erin, protocol::ARENA_JOIN, &join(4));
    let (id, body) = read_packet(&mut erin).expect("an answer to ARENA_JOIN");
    assert_eq!(
        (id, protocol::parse_room(&body)),
        (protocol::ROOM_FORBIDDEN, Some(4))
    );
    send_packet(&mut erin, protocol::ARENA_JOIN, &join(3));
    let (id, _) = read_packet(&mut erin).expect("an answer to ARENA_JOIN");
    assert_eq!(id, protocol::ARENA_WELCOME);
}

/// With an hour to sign in, sessions that signed in (or left) long before their deadline are
/// not kept until it: the gate's queue of deadlines stays within twice the live sessions (at
/// least 128), here after 400 sessions came, signed in and left, one at a time.
fn deadlines_bound_body(model: Model) {
    let login = Login::new(
        SECRET,
        Duration::from_secs(3600),
        SecondLogin::Replace,
        1000,
    );
    let login = Some(Arc::new(login.expect("a long secret")));
    let config = ServiceConfig {
        threads: 1,
        model,
        ..ServiceConfig::default()
    };
    let (service, _rooms) = bind_chat(loopback(), config, 10, None, |game| {
        Packets::new(Gate::new(game, login.clone()), DEFAULT_MAX_PACKET)
    })
    .expect("the chat server starts");
    let addr = service.local_addr().expect("bound");
    for n in 0..400 {
        let mut stream = connect(addr);
        stream.set_read_timeout(Some(STEP)).unwrap();
        let player = format!("p{n}");
        let (id, _) = hello(&mut stream, &token(&player));
        assert_eq!(id, protocol::HELLO_OK, "{player}");
        drop(stream);
        // Gone before the next comes: the loop never has more than one session.
        let gone = testkit::wait_until(STEP, || service.live_sessions() == 0);
        assert!(gone, "session {n} ended");
    }
    let gate = service
        .stop()
        .pop()
        .expect("one loop")
        .expect("the loop ran")
        .into_inner();
    assert!(gate.waiting() <= 128, "{} deadlines kept", gate.waiting());
}
