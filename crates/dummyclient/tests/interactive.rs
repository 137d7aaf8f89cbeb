//! `--interactive` (docs/protocol.md, "By hand"): lines piped into the dummyclient are chats
//! in its room, what the room says is printed, and the end of its input ends the session
//! cleanly; a raw client against a packet server says what happened and points here.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dummyclient::interactive::named_chat;
use gameserver::protocol;
use servercore::packet::{encode, PacketHeader, HEADER_LEN};
use testkit::read_lines;
use util::{game_server, run_dummyclient, stderr};

/// The most any one step may take.
const STEP: Duration = Duration::from_secs(20);

/// `dummyclient --interactive` with stdin and stdout piped; stdout read line by line.
struct Player {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Player {
    fn start(args: &[&str]) -> Player {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dummyclient"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dummyclient starts");
        let lines = read_lines(child.stdout.take().expect("piped stdout"), "dummyclient: ");
        let stdin = child.stdin.take();
        Player {
            child,
            stdin,
            lines,
        }
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("input still open");
        writeln!(stdin, "{line}").expect("type a line");
    }

    /// Waits (within [`STEP`]) for a printed line equal to `want`.
    fn expect_line(&self, want: &str) {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == want => return,
                Ok(_) => {}
                Err(_) => panic!("no line {want:?}"),
            }
        }
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_packet(stream: &mut TcpStream) -> (u16, Vec<u8>) {
    let mut header = [0; HEADER_LEN];
    stream.read_exact(&mut header).expect("a header");
    let header = PacketHeader::decode(&header).expect("4 bytes");
    let mut body = vec![0; usize::from(header.size) - HEADER_LEN];
    stream.read_exact(&mut body).expect("a body");
    (header.id, body)
}

#[test]
fn lines_become_chats_and_the_room_is_printed() {
    let server = game_server(1);
    let addr = server.local_addr().unwrap().to_string();
    let mut bob = TcpStream::connect(&addr).unwrap();
    bob.set_read_timeout(Some(STEP)).unwrap();
    bob.write_all(&encode(protocol::ENTER_ROOM, &7u32.to_le_bytes()).unwrap())
        .unwrap();
    assert_eq!(read_packet(&mut bob).0, protocol::ROOM_JOINED);

    let mut alice = Player::start(&[
        "--addr",
        &addr,
        "--protocol",
        "packet",
        "--interactive",
        "--room",
        "7",
        "--name",
        "alice",
    ]);
    alice.expect_line(&format!("* connected to {addr} as alice"));
    alice.expect_line("* joined room 7 (2 members)");
    alice.type_line("hello bob");
    alice.expect_line("<alice> hello bob");
    assert_eq!(
        read_packet(&mut bob),
        (protocol::CHAT_BROADCAST, named_chat("alice", "hello bob")),
        "bob hears alice, by name"
    );
    bob.write_all(&encode(protocol::CHAT, &named_chat("bob", "hi alice")).unwrap())
        .unwrap();
    alice.expect_line("<bob> hi alice");
    alice.type_line("/join x");
    alice.expect_line("* not a room number: x");

    drop(alice.stdin.take()); // end of input: the session ends cleanly
    alice.expect_line("* the server closed the connection");
    let status = alice.child.wait().expect("exits");
    assert!(status.success(), "{status}");
    drop(bob); // else the stop's lingering close waits for bob's EOF
    server.stop();
}

#[test]
fn the_lecture_client_against_a_packet_server_is_pointed_to_interactive() {
    let server = game_server(1);
    let addr = server.local_addr().unwrap().to_string();
    let output = run_dummyclient(&["--addr", &addr, "--count", "1"], STEP);
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("closed the connection without an echo"),
        "{stderr}"
    );
    assert!(stderr.contains("--interactive"), "{stderr}");
    server.stop();
}
