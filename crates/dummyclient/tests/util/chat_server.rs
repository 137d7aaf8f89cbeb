//! A plain std chat server (a thread per connection) speaking docs/protocol.md's rooms and
//! chat, that spoils exactly one broadcast delivery on purpose: the verifier must notice.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use game_protocol::chat::{parse_room, room_joined};
use game_protocol::ids::{CHAT, CHAT_BROADCAST, ENTER_ROOM, ROOM_JOINED};

/// Which delivery [`broken_chat_server`] spoils, and how.
#[derive(Debug, Clone, Copy)]
pub enum ChatFault {
    /// Do not send delivery number `n` (counted over all members, from 0).
    Drop(u64),
    /// Send delivery number `n` twice.
    Duplicate(u64),
}

/// Rooms and the delivery count. Broadcasts are written under the lock, so each sender's
/// chats reach every member whole and in order.
#[derive(Default)]
struct State {
    rooms: HashMap<u32, Vec<TcpStream>>,
    deliveries: u64,
}

impl State {
    /// Writes `packet` to every member of `room`, spoiling one delivery as `fault` says.
    fn broadcast(&mut self, room: u32, packet: &[u8], fault: ChatFault) {
        for member in self.rooms.get_mut(&room).into_iter().flatten() {
            let copies = match fault {
                ChatFault::Drop(n) if n == self.deliveries => 0,
                ChatFault::Duplicate(n) if n == self.deliveries => 2,
                _ => 1,
            };
            self.deliveries += 1;
            for _ in 0..copies {
                let _ = member.write_all(packet);
            }
        }
    }
}

/// Starts the server on 127.0.0.1 (OS-chosen port); returns its address.
pub fn broken_chat_server(fault: ChatFault) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(Mutex::new(State::default()));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let state = state.clone();
            std::thread::spawn(move || {
                let _ = serve(stream, &state, fault);
            });
        }
    });
    addr
}

fn packet(id: u16, body: &[u8]) -> Vec<u8> {
    let size = u16::try_from(4 + body.len()).unwrap();
    let mut out = size.to_le_bytes().to_vec();
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(body);
    out
}

fn serve(mut stream: TcpStream, state: &Mutex<State>, fault: ChatFault) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut room = None;
    loop {
        let mut header = [0; 4];
        stream.read_exact(&mut header)?;
        let size = usize::from(u16::from_le_bytes([header[0], header[1]]));
        let id = u16::from_le_bytes([header[2], header[3]]);
        let mut body = vec![0; size.saturating_sub(4)];
        stream.read_exact(&mut body)?;
        let mut state = state.lock().unwrap();
        match id {
            ENTER_ROOM => {
                let joined = parse_room(&body).expect("a 4-byte room");
                room = Some(joined);
                let members = state.rooms.entry(joined).or_default();
                members.push(stream.try_clone()?);
                let reply = room_joined(joined, members.len() as u32);
                stream.write_all(&packet(ROOM_JOINED, &reply))?;
            }
            CHAT => {
                let room = room.expect("CHAT after ENTER_ROOM");
                state.broadcast(room, &packet(CHAT_BROADCAST, &body), fault);
            }
            other => panic!("unexpected packet id {other}"),
        }
    }
}
