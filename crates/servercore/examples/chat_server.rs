//! A chat server with rooms, on servercore's packet layer: a message is serialized once and
//! the same buffer is queued for every member of the room.
//!
//! ```text
//! cargo run --example chat_server -p servercore                  # listens on 0.0.0.0:7778
//! cargo run --example chat_server -p servercore -- --demo        # two clients chat, then exit
//! ```
//!
//! Every packet is `[size: u16 LE][id: u16 LE][body]`, `size` counting the 4-byte header
//! (`servercore::packet`). The packets of this example:
//!
//! | id | direction        | body                 | meaning                                   |
//! |----|------------------|----------------------|-------------------------------------------|
//! | 1  | client -> server | room name (UTF-8)    | JOIN: leave the current room, enter this one |
//! | 2  | server -> client | members: u32 LE      | JOINED: the join is done                  |
//! | 3  | client -> server | text                 | SAY: send text to my room                 |
//! | 4  | server -> room   | text                 | MESSAGE: someone in the room said this    |

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};

use servercore::packet::{
    encode, Packet, PacketContext, PacketHandler, PacketHeader, Packets, HEADER_LEN,
};
use servercore::{CloseReason, Context, Service, ServiceConfig, SessionId};

const JOIN: u16 = 1;
const JOINED: u16 = 2;
const SAY: u16 = 3;
const MESSAGE: u16 = 4;

/// Room name -> members. Shared by the event loops: a room's members may live on any loop.
/// A `SessionId` names its loop, so `Context::send` reaches a member wherever it lives.
type Rooms = Arc<Mutex<HashMap<String, Vec<SessionId>>>>;

/// The room a session is in, kept on the session itself (`Context::set_data`).
struct InRoom(String);

/// One loop's handler: the shared rooms.
struct Chat {
    rooms: Rooms,
}

impl Chat {
    fn leave(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        if let Some(InRoom(room)) = ctx.take_data::<InRoom>(id) {
            let mut rooms = self.rooms.lock().unwrap();
            if let Some(members) = rooms.get_mut(&room) {
                members.retain(|&member| member != id);
            }
        }
    }
}

impl PacketHandler for Chat {
    /// Called once per whole packet; `packet.body` borrows the receive buffer.
    fn packet(&mut self, ctx: &mut Context<'_>, id: SessionId, packet: Packet<'_>) {
        match packet.id {
            JOIN => {
                let Ok(room) = std::str::from_utf8(packet.body) else {
                    ctx.abort(id, CloseReason::Invalid("room name is not UTF-8"));
                    return;
                };
                self.leave(ctx, id);
                let members = {
                    let mut rooms = self.rooms.lock().unwrap();
                    let members = rooms.entry(room.to_owned()).or_default();
                    members.push(id);
                    members.len() as u32
                };
                let _ = ctx.set_data(id, InRoom(room.to_owned()));
                let _ = ctx.send_packet(id, JOINED, &members.to_le_bytes());
            }
            SAY => {
                let Some(InRoom(room)) = ctx.data::<InRoom>(id) else {
                    ctx.abort(id, CloseReason::Invalid("SAY before JOIN"));
                    return;
                };
                let room = room.clone();
                // Serialize once: `message` is a `Bytes`, and each `clone` below is a
                // reference-count increment, not a copy. A member whose send queue is over its
                // limit is disconnected by the session layer; the others are not held up.
                let Ok(message) = ctx.packet(MESSAGE, packet.body) else {
                    return;
                };
                let rooms = self.rooms.lock().unwrap();
                for &member in rooms.get(&room).into_iter().flatten() {
                    let _ = ctx.send(member, message.clone());
                }
            }
            _ => ctx.abort(id, CloseReason::Invalid("unknown packet id")),
        }
    }

    /// Exactly once per session, whatever the reason: the place to forget it.
    fn disconnected(&mut self, ctx: &mut Context<'_>, id: SessionId, reason: CloseReason) {
        println!("session {id} closed: {reason}");
        self.leave(ctx, id); // the session's data is still readable here
    }
}

fn main() -> std::io::Result<()> {
    let demo = std::env::args().any(|arg| arg == "--demo");
    let addr = SocketAddr::from(([0, 0, 0, 0], if demo { 0 } else { 7778 }));
    let rooms = Rooms::default();
    let factory = |_loop_index| {
        let chat = Chat {
            rooms: rooms.clone(),
        };
        Packets::new(chat, 4096) // frames the byte stream; refuses packets over 4096 bytes
    };
    let service = Service::bind(addr, ServiceConfig::default(), factory)?;
    let port = service.local_addr().map_or(addr.port(), |a| a.port());
    println!("chat server on port {port} ({} model)", service.model());
    if demo {
        run_demo(SocketAddr::from(([127, 0, 0, 1], port)))?;
        service.stop(); // closes every session (handlers see `Shutdown`) and joins the loops
        return Ok(());
    }
    // Serve until the process is killed or a loop fails (then its error is the exit status).
    for result in service.wait() {
        result?;
    }
    Ok(())
}

/// Two blocking clients: both join "lobby", alice speaks, both hear her.
fn run_demo(addr: SocketAddr) -> std::io::Result<()> {
    let mut alice = TcpStream::connect(addr)?;
    let mut bob = TcpStream::connect(addr)?;
    for client in [&mut alice, &mut bob] {
        client.write_all(&encode(JOIN, b"lobby").expect("small packet"))?;
        let (id, body) = read_packet(client)?;
        let members = u32::from_le_bytes(body.try_into().unwrap_or_default());
        println!("JOINED ({id}): {members} member(s) in the room");
    }
    alice.write_all(&encode(SAY, b"hello, lobby").expect("small packet"))?;
    for (name, client) in [("alice", &mut alice), ("bob", &mut bob)] {
        let (id, text) = read_packet(client)?;
        println!(
            "{name} got MESSAGE ({id}): {}",
            String::from_utf8_lossy(&text)
        );
    }
    Ok(())
}

/// Reads one packet: its id and body.
fn read_packet(stream: &mut TcpStream) -> std::io::Result<(u16, Vec<u8>)> {
    let mut header = [0; HEADER_LEN];
    stream.read_exact(&mut header)?;
    let PacketHeader { size, id } = PacketHeader::decode(&header).expect("4 bytes");
    let mut body = vec![0; usize::from(size).saturating_sub(HEADER_LEN)];
    stream.read_exact(&mut body)?;
    Ok((id, body))
}
