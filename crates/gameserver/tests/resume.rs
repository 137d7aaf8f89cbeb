//! Held seats and RESUME on the real `gameserver` binary (docs/protocol.md "Resume"): a player
//! whose connection drops keeps its room; a new connection takes the seat back with the
//! ticket and gets what it missed, in order, exactly once, then live traffic; tickets are
//! single-use; the window, the buffer and bad RESUMEs end or refuse with SEAT_LOST, counted.

mod util;

use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;

use game_protocol::login::hello_ok;
use game_protocol::resume::{self, counts_to_client, Position, Resume, Seat, Ticket};
use game_protocol::token::{mint, Claims};
use gameserver::protocol;
use servercore::packet::HEADER_LEN;
use servercore::Model;
use testkit::{connect, one_model};
use util::cluster::wait_metric;
use util::process::{Gameserver, STEP};
use util::{closed_by_server, join, read_packet, send_packet};

const SECRET: &[u8] = b"the resume tests' token secret, 32+ bytes";

fn server(model: Model, name: &str, extra: &[&str]) -> Gameserver {
    server_named(model, name, extra)
}

/// A packet-mode server checking tokens with [`SECRET`] (in a file named after `name`).
fn server_named(model: Model, name: &str, extra: &[&str]) -> Gameserver {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("resume-{name}.secret"));
    std::fs::write(&path, SECRET).expect("write the secret");
    let mut flags = vec![
        "--protocol",
        "packet",
        "--auth-secret",
        path.to_str().unwrap(),
    ];
    flags.extend_from_slice(extra);
    Gameserver::start(model, &flags)
}

fn client(server: &Gameserver) -> TcpStream {
    let stream = connect(server.addr);
    stream.set_read_timeout(Some(STEP)).expect("timeout");
    stream
}

/// A test player: its connection, and what it counted of the server's numbered stream.
struct Player {
    name: String,
    stream: TcpStream,
    ticket: Ticket,
    received: Position,
}

impl Player {
    /// Signs `name` in and asks for a seat (pipelined, as a client would).
    fn seated(server: &Gameserver, name: &str) -> Player {
        let mut stream = client(server);
        let token = mint(SECRET, &Claims::valid_for(name, 600)).unwrap();
        send_packet(&mut stream, protocol::HELLO, token.as_bytes());
        send_packet(&mut stream, protocol::SEAT_ASK, &[]);
        let (id, _) = read_packet(&mut stream).expect("HELLO_OK");
        assert_eq!(id, protocol::HELLO_OK);
        let (id, body) = read_packet(&mut stream).expect("SEAT");
        assert_eq!(id, protocol::SEAT);
        let seat = Seat::parse(&body).expect("a SEAT body");
        assert!(seat.window_s >= 1 && seat.buffer >= 4096);
        Player {
            name: name.into(),
            stream,
            ticket: seat.ticket,
            received: Position::default(),
        }
    }

    /// The next packet, counted if numbered.
    fn next(&mut self) -> (u16, Vec<u8>) {
        let (id, body) = read_packet(&mut self.stream).expect("a packet");
        if counts_to_client(id) {
            self.received = self.received.after(HEADER_LEN + body.len());
        }
        (id, body)
    }

    /// The next packet that is not the server's ACK or news of another player.
    fn next_game(&mut self) -> (u16, Vec<u8>) {
        loop {
            let packet = self.next();
            if !matches!(
                packet.0,
                protocol::ACK | protocol::PLAYER_AWAY | protocol::PLAYER_BACK
            ) {
                return packet;
            }
        }
    }

    fn join(&mut self, room: u32) {
        send_packet(
            &mut self.stream,
            protocol::ENTER_ROOM,
            &protocol::room(room),
        );
        assert_eq!(self.next_game().0, protocol::ROOM_JOINED);
    }

    /// Its connection drops (the client's side ends it: the server sees an EOF).
    fn drop_connection(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// RESUME on a new connection with `ticket`; the answer's id and body.
    fn resume_with(&mut self, server: &Gameserver, ticket: Ticket) -> (u16, Vec<u8>) {
        self.stream = client(server);
        let body = Resume {
            player: self.name.clone(),
            ticket,
            received: self.received,
        };
        send_packet(&mut self.stream, protocol::RESUME, &body.encode().unwrap());
        read_packet(&mut self.stream).expect("an answer to RESUME")
    }

    /// Once `gameserver_seats_lost_total{reason}` counts its seat, a RESUME is refused with
    /// SEAT_LOST naming `says`.
    fn lost_for(&mut self, server: &Gameserver, reason: &str, says: &str) {
        let series = format!("gameserver_seats_lost_total{{reason=\"{reason}\"}}");
        wait_metric(server, &series, |n| n >= 1);
        let ticket = self.ticket;
        let (id, body) = self.resume_with(server, ticket);
        let text = String::from_utf8_lossy(&body);
        assert_eq!(id, protocol::SEAT_LOST, "{text}");
        assert!(text.contains(says), "{text}");
    }

    /// Resumes with its ticket; returns what the server had of its bytes.
    fn resume(&mut self, server: &Gameserver) -> Position {
        let (id, body) = self.resume_with(server, self.ticket);
        assert_eq!(id, protocol::RESUMED, "{}", String::from_utf8_lossy(&body));
        let (ticket, got) = resume::parse_resumed(&body).expect("a RESUMED body");
        assert!(!ticket.matches(&self.ticket), "a new ticket each time");
        self.ticket = ticket;
        got
    }
}

fn chats(stream: &mut TcpStream, texts: &[&str]) {
    for text in texts {
        send_packet(stream, protocol::CHAT, text.as_bytes());
    }
}

/// The next `n` chats `player` hears, as text.
fn heard(player: &mut Player, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let (id, body) = player.next_game();
            assert_eq!(id, protocol::CHAT_BROADCAST);
            String::from_utf8(body).unwrap()
        })
        .collect()
}

/// A player who sits in room 1 and chats; returns its stream.
fn bystander(server: &Gameserver) -> TcpStream {
    let mut bob = client(server);
    let token = mint(SECRET, &Claims::valid_for("bob", 600)).unwrap();
    send_packet(&mut bob, protocol::HELLO, token.as_bytes());
    assert_eq!(read_packet(&mut bob).unwrap().0, protocol::HELLO_OK);
    join(&mut bob, 1);
    bob
}

fn a_dropped_player_resumes_with_nothing_lost_or_twice(model: Model) {
    let server = server(model, "drop", &[]);
    let mut alice = Player::seated(&server, "alice");
    alice.join(1);
    let mut bob = bystander(&server);
    chats(&mut alice.stream, &["a1"]);
    assert_eq!(heard(&mut alice, 1), ["a1"]);

    alice.drop_connection();
    wait_metric(&server, "gameserver_seats_held", |n| n == 1);
    let away = read_packet(&mut bob).expect("PLAYER_AWAY"); // a1 came before the drop
    let away = if away.0 == protocol::CHAT_BROADCAST {
        read_packet(&mut bob).unwrap()
    } else {
        away
    };
    assert_eq!(
        away,
        (protocol::PLAYER_AWAY, hello_ok("alice").unwrap()),
        "bob is told"
    );
    chats(&mut bob, &["b1", "b2", "b3"]); // to alice's held seat
    let got = alice.resume(&server);
    // After SEAT_ASK alice sent ENTER_ROOM (4 + 4 bytes) and CHAT "a1" (4 + 2).
    assert_eq!(got, Position(14), "the server had every byte alice sent");
    assert_eq!(
        heard(&mut alice, 3),
        ["b1", "b2", "b3"],
        "the missed chats, once, in order"
    );
    // Bob hears his own three chats, in order, and (whenever alice's RESUME got in) that
    // alice is back.
    let mut bobs: Vec<(u16, Vec<u8>)> = (0..4).map(|_| read_packet(&mut bob).unwrap()).collect();
    let back = (protocol::PLAYER_BACK, hello_ok("alice").unwrap());
    let at = bobs
        .iter()
        .position(|p| *p == back)
        .expect("PLAYER_BACK alice");
    bobs.remove(at);
    let own: Vec<&[u8]> = bobs.iter().map(|(_, body)| body.as_slice()).collect();
    assert_eq!(own, [b"b1", b"b2", b"b3"]);
    chats(&mut bob, &["b4"]);
    assert_eq!(heard(&mut alice, 1), ["b4"], "then live traffic");
    chats(&mut alice.stream, &["a2"]);
    assert_eq!(heard(&mut alice, 1), ["a2"], "alice still sits in room 1");

    // Again: any number of resumes. A spent ticket is refused.
    let spent = Ticket(alice.ticket.0);
    alice.drop_connection();
    chats(&mut bob, &["b5"]);
    alice.resume(&server);
    assert_eq!(heard(&mut alice, 1), ["b5"]);
    // Alice uses the new connection (heard back: the server has it), which retires the
    // ticket spent for it.
    chats(&mut alice.stream, &["a3"]);
    assert_eq!(heard(&mut alice, 1), ["a3"]);
    let mut thief = Player {
        name: "alice".into(),
        stream: client(&server),
        ticket: spent,
        received: Position::default(),
    };
    let (id, body) = thief.resume_with(&server, spent);
    assert_eq!(
        id,
        protocol::SEAT_LOST,
        "a spent ticket: {}",
        String::from_utf8_lossy(&body)
    );
    assert!(closed_by_server(&mut thief.stream));
    chats(&mut bob, &["b6"]);
    assert_eq!(
        heard(&mut alice, 1),
        ["b6"],
        "the refused thief took nothing"
    );
    assert_eq!(
        server.scrape_value("gameserver_resumes_total{result=\"ok\"}"),
        2
    );
    assert_eq!(
        server.scrape_value("gameserver_resumes_total{result=\"bad_ticket\"}"),
        1
    );
}

fn a_resume_ends_a_connection_the_server_still_holds(model: Model) {
    let server = server(model, "still-open", &[]);
    let mut alice = Player::seated(&server, "alice");
    alice.join(1);
    let mut bob = bystander(&server);
    chats(&mut bob, &["b1"]);
    assert_eq!(heard(&mut alice, 1), ["b1"]);
    let mut old = alice.stream.try_clone().unwrap(); // not closed: the server thinks it lives
    alice.resume(&server);
    assert!(closed_by_server(&mut old), "the old connection is ended");
    chats(&mut bob, &["b2"]);
    assert_eq!(heard(&mut alice, 1), ["b2"]);
}

fn a_seat_past_its_window_or_buffer_is_lost_and_said(model: Model) {
    let server = server(
        model,
        "lost",
        &["--resume-window", "1", "--resume-buffer", "4096"],
    );
    // The window: resume after it is refused, saying why.
    let mut carol = Player::seated(&server, "carol");
    carol.drop_connection();
    carol.lost_for(&server, "expired", "expired");

    // The buffer: what the rooms send a held seat past --resume-buffer ends it (a window
    // far longer than any wait, so that is the only way it ends).
    let server = server_named(model, "lost-buffer", &["--resume-buffer", "4096"]);
    let mut alice = Player::seated(&server, "alice");
    alice.join(1);
    let mut bob = bystander(&server);
    alice.drop_connection();
    wait_metric(&server, "gameserver_seats_held", |n| n == 1);
    let text = "x".repeat(500);
    for _ in 0..10 {
        chats(&mut bob, &[&text]);
    }
    alice.lost_for(&server, "overflow", "overflow");

    // Forged tickets and bodies.
    let mut mallory = Player::seated(&server, "mallory");
    mallory.drop_connection();
    let (id, _) = mallory.resume_with(&server, Ticket([7; 16]));
    assert_eq!(id, protocol::SEAT_LOST);
    let mut stream = client(&server);
    send_packet(&mut stream, protocol::RESUME, b"\x05mallo");
    assert_eq!(read_packet(&mut stream).unwrap().0, protocol::SEAT_LOST);
    assert!(closed_by_server(&mut stream));
    assert_eq!(
        server.scrape_value("gameserver_resumes_total{result=\"malformed\"}"),
        1
    );
    let real = mallory.ticket;
    mallory.resume(&server);
    assert!(
        !real.matches(&mallory.ticket),
        "the forged try did not spend the real ticket"
    );
}

/// A seated player's packet the gate answers itself (ROOM_FORBIDDEN) still counts: the
/// server's count of the client's bytes matches the client's.
fn a_forbidden_room_still_counts(model: Model) {
    let server = server(model, "forbidden", &[]);
    let mut stream = client(&server);
    let mut claims = Claims::valid_for("dora", 600);
    claims.rooms = Some(vec![1]);
    let token = mint(SECRET, &claims).unwrap();
    send_packet(&mut stream, protocol::HELLO, token.as_bytes());
    send_packet(&mut stream, protocol::SEAT_ASK, &[]);
    assert_eq!(read_packet(&mut stream).unwrap().0, protocol::HELLO_OK);
    let (id, body) = read_packet(&mut stream).unwrap();
    assert_eq!(id, protocol::SEAT);
    let mut dora = Player {
        name: "dora".into(),
        stream,
        ticket: Seat::parse(&body).unwrap().ticket,
        received: Position::default(),
    };
    send_packet(&mut dora.stream, protocol::ENTER_ROOM, &protocol::room(2));
    assert_eq!(dora.next_game().0, protocol::ROOM_FORBIDDEN);
    dora.join(1);
    chats(&mut dora.stream, &["d1"]);
    assert_eq!(heard(&mut dora, 1), ["d1"]);
    dora.drop_connection();
    // ENTER_ROOM 2 (8 bytes), ENTER_ROOM 1 (8), CHAT "d1" (6).
    assert_eq!(dora.resume(&server), Position(22));
}

/// A RESUME whose own connection ends while it waits for the first connection's end does not
/// leave the seat without a window: it is held, and expires.
fn a_resume_that_dies_waiting_leaves_the_seat_held(model: Model) {
    let server = server(model, "dies-waiting", &["--resume-window", "1"]);
    const PLAYERS: u64 = 8; // the two ends race: one order or the other, each must hold
    let mut firsts = Vec::new();
    for n in 0..PLAYERS {
        let name = format!("erin{n}");
        let erin = Player::seated(&server, &name);
        let mut second = client(&server);
        let body = Resume {
            player: name,
            ticket: erin.ticket,
            received: erin.received,
        };
        send_packet(&mut second, protocol::RESUME, &body.encode().unwrap());
        second.shutdown(Shutdown::Both).unwrap(); // gone before (or as) it is answered
        firsts.push(erin.stream); // still open: the server holds it until the RESUME
    }
    wait_metric(
        &server,
        "gameserver_seats_lost_total{reason=\"expired\"}",
        |n| n == PLAYERS,
    );
    assert_eq!(server.scrape_value("gameserver_seats_held"), 0);
}

/// A connection that drops before RESUMED reaches its client leaves the client with the
/// spent ticket: it still resumes with it.
fn a_resume_cut_before_its_answer_can_be_tried_again(model: Model) {
    let server = server(model, "handshake", &[]);
    let mut fay = Player::seated(&server, "fay");
    fay.join(1);
    let mut bob = bystander(&server);
    fay.drop_connection();
    wait_metric(&server, "gameserver_seats_held", |n| n == 1);
    chats(&mut bob, &["b1"]);
    let ticket = fay.ticket;
    let (id, _) = fay.resume_with(&server, ticket);
    assert_eq!(id, protocol::RESUMED);
    fay.drop_connection(); // the client never saw that RESUMED (nor the ticket in it)
    wait_metric(&server, "gameserver_seats_held", |n| n == 1);
    let got = fay.resume(&server); // with the spent ticket
    assert_eq!(got, Position(8), "ENTER_ROOM");
    assert_eq!(heard(&mut fay, 1), ["b1"], "replayed once");
    // Used, the new ticket retires the old one for good.
    chats(&mut fay.stream, &["f1"]);
    assert_eq!(heard(&mut fay, 1), ["f1"]);
    let mut thief = client(&server);
    let body = Resume {
        player: "fay".into(),
        ticket,
        received: Position::default(),
    };
    send_packet(&mut thief, protocol::RESUME, &body.encode().unwrap());
    assert_eq!(read_packet(&mut thief).unwrap().0, protocol::SEAT_LOST);
}

/// A new login racing a RESUME (the first connection still open): whichever comes first, the
/// player ends with one live session — the resumed connection is told and closed.
fn a_new_login_racing_a_resume_leaves_one_session(model: Model) {
    let server = server(model, "relogin-race", &[]);
    for round in 0..10 {
        let name = format!("gus{round}");
        let gus = Player::seated(&server, &name);
        let _first = gus.stream.try_clone().unwrap();
        let mut resumed = client(&server);
        let body = Resume {
            player: name.clone(),
            ticket: gus.ticket,
            received: gus.received,
        };
        let token = mint(SECRET, &Claims::valid_for(&name, 600)).unwrap();
        let mut fresh = client(&server);
        send_packet(&mut resumed, protocol::RESUME, &body.encode().unwrap());
        send_packet(&mut fresh, protocol::HELLO, token.as_bytes());
        assert_eq!(read_packet(&mut fresh).unwrap().0, protocol::HELLO_OK);
        // The resumed connection ends: refused, or resumed and then replaced.
        assert!(
            closed_by_server(&mut resumed),
            "round {round}: two live sessions"
        );
    }
}

/// The loop index of the session id after `field=` in a log line (`#LOOP.SLOT.GEN`).
fn loop_of(line: &str, field: &str) -> u32 {
    let at = line.find(&format!("{field}=#")).expect("the field") + field.len() + 2;
    line[at..].split('.').next().unwrap().parse().unwrap()
}

fn a_resume_on_another_loop_relays_to_the_seat(model: Model) {
    let mut server = server(model, "loops", &[]); // two loops
    let mut alice = Player::seated(&server, "alice");
    alice.join(1);
    let mut bob = bystander(&server);
    let mut crossed = 0;
    for round in 0..40 {
        alice.drop_connection();
        let line = format!("r{round}");
        chats(&mut bob, &[&line]);
        alice.resume(&server);
        let resumed = server
            .wait_for_line(&["seat resumed"])
            .expect("a resume line");
        assert_eq!(heard(&mut alice, 1), [line], "once, in order");
        // The relay carries the player's packets to the seat's loop, and back.
        let own = format!("a{round}");
        chats(&mut alice.stream, &[&own]);
        assert_eq!(heard(&mut alice, 1), [own]);
        if loop_of(&resumed, "session") != loop_of(&resumed, "by") {
            crossed += 1;
            if crossed == 3 {
                return;
            }
        }
    }
    panic!("no resume landed on the other loop in 40 (the kernel spreads connections)");
}

fn a_new_login_ends_a_held_seat(model: Model) {
    let server = server(model, "relogin", &[]);
    let mut alice = Player::seated(&server, "alice");
    alice.join(1);
    alice.drop_connection();
    wait_metric(&server, "gameserver_seats_held", |n| n == 1);
    let mut again = client(&server); // a fresh HELLO, not a RESUME (and no seat asked)
    let token = mint(SECRET, &Claims::valid_for("alice", 600)).unwrap();
    send_packet(&mut again, protocol::HELLO, token.as_bytes());
    assert_eq!(read_packet(&mut again).unwrap().0, protocol::HELLO_OK);
    alice.lost_for(&server, "replaced", "new login");
    assert_eq!(server.scrape_value("gameserver_seats_held"), 0);
    drop(again);
}

one_model!(
    resume_after_a_drop,
    a_dropped_player_resumes_with_nothing_lost_or_twice
);
one_model!(
    resume_ends_the_old_connection,
    a_resume_ends_a_connection_the_server_still_holds
);
one_model!(
    seats_lost,
    a_seat_past_its_window_or_buffer_is_lost_and_said
);
one_model!(
    resume_across_loops,
    a_resume_on_another_loop_relays_to_the_seat
);
one_model!(new_login_ends_a_held_seat, a_new_login_ends_a_held_seat);
one_model!(forbidden_room_counts, a_forbidden_room_still_counts);
one_model!(
    resume_dies_waiting,
    a_resume_that_dies_waiting_leaves_the_seat_held
);
one_model!(
    resume_cut_before_answer,
    a_resume_cut_before_its_answer_can_be_tried_again
);
one_model!(
    relogin_races_resume,
    a_new_login_racing_a_resume_leaves_one_session
);
