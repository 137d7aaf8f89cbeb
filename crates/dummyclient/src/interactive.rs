//! `--interactive`: chat with a packet server by hand. One blocking connection; each line read
//! from stdin is a `CHAT` to the room, and everything that arrives is printed as it comes.
//!
//! ```text
//!   dummyclient --protocol packet --interactive --room 7 --name alice
//!   * connected to 127.0.0.1:7777 as alice
//!   * joined room 7 (2 members)
//!   hello                         <- typed: CHAT (name_len | "alice" | "hello")
//!   <alice> hello                 <- CHAT_BROADCAST, the sender included
//!   <bob> hi alice
//!   /join 8   /leave   /quit      <- commands; end of input (Ctrl-D) also quits
//! ```
//!
//! Chat bodies follow the web page's convention (docs/protocol.md, "Chat bodies with a sender
//! name"), so a browser on `web/chat.html` and this client see each other's names. At the end
//! of its input the client half-closes the connection and prints what the server still sends
//! (its own last chats come back) until the server closes: a piped script sees every answer.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Mutex;

use servercore::packet::{encode, Framer, Packet, MAX_WIRE_PACKET};
use servercore::{first_bytes, Lookalike};

use crate::wire::{
    Farewell, CHAT, CHAT_BROADCAST, ECHO, ENTER_ROOM, HELLO_OK, LEAVE_ROOM, ROOM_FULL, ROOM_JOINED,
};
use game_protocol::ids::ROOM_FORBIDDEN;
use game_protocol::login::parse_hello_ok;

pub use game_protocol::chat::{parse_named_chat, MAX_NAME};

/// What `--interactive` was told.
#[derive(Debug, Clone)]
pub struct InteractiveConfig {
    /// Server address, `host:port`.
    pub addr: String,
    /// The room joined at the start (`--room`).
    pub room: u32,
    /// The sender name put in front of every chat (`--name`, 1 to 32 bytes of UTF-8).
    pub name: String,
    /// `--auth-secret`: the HELLO sent first (a token for player `--name`).
    pub hello: Option<bytes::Bytes>,
}

/// A chat body of the web page's convention (NAMED_CHAT): `name_len: u8 | name | text`.
///
/// # Panics
/// If `name` is empty or longer than [`MAX_NAME`] bytes (`--name` is checked when parsed).
pub fn named_chat(name: &str, text: &str) -> Vec<u8> {
    game_protocol::chat::named_chat(name, text).expect("a name of 1 to 32 bytes")
}

/// `--name`'s value parser: 1 to 32 bytes of UTF-8.
///
/// # Errors
/// An empty or longer name.
pub fn parse_name(text: &str) -> Result<String, String> {
    match text.len() {
        1..=MAX_NAME => Ok(text.to_string()),
        n => Err(format!(
            "a name has 1 to {MAX_NAME} bytes of UTF-8, not {n}"
        )),
    }
}

/// What one typed line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    /// Say this to the room.
    Chat(&'a str),
    /// `/join N`.
    Join(u32),
    /// `/leave`.
    Leave,
    /// `/quit`.
    Quit,
    /// Nothing to send (an empty line).
    Nothing,
    /// A command that is not one, with why.
    Bad(String),
}

impl<'a> Line<'a> {
    fn parse(line: &'a str) -> Line<'a> {
        let line = line.trim_end_matches(['\r', '\n']);
        let Some(command) = line.strip_prefix('/') else {
            return if line.trim().is_empty() {
                Line::Nothing
            } else {
                Line::Chat(line)
            };
        };
        let mut words = command.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("join"), Some(room), None) => room.parse().map_or_else(
                |_| Line::Bad(format!("not a room number: {room}")),
                Line::Join,
            ),
            (Some("leave"), None, None) => Line::Leave,
            (Some("quit"), None, None) => Line::Quit,
            _ => Line::Bad(format!(
                "unknown command /{command} (/join N, /leave, /quit)"
            )),
        }
    }
}

/// Connects to `config.addr`, joins `config.room`, sends each line of `input` as a chat and
/// prints to `out` what arrives, until the input ends (or `/quit`) and the server has closed.
///
/// # Errors
/// The connection failed or broke, or `out` could not be written.
pub fn run(
    config: &InteractiveConfig,
    input: impl BufRead,
    out: &Mutex<impl Write + Send>,
) -> io::Result<()> {
    let stream = TcpStream::connect(&config.addr).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("cannot connect to {}: {err}", config.addr),
        )
    })?;
    stream.set_nodelay(true)?;
    let say = |line: &str| -> io::Result<()> {
        let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
        writeln!(out, "{line}")?;
        out.flush()
    };
    say(&format!(
        "* connected to {} as {}",
        config.addr, config.name
    ))?;
    let mut writer = stream.try_clone()?;
    let reader = stream;
    std::thread::scope(|scope| {
        let printer = scope.spawn(|| print_incoming(reader, say));
        let sent = send_lines(config, input, &mut writer, say);
        // Done typing: half-close, so the server answers what it has and then closes.
        let _ = writer.shutdown(Shutdown::Write);
        let printed = printer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        sent.and(printed)
    })
}

/// Sends HELLO (with `--auth-secret`) and ENTER_ROOM, then one packet per line of `input` until it ends or says `/quit`.
fn send_lines(
    config: &InteractiveConfig,
    input: impl BufRead,
    writer: &mut TcpStream,
    say: impl Fn(&str) -> io::Result<()>,
) -> io::Result<()> {
    let packet = |id, body: &[u8]| {
        encode(id, body).map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))
    };
    if let Some(hello) = &config.hello {
        writer.write_all(hello)?;
    }
    writer.write_all(&packet(ENTER_ROOM, &config.room.to_le_bytes())?)?;
    for line in input.lines() {
        let line = line?;
        let bytes = match Line::parse(&line) {
            Line::Chat(text) => packet(CHAT, &named_chat(&config.name, text)),
            Line::Join(room) => packet(ENTER_ROOM, &room.to_le_bytes()),
            Line::Leave => packet(LEAVE_ROOM, &[]),
            Line::Quit => return Ok(()),
            Line::Nothing => continue,
            Line::Bad(why) => {
                say(&format!("* {why}"))?;
                continue;
            }
        };
        match bytes {
            Ok(bytes) => writer.write_all(&bytes)?,
            Err(err) => say(&format!("* not sent: {err}"))?,
        }
    }
    Ok(())
}

/// Prints every packet from `reader` until the server closes the connection.
fn print_incoming(mut reader: TcpStream, say: impl Fn(&str) -> io::Result<()>) -> io::Result<()> {
    let framer = Framer::new(MAX_WIRE_PACKET);
    let mut buf = Vec::new();
    let mut chunk = vec![0; 64 * 1024];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return say("* the server closed the connection"),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {
                return say("* the server reset the connection");
            }
            Err(err) => return Err(err),
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut lines = Vec::new();
        let consumed = framer
            .decode(&buf, |packet| lines.push(describe(packet.id, packet.body)))
            .map_err(|err| not_packets(&buf, err))?;
        buf.drain(..consumed);
        for line in lines {
            say(&line)?;
        }
    }
}

/// The error for an answer that cannot be framed: what it looks like, if known.
fn not_packets(answer: &[u8], err: servercore::packet::PacketError) -> io::Error {
    let looks = match Lookalike::of(answer) {
        Some(Lookalike::HttpResponse) => format!(
            ": it looks like an HTTP response ({}); is this a WebSocket port? --interactive \
             speaks TCP to the game port",
            first_bytes(answer)
        ),
        Some(lookalike) => format!(": it looks like {lookalike} ({})", first_bytes(answer)),
        None => String::new(),
    };
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the server's answer is not packets ({err}){looks}"),
    )
}

/// One packet from the server, as a line for a person.
fn describe(id: u16, body: &[u8]) -> String {
    let u32_at = |at: usize| {
        body.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    };
    if let Some(farewell) = Farewell::of(&Packet { id, body }) {
        return format!("* the server closes this connection: {farewell}");
    }
    match id {
        CHAT_BROADCAST => match parse_named_chat(body) {
            Some((name, text)) => format!("<{name}> {text}"),
            None => format!("<?> ({} bytes)", body.len()),
        },
        ROOM_JOINED => format!("* joined room {} ({} members)", u32_at(0), u32_at(4)),
        ROOM_FULL => format!("* room {} is full ({} members)", u32_at(0), u32_at(4)),
        ECHO => format!("* echo: {}", String::from_utf8_lossy(body)),
        HELLO_OK => match parse_hello_ok(body) {
            Some(player) => format!("* signed in as {player}"),
            None => format!("* HELLO_OK ({} bytes)", body.len()),
        },
        ROOM_FORBIDDEN => format!("* room {} is not in your token's rooms", u32_at(0)),
        other => format!("* packet {other} ({} bytes)", body.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_chats_round_trip_and_other_bodies_are_not_one() {
        let body = named_chat("alice", "hello, 세계");
        assert_eq!(body[0], 5);
        assert_eq!(parse_named_chat(&body), Some(("alice", "hello, 세계")));
        assert_eq!(parse_named_chat(&named_chat("a", "")), Some(("a", "")));
        assert_eq!(parse_named_chat(&[]), None);
        assert_eq!(parse_named_chat(&[0, b'x']), None, "an empty name");
        assert_eq!(parse_named_chat(&[9, b'x']), None, "shorter than its name");
        assert_eq!(parse_named_chat(&[40; 64]), None, "a name over 32 bytes");
        assert_eq!(parse_named_chat(&[1, b'a', 0xff]), None, "not UTF-8");
    }

    #[test]
    fn names_are_1_to_32_bytes() {
        assert_eq!(parse_name("bob"), Ok("bob".to_string()));
        assert!(parse_name("").is_err());
        assert!(parse_name(&"x".repeat(33)).unwrap_err().contains("not 33"));
        assert!(parse_name(&"x".repeat(32)).is_ok());
    }

    #[test]
    fn lines_are_chats_or_commands() {
        assert_eq!(Line::parse("hello\r\n"), Line::Chat("hello"));
        assert_eq!(Line::parse("  "), Line::Nothing);
        assert_eq!(Line::parse("/join 8"), Line::Join(8));
        assert_eq!(Line::parse("/leave"), Line::Leave);
        assert_eq!(Line::parse("/quit"), Line::Quit);
        assert!(matches!(Line::parse("/join x"), Line::Bad(why) if why.contains("x")));
        assert!(matches!(Line::parse("/dance"), Line::Bad(why) if why.contains("/quit")));
    }

    #[test]
    fn packets_are_described_for_people() {
        assert_eq!(
            describe(CHAT_BROADCAST, &named_chat("bob", "hi")),
            "<bob> hi"
        );
        assert_eq!(describe(CHAT_BROADCAST, &[0; 24]), "<?> (24 bytes)");
        let mut joined = 7u32.to_le_bytes().to_vec();
        joined.extend_from_slice(&2u32.to_le_bytes());
        assert_eq!(
            describe(ROOM_JOINED, &joined),
            "* joined room 7 (2 members)"
        );
        let mut limit = 200u32.to_le_bytes().to_vec();
        limit.extend_from_slice(&400u32.to_le_bytes());
        assert!(describe(crate::wire::RATE_LIMITED, &limit).contains("rate limited (200"));
    }
}
