//! [`PACKETS`] and [`LAYOUTS`]: every packet of the game protocol, its id, its direction and
//! the layout of its body, written once. Everything else is made from this table or checked
//! against it: the Rust constants ([`crate::ids`]), the JavaScript of the web pages
//! ([`crate::js`]), the packet table of docs/protocol.md ([`crate::markdown`]), and the
//! hand-written Rust codecs (`tests/codecs.rs` round-trips each through [`crate::codec`]).
//!
//! Every packet is `PacketHeader { size: u16, id: u16 }` (little-endian, `size` counting the
//! header) followed by its body: the fields below, in order, little-endian, nothing between
//! them.

/// The type of one field of a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// One byte, unsigned.
    U8,
    /// Two bytes, unsigned, little-endian.
    U16,
    /// Four bytes, unsigned, little-endian.
    U32,
    /// One byte, signed (two's complement).
    I8,
    /// A length byte, then that many bytes of UTF-8; the length is `min..=max`.
    Str8 {
        /// Fewest bytes.
        min: u8,
        /// Most bytes.
        max: u8,
    },
    /// The rest of the body, any bytes (the last field only).
    Bytes,
    /// The rest of the body, UTF-8 (the last field only).
    Text,
    /// A `u16` count, then that many records of these fields.
    List(&'static [Field]),
}

impl Ty {
    /// The name the generated JavaScript and the docs use for it.
    pub fn name(self) -> &'static str {
        match self {
            Ty::U8 => "u8",
            Ty::U16 => "u16",
            Ty::U32 => "u32",
            Ty::I8 => "i8",
            Ty::Str8 { .. } => "str8",
            Ty::Bytes => "bytes",
            Ty::Text => "text",
            Ty::List(_) => "list",
        }
    }

    /// Bytes of a fixed-size field (`None` for strings, lists and the rest).
    pub fn fixed_len(self) -> Option<usize> {
        match self {
            Ty::U8 | Ty::I8 => Some(1),
            Ty::U16 => Some(2),
            Ty::U32 => Some(4),
            Ty::Str8 { .. } | Ty::Bytes | Ty::Text | Ty::List(_) => None,
        }
    }
}

/// One field of a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Its name (snake_case; the JavaScript objects use it as is).
    pub name: &'static str,
    /// Its type.
    pub ty: Ty,
}

/// Who sends a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Client to server.
    ToServer,
    /// Server to client.
    ToClient,
    /// Either way (the server answers with the same packet).
    Both,
}

impl Dir {
    /// How docs/protocol.md writes it.
    pub fn arrow(self) -> &'static str {
        match self {
            Dir::ToServer => "client -> server",
            Dir::ToClient => "server -> client",
            Dir::Both => "client -> server -> client",
        }
    }
}

/// One packet: id, name, direction, body layout, and a line saying what it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketDef {
    /// The header's `id`.
    pub id: u16,
    /// SCREAMING_SNAKE_CASE, as the Rust constant and the JavaScript `ID` table name it.
    pub name: &'static str,
    /// Who sends it.
    pub dir: Dir,
    /// The body, field by field.
    pub fields: &'static [Field],
    /// What it is for (one line, for the docs table).
    pub doc: &'static str,
}

/// A layout that is not a packet: a body convention inside another packet's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutDef {
    /// Its name (SCREAMING_SNAKE_CASE).
    pub name: &'static str,
    /// Its fields.
    pub fields: &'static [Field],
    /// What it is for.
    pub doc: &'static str,
}

const fn f(name: &'static str, ty: Ty) -> Field {
    Field { name, ty }
}

/// A seat's resume ticket: 32 lowercase hex digits (128 random bits).
const TICKET: Ty = Ty::Str8 { min: 32, max: 32 };

/// The fields of one player id.
const PLAYER: &[Field] = &[f("player", Ty::Str8 { min: 1, max: 64 })];

/// The fields of one room number.
const ROOM: &[Field] = &[f("room", Ty::U32)];

/// Every packet of the protocol, by id.
pub const PACKETS: &[PacketDef] = &[
    PacketDef {
        id: 1,
        name: "ECHO",
        dir: Dir::Both,
        fields: &[f("body", Ty::Bytes)],
        doc: "the server sends the same packet back to the sender",
    },
    PacketDef {
        id: 2,
        name: "ENTER_ROOM",
        dir: Dir::ToServer,
        fields: ROOM,
        doc: "join a chat room (leaving the current one); answered by ROOM_JOINED or ROOM_FULL",
    },
    PacketDef {
        id: 3,
        name: "LEAVE_ROOM",
        dir: Dir::ToServer,
        fields: &[],
        doc: "leave the current chat room (no answer)",
    },
    PacketDef {
        id: 4,
        name: "CHAT",
        dir: Dir::ToServer,
        fields: &[f("body", Ty::Bytes)],
        doc: "say something to the room: every member (the sender too) gets CHAT_BROADCAST",
    },
    PacketDef {
        id: 5,
        name: "CHAT_BROADCAST",
        dir: Dir::ToClient,
        fields: &[f("body", Ty::Bytes)],
        doc: "a member's CHAT body, unchanged",
    },
    PacketDef {
        id: 6,
        name: "ROOM_JOINED",
        dir: Dir::ToClient,
        fields: &[f("room", Ty::U32), f("members", Ty::U32)],
        doc: "answer to ENTER_ROOM: the member count after the join",
    },
    PacketDef {
        id: 7,
        name: "SERVER_FULL",
        dir: Dir::ToClient,
        fields: &[f("reason", Ty::Text)],
        doc: "the connection is refused by the session caps, then closed",
    },
    PacketDef {
        id: 8,
        name: "ROOM_FULL",
        dir: Dir::ToClient,
        fields: &[f("room", Ty::U32), f("capacity", Ty::U32)],
        doc: "answer to ENTER_ROOM or ARENA_JOIN when the room has no place left",
    },
    PacketDef {
        id: 9,
        name: "RATE_LIMITED",
        dir: Dir::ToClient,
        fields: &[f("per_sec", Ty::U32), f("burst", Ty::U32)],
        doc: "the session sent over the packet rate limit, then it is closed",
    },
    PacketDef {
        id: 10,
        name: "ARENA_JOIN",
        dir: Dir::ToServer,
        fields: &[f("room", Ty::U32), f("name", Ty::Str8 { min: 1, max: 16 })],
        doc: "enter an arena (leaving the current one); answered by ARENA_WELCOME, ROOM_FULL, REDIRECT or ROOM_UNAVAILABLE",
    },
    PacketDef {
        id: 11,
        name: "ARENA_WELCOME",
        dir: Dir::ToClient,
        fields: &[
            f("room", Ty::U32),
            f("you", Ty::U16),
            f("tick_hz", Ty::U16),
            f("size", Ty::U16),
            f("view_radius", Ty::U16),
            f("max_speed", Ty::U16),
            f("tag_radius", Ty::U16),
            f("max_in_view", Ty::U16),
            f("quanta", Ty::U8),
        ],
        doc: "you are in: your entity id and the arena's rules (sizes in units; positions on the wire in 1/quanta units)",
    },
    PacketDef {
        id: 12,
        name: "ARENA_INPUT",
        dir: Dir::ToServer,
        fields: &[
            f("seq", Ty::U16),
            f("direction", Ty::U8),
            f("speed", Ty::U16),
            f("actions", Ty::U8),
        ],
        doc: "an intent: heading (1/256 turns, 0 = +x, 64 = +y), speed (units/s, clamped to max_speed), actions (bit 0: tag)",
    },
    PacketDef {
        id: 13,
        name: "ARENA_SNAPSHOT",
        dir: Dir::ToClient,
        fields: &[
            f("tick", Ty::U32),
            f("base_tick", Ty::U32),
            f("sent_at_us", Ty::U32),
            f("input_ack", Ty::U16),
            f("x", Ty::U16),
            f("y", Ty::U16),
            f("flags", Ty::U8),
            f("score", Ty::U16),
            f("left", Ty::List(&[f("id", Ty::U16)])),
            f(
                "moved",
                Ty::List(&[f("id", Ty::U16), f("dx", Ty::I8), f("dy", Ty::I8)]),
            ),
            f(
                "entered",
                Ty::List(&[
                    f("id", Ty::U16),
                    f("x", Ty::U16),
                    f("y", Ty::U16),
                    f("flags", Ty::U8),
                ]),
            ),
            f(
                "placed",
                Ty::List(&[f("id", Ty::U16), f("x", Ty::U16), f("y", Ty::U16)]),
            ),
            f("flagged", Ty::List(&[f("id", Ty::U16), f("flags", Ty::U8)])),
        ],
        doc: "once per tick: your own state, then the entities in view as a delta against the snapshot of base_tick",
    },
    PacketDef {
        id: 14,
        name: "ARENA_LEAVE",
        dir: Dir::ToServer,
        fields: &[],
        doc: "leave the arena (no answer)",
    },
    PacketDef {
        id: 15,
        name: "REDIRECT",
        dir: Dir::ToClient,
        fields: &[
            f("room", Ty::U32),
            f("addr", Ty::Str8 { min: 0, max: 255 }),
            f("websocket", Ty::Str8 { min: 0, max: 255 }),
        ],
        doc: "answer to ARENA_JOIN: the room lives on another instance; connect there (TCP host:port, or the WebSocket URL)",
    },
    PacketDef {
        id: 16,
        name: "ROOM_UNAVAILABLE",
        dir: Dir::ToClient,
        fields: ROOM,
        doc: "answer to ARENA_JOIN: who owns the room cannot be known now (the cluster's Redis is away); try again later",
    },
    PacketDef {
        id: 17,
        name: "HELLO",
        dir: Dir::ToServer,
        fields: &[f("token", Ty::Text)],
        doc: "with `--auth-secret`, the first packet of a session: a connect token (docs/protocol.md, Connect tokens); answered by HELLO_OK or UNAUTHENTICATED",
    },
    PacketDef {
        id: 18,
        name: "HELLO_OK",
        dir: Dir::ToClient,
        fields: &[f("player", Ty::Str8 { min: 1, max: 64 })],
        doc: "answer to HELLO: the token is good; you are `player` (the token's `sub`)",
    },
    PacketDef {
        id: 19,
        name: "UNAUTHENTICATED",
        dir: Dir::ToClient,
        fields: &[f("reason", Ty::Text)],
        doc: "the session has no valid token (a bad or expired one, none in time, another packet first, the player's login limit), then it is closed",
    },
    PacketDef {
        id: 20,
        name: "SESSION_REPLACED",
        dir: Dir::ToClient,
        fields: &[],
        doc: "a newer login of the same player took over (`--second-login replace`), then this session is closed",
    },
    PacketDef {
        id: 21,
        name: "ROOM_FORBIDDEN",
        dir: Dir::ToClient,
        fields: ROOM,
        doc: "answer to ENTER_ROOM or ARENA_JOIN: the player's token does not name this room; you stay where you were",
    },
    PacketDef {
        id: 22,
        name: "SEAT_ASK",
        dir: Dir::ToServer,
        fields: &[],
        doc: "after HELLO: hold my seat if my connection drops (docs/protocol.md, Resume); answered by SEAT, or SEAT_LOST if resume is off",
    },
    PacketDef {
        id: 23,
        name: "SEAT",
        dir: Dir::ToClient,
        fields: &[
            f("ticket", TICKET),
            f("window_s", Ty::U16),
            f("buffer", Ty::U32),
        ],
        doc: "the seat is held for `window_s` seconds after a drop, with up to `buffer` unacknowledged bytes; both directions are numbered from here",
    },
    PacketDef {
        id: 24,
        name: "ACK",
        dir: Dir::Both,
        fields: &[f("received", Ty::U32)],
        doc: "bytes of numbered packets received so far (modulo 2^32): the sender may forget them",
    },
    PacketDef {
        id: 25,
        name: "RESUME",
        dir: Dir::ToServer,
        fields: &[
            f("player", Ty::Str8 { min: 1, max: 64 }),
            f("ticket", TICKET),
            f("received", Ty::U32),
        ],
        doc: "instead of HELLO on a new connection: take my seat back with the last ticket; replay after `received`",
    },
    PacketDef {
        id: 26,
        name: "RESUMED",
        dir: Dir::ToClient,
        fields: &[f("ticket", TICKET), f("received", Ty::U32)],
        doc: "answer to RESUME: the seat is yours (the next ticket); the server had `received` of your bytes (resend what follows); the replay follows",
    },
    PacketDef {
        id: 27,
        name: "SEAT_LOST",
        dir: Dir::ToClient,
        fields: &[f("reason", Ty::Text)],
        doc: "the seat cannot be held or resumed (window over, buffer full, bad ticket, resume off); sign in afresh with HELLO",
    },
    PacketDef {
        id: 28,
        name: "PLAYER_AWAY",
        dir: Dir::ToClient,
        fields: PLAYER,
        doc: "to the other members of a seated player's rooms: its connection dropped, its seat is held (it may RESUME)",
    },
    PacketDef {
        id: 29,
        name: "PLAYER_BACK",
        dir: Dir::ToClient,
        fields: PLAYER,
        doc: "to the other members of its rooms: the player resumed its seat",
    },
];

/// Body conventions inside other packets.
pub const LAYOUTS: &[LayoutDef] = &[LayoutDef {
    name: "NAMED_CHAT",
    fields: &[f("name", Ty::Str8 { min: 1, max: 32 }), f("text", Ty::Text)],
    doc: "a CHAT body as the web chat page writes and reads it (the server never looks inside)",
}];

/// The packet named `name`.
pub fn packet(name: &str) -> Option<&'static PacketDef> {
    PACKETS.iter().find(|p| p.name == name)
}

/// The packet with header id `id`.
pub fn packet_by_id(id: u16) -> Option<&'static PacketDef> {
    PACKETS.iter().find(|p| p.id == id)
}

/// The id of the packet named `name`, at compile time (a name not in [`PACKETS`] does not
/// compile).
pub const fn id_of(name: &str) -> u16 {
    let mut i = 0;
    while i < PACKETS.len() {
        if str_eq(PACKETS[i].name, name) {
            return PACKETS[i].id;
        }
        i += 1;
    }
    panic!("no such packet in schema::PACKETS");
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The fewest bytes a body of `fields` has (every list empty, every string at its minimum).
pub fn min_body_len(fields: &[Field]) -> usize {
    fields
        .iter()
        .map(|field| match field.ty {
            Ty::Str8 { min, .. } => 1 + usize::from(min),
            Ty::List(_) => 2,
            Ty::Bytes | Ty::Text => 0,
            ty => ty.fixed_len().unwrap_or(0),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_unique_and_rest_fields_come_last() {
        for (i, a) in PACKETS.iter().enumerate() {
            for b in &PACKETS[i + 1..] {
                assert_ne!(a.id, b.id, "{} and {}", a.name, b.name);
                assert_ne!(a.name, b.name);
            }
            assert!(a.id >= 1, "{}", a.name);
        }
        let all = PACKETS
            .iter()
            .map(|p| (p.name, p.fields))
            .chain(LAYOUTS.iter().map(|l| (l.name, l.fields)));
        for (name, fields) in all {
            for (at, field) in fields.iter().enumerate() {
                if matches!(field.ty, Ty::Bytes | Ty::Text) {
                    assert_eq!(at, fields.len() - 1, "{name}.{}", field.name);
                }
            }
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(id_of("ARENA_SNAPSHOT"), 13);
        assert_eq!(packet("ECHO").map(|p| p.id), Some(1));
        assert_eq!(packet_by_id(6).map(|p| p.name), Some("ROOM_JOINED"));
        assert!(packet("NOPE").is_none() && packet_by_id(999).is_none());
        assert_eq!(min_body_len(packet("ARENA_JOIN").unwrap().fields), 4 + 2);
        assert_eq!(
            min_body_len(packet("ARENA_SNAPSHOT").unwrap().fields),
            21 + 10
        );
    }
}
