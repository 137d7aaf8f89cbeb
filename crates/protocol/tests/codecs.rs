//! Each hand-written codec agrees with the schema: for every packet of the table, a sample
//! body written by the Rust code is read by the schema-driven codec (and, where the Rust code
//! reads too, the schema codec's encoding of the same record is read back by it). A packet
//! added to the table without a sample here fails `every_packet_has_a_sample`.

use bytes::BytesMut;
use game_protocol::arena::{
    EntityState, Input, Join, Own, Redirect, Rules, Snapshot, SnapshotEncoder, SnapshotHeader,
    Welcome,
};
use game_protocol::codec::{decode, encode, Record, Value};
use game_protocol::resume::{self, Position, Resume, Seat, Ticket};
use game_protocol::schema::{packet, LAYOUTS, PACKETS};
use game_protocol::{chat, ids, login};

fn int(n: impl Into<i64>) -> Value {
    Value::Int(n.into())
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// (packet name, a body the Rust code wrote, the record the schema must read from it).
fn samples() -> Vec<(&'static str, Vec<u8>, Record)> {
    let rules = Rules {
        tick_hz: 30,
        size: 2000,
        view_radius: 90,
        max_speed: 150,
        tag_radius: 20,
        max_in_view: 128,
    };
    let welcome = Welcome {
        room: 4,
        you: 77,
        rules,
    };
    let input = Input {
        seq: 513,
        direction: 250,
        speed: 65_000,
        actions: 3,
    };
    vec![
        (
            "ECHO",
            b"xyz".to_vec(),
            vec![("body", Value::Bytes(b"xyz".to_vec()))],
        ),
        ("ENTER_ROOM", chat::room(9).to_vec(), vec![("room", int(9))]),
        ("LEAVE_ROOM", Vec::new(), vec![]),
        (
            "CHAT",
            b"hi".to_vec(),
            vec![("body", Value::Bytes(b"hi".to_vec()))],
        ),
        (
            "CHAT_BROADCAST",
            b"hi".to_vec(),
            vec![("body", Value::Bytes(b"hi".to_vec()))],
        ),
        (
            "ROOM_JOINED",
            chat::room_joined(9, 3).to_vec(),
            vec![("room", int(9)), ("members", int(3))],
        ),
        (
            "SERVER_FULL",
            chat::SERVER_FULL_REASON.to_vec(),
            vec![("reason", text("server full"))],
        ),
        (
            "ROOM_FULL",
            chat::room_joined(9, 1000).to_vec(),
            vec![("room", int(9)), ("capacity", int(1000))],
        ),
        (
            "RATE_LIMITED",
            chat::rate_limited(200, 400).to_vec(),
            vec![("per_sec", int(200)), ("burst", int(400))],
        ),
        (
            "ARENA_JOIN",
            Join {
                room: 6,
                name: "zoé",
            }
            .encode(),
            vec![("room", int(6)), ("name", text("zoé"))],
        ),
        (
            "ARENA_WELCOME",
            welcome.encode(),
            vec![
                ("room", int(4)),
                ("you", int(77)),
                ("tick_hz", int(30)),
                ("size", int(2000)),
                ("view_radius", int(90)),
                ("max_speed", int(150)),
                ("tag_radius", int(20)),
                ("max_in_view", int(128)),
                ("quanta", int(8)),
            ],
        ),
        (
            "ARENA_INPUT",
            input.encode().to_vec(),
            vec![
                ("seq", int(513)),
                ("direction", int(250)),
                ("speed", int(65_000)),
                ("actions", int(3)),
            ],
        ),
        ("ARENA_SNAPSHOT", snapshot_body(), snapshot_record()),
        ("ARENA_LEAVE", Vec::new(), vec![]),
        (
            "REDIRECT",
            Redirect {
                room: 2,
                addr: "10.0.0.2:7777",
                websocket: "ws://10.0.0.2:7778/",
            }
            .encode(),
            vec![
                ("room", int(2)),
                ("addr", text("10.0.0.2:7777")),
                ("websocket", text("ws://10.0.0.2:7778/")),
            ],
        ),
        (
            "ROOM_UNAVAILABLE",
            chat::room(8).to_vec(),
            vec![("room", int(8))],
        ),
        (
            "HELLO",
            b"eyJ.a.b".to_vec(),
            vec![("token", text("eyJ.a.b"))],
        ),
        (
            "HELLO_OK",
            login::hello_ok("alice").unwrap(),
            vec![("player", text("alice"))],
        ),
        (
            "UNAUTHENTICATED",
            b"token expired".to_vec(),
            vec![("reason", text("token expired"))],
        ),
        ("SESSION_REPLACED", Vec::new(), vec![]),
        (
            "ROOM_FORBIDDEN",
            chat::room(5).to_vec(),
            vec![("room", int(5))],
        ),
        ("SEAT_ASK", Vec::new(), vec![]),
        (
            "SEAT",
            Seat {
                ticket: TICKET,
                window_s: 30,
                buffer: 262_144,
            }
            .encode(),
            vec![
                ("ticket", text(&TICKET.hex())),
                ("window_s", int(30)),
                ("buffer", int(262_144)),
            ],
        ),
        (
            "ACK",
            resume::ack(Position(4_000_000_000)).to_vec(),
            vec![("received", int(4_000_000_000u32))],
        ),
        (
            "RESUME",
            Resume {
                player: "alice".into(),
                ticket: TICKET,
                received: Position(1234),
            }
            .encode()
            .unwrap(),
            vec![
                ("player", text("alice")),
                ("ticket", text(&TICKET.hex())),
                ("received", int(1234)),
            ],
        ),
        (
            "RESUMED",
            resume::resumed(&TICKET, Position(99)),
            vec![("ticket", text(&TICKET.hex())), ("received", int(99))],
        ),
        (
            "PLAYER_AWAY",
            login::hello_ok("bob").unwrap(),
            vec![("player", text("bob"))],
        ),
        (
            "PLAYER_BACK",
            login::hello_ok("bob").unwrap(),
            vec![("player", text("bob"))],
        ),
        (
            "SEAT_LOST",
            b"resume window over".to_vec(),
            vec![("reason", text("resume window over"))],
        ),
    ]
}

const TICKET: Ticket = Ticket([
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
]);

fn snapshot_body() -> Vec<u8> {
    let mut enc = SnapshotEncoder::default();
    let mut out = BytesMut::new();
    let header = SnapshotHeader {
        tick: 70_000,
        base_tick: 69_999,
        sent_at_us: 4_000_000_000,
        input_ack: 12,
        you: Own {
            x: 1,
            y: 2,
            flags: 3,
            score: 4,
        },
    };
    enc.begin(&mut out, &header);
    enc.left(&mut out, 5);
    let old = EntityState {
        x: 100,
        y: 100,
        flags: 0,
    };
    enc.update(
        &mut out,
        6,
        &old,
        &EntityState {
            x: 99,
            y: 101,
            flags: 1,
        },
    );
    enc.entered(
        7,
        &EntityState {
            x: 300,
            y: 400,
            flags: 2,
        },
    );
    enc.update(
        &mut out,
        8,
        &old,
        &EntityState {
            x: 900,
            y: 100,
            flags: 0,
        },
    );
    enc.finish(&mut out);
    out[4..].to_vec()
}

fn snapshot_record() -> Record {
    let item = |fields: Vec<(&'static str, i64)>| -> Record {
        fields.into_iter().map(|(n, v)| (n, int(v))).collect()
    };
    vec![
        ("tick", int(70_000)),
        ("base_tick", int(69_999)),
        ("sent_at_us", int(4_000_000_000u32)),
        ("input_ack", int(12)),
        ("x", int(1)),
        ("y", int(2)),
        ("flags", int(3)),
        ("score", int(4)),
        ("left", Value::List(vec![item(vec![("id", 5)])])),
        (
            "moved",
            Value::List(vec![item(vec![("id", 6), ("dx", -1), ("dy", 1)])]),
        ),
        (
            "entered",
            Value::List(vec![item(vec![
                ("id", 7),
                ("x", 300),
                ("y", 400),
                ("flags", 2),
            ])]),
        ),
        (
            "placed",
            Value::List(vec![item(vec![("id", 8), ("x", 900), ("y", 100)])]),
        ),
        (
            "flagged",
            Value::List(vec![item(vec![("id", 6), ("flags", 1)])]),
        ),
    ]
}

#[test]
fn every_packet_has_a_sample() {
    let named: Vec<&str> = samples().iter().map(|s| s.0).collect();
    for p in PACKETS {
        assert!(named.contains(&p.name), "no sample for {}", p.name);
    }
}

#[test]
fn the_schema_reads_what_the_rust_code_writes_and_back() {
    for (name, body, record) in samples() {
        let fields = packet(name).unwrap().fields;
        assert_eq!(decode(fields, &body), Ok(record.clone()), "{name}");
        assert_eq!(encode(fields, &record), Ok(body.clone()), "{name}");
    }
}

#[test]
fn the_rust_readers_read_what_the_schema_writes() {
    let find = |name: &str| samples().into_iter().find(|s| s.0 == name).unwrap();
    let (_, _, join) = find("ARENA_JOIN");
    let body = encode(packet("ARENA_JOIN").unwrap().fields, &join).unwrap();
    assert_eq!(
        Join::parse(&body),
        Some(Join {
            room: 6,
            name: "zoé"
        })
    );
    let (_, written, record) = find("ARENA_SNAPSHOT");
    let body = encode(packet("ARENA_SNAPSHOT").unwrap().fields, &record).unwrap();
    assert_eq!(Snapshot::parse(&body), Snapshot::parse(&written));
    assert_eq!(Snapshot::parse(&body).unwrap().entries(), 5);
    for (name, parse) in [
        (
            "ARENA_WELCOME",
            (|b: &[u8]| Welcome::parse(b).map(|w| w.encode())) as fn(&[u8]) -> Option<Vec<u8>>,
        ),
        ("ARENA_INPUT", |b| {
            Input::parse(b).map(|i| i.encode().to_vec())
        }),
        ("REDIRECT", |b| Redirect::parse(b).map(|r| r.encode())),
        ("ROOM_JOINED", |b| {
            chat::parse_room_joined(b).map(|(r, m)| chat::room_joined(r, m).to_vec())
        }),
        ("ENTER_ROOM", |b| {
            chat::parse_room(b).map(|r| chat::room(r).to_vec())
        }),
        ("HELLO_OK", |b| {
            login::parse_hello_ok(b).and_then(login::hello_ok)
        }),
        ("HELLO", |b| {
            login::parse_hello(b).map(|t| t.as_bytes().to_vec())
        }),
        ("SEAT", |b| Seat::parse(b).map(|s| s.encode())),
        ("RESUME", |b| Resume::parse(b).and_then(|r| r.encode())),
        ("RESUMED", |b| {
            resume::parse_resumed(b).map(|(t, r)| resume::resumed(&t, r))
        }),
        ("ACK", |b| {
            resume::parse_ack(b).map(|p| resume::ack(p).to_vec())
        }),
    ] {
        let (_, _, record) = find(name);
        let body = encode(packet(name).unwrap().fields, &record).unwrap();
        assert_eq!(parse(&body), Some(body.clone()), "{name}");
    }
}

#[test]
fn named_chats_follow_their_layout() {
    let layout = LAYOUTS.iter().find(|l| l.name == "NAMED_CHAT").unwrap();
    let body = chat::named_chat("alice", "hello").unwrap();
    assert_eq!(
        decode(layout.fields, &body),
        Ok(vec![("name", text("alice")), ("text", text("hello"))])
    );
    assert_eq!(ids::CHAT, packet("CHAT").unwrap().id);
}
