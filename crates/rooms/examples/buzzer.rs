//! A buzzer round on the rooms facility: players join a room and press as often as they can;
//! the room ticks 10 times a second and tells its members how many presses that tick had; a
//! timer ends the round two seconds after the first player came, with the winner.
//!
//! ```text
//! cargo run --example buzzer -p rooms                  # listens on 0.0.0.0:7779
//! cargo run --example buzzer -p rooms -- --demo        # two players press, then exit
//! ```
//!
//! Every packet is `[size: u16 LE][id: u16 LE][body]` (`servercore::packet`):
//!
//! | id | direction        | body                      | meaning                               |
//! |----|------------------|---------------------------|---------------------------------------|
//! | 1  | client -> server | room: u32 LE              | JOIN                                  |
//! | 2  | client -> server | empty                     | PRESS                                 |
//! | 3  | server -> room   | tick: u32, presses: u32   | TICK: presses counted in that tick    |
//! | 4  | server -> room   | text                      | RESULT: the round is over             |
//!
//! The room lives on one event loop (`room % loops`); presses from players on other loops are
//! posted to it, so the room's code below has no lock anywhere.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use rooms::{Refused, Room, RoomContext, RoomHost, RoomId, RoomsConfig, RoomsHub};
use servercore::packet::{
    encode, Packet, PacketContext, PacketHandler, PacketHeader, Packets, HEADER_LEN,
};
use servercore::{CloseReason, Context, Service, ServiceConfig, SessionId};

const JOIN: u16 = 1;
const PRESS: u16 = 2;
const TICK: u16 = 3;
const RESULT: u16 = 4;

/// How long a round lasts from its first player.
const ROUND: Duration = Duration::from_secs(2);

/// One round: presses per player, this tick's presses, and whether it is over.
#[derive(Default)]
struct Buzzer {
    presses: HashMap<SessionId, u32>,
    this_tick: u32,
    started: bool,
    over: bool,
}

impl Room for Buzzer {
    type Join = ();
    type Input = (); // a press
    type Timer = (); // the end of the round

    fn join(
        &mut self,
        ctx: &mut RoomContext<'_, '_, ()>,
        member: SessionId,
        (): (),
    ) -> Result<(), Refused> {
        if !self.started {
            self.started = true;
            ctx.set_timer(ROUND, ()).map_err(|_| Refused)?;
        }
        self.presses.entry(member).or_default();
        Ok(())
    }

    fn leave(&mut self, _: &mut RoomContext<'_, '_, ()>, member: SessionId) {
        self.presses.remove(&member);
    }

    /// Applied at the start of each tick, in arrival order (at most 8 per player per tick).
    fn input(&mut self, _: &mut RoomContext<'_, '_, ()>, member: SessionId, (): ()) {
        if !self.over {
            *self.presses.entry(member).or_default() += 1;
            self.this_tick += 1;
        }
    }

    fn tick(&mut self, ctx: &mut RoomContext<'_, '_, ()>) {
        if self.over || self.this_tick == 0 {
            return;
        }
        let mut body = (ctx.tick().number as u32).to_le_bytes().to_vec();
        body.extend_from_slice(&std::mem::take(&mut self.this_tick).to_le_bytes());
        // Serialized once into the loop's pool; every member's queue shares it.
        if let Ok(packet) = ctx.core().packet(TICK, &body) {
            ctx.broadcast(&packet);
        }
    }

    fn timer(&mut self, ctx: &mut RoomContext<'_, '_, ()>, (): ()) {
        self.over = true;
        let best = self
            .presses
            .iter()
            .max_by_key(|(id, n)| (**n, std::cmp::Reverse(**id)));
        let text = match best {
            Some((id, n)) => format!("round over: player {id} wins with {n} presses"),
            None => "round over: nobody pressed".to_string(),
        };
        if let Ok(packet) = ctx.core().packet(RESULT, text.as_bytes()) {
            ctx.broadcast(&packet);
        }
    }
}

/// One loop's handler: packets in, room operations out.
struct Players {
    rooms: RoomHost<Buzzer>,
}

impl PacketHandler for Players {
    fn packet(&mut self, ctx: &mut Context<'_>, id: SessionId, packet: Packet<'_>) {
        let done = match (packet.id, packet.body.try_into().map(u32::from_le_bytes)) {
            (JOIN, Ok(room)) => self.rooms.join(ctx, id, RoomId(room), ()),
            (PRESS, _) => self.rooms.input(ctx, id, ()),
            _ => return ctx.abort(id, CloseReason::Invalid("unknown packet")),
        };
        if done.is_err() {
            ctx.abort(
                id,
                CloseReason::Invalid("PRESS outside a room, or too many while joining"),
            );
        }
    }

    fn disconnected(&mut self, ctx: &mut Context<'_>, id: SessionId, _: CloseReason) {
        self.rooms.disconnected(ctx, id);
    }

    /// Jobs other loops posted to this loop's rooms.
    fn notified(&mut self, ctx: &mut Context<'_>) {
        self.rooms.notified(ctx);
    }

    /// Every `ServiceConfig::tick` (1 ms here): the rooms' ticks and timers when due.
    fn tick(&mut self, ctx: &mut Context<'_>) {
        self.rooms.tick(ctx);
    }
}

fn main() -> std::io::Result<()> {
    let demo = std::env::args().any(|arg| arg == "--demo");
    let addr = SocketAddr::from(([0, 0, 0, 0], if demo { 0 } else { 7779 }));
    let config = RoomsConfig {
        tick_hz: Some(10),
        ..Default::default()
    };
    let service_config = ServiceConfig {
        tick: Some(config.loop_tick()),
        ..Default::default()
    };
    let hub = RoomsHub::new(service_config.threads, config, |_room| Buzzer::default());
    let service = Service::bind(addr, service_config, |index| {
        Packets::new(
            Players {
                rooms: hub.host(index),
            },
            64,
        )
    })?;
    hub.bind(service.notifier()); // posts wake their loop from now on
    let port = service.local_addr().map_or(addr.port(), |a| a.port());
    println!("buzzer on port {port} ({} model)", service.model());
    if demo {
        run_demo(SocketAddr::from(([127, 0, 0, 1], port)))?;
        service.stop();
        return Ok(());
    }
    for result in service.wait() {
        result?;
    }
    Ok(())
}

/// Two blocking players in room 7: alice presses 5 times, bob 3; both read until the result.
fn run_demo(addr: SocketAddr) -> std::io::Result<()> {
    let mut players = [
        ("alice", TcpStream::connect(addr)?, 5),
        ("bob", TcpStream::connect(addr)?, 3),
    ];
    for (_, stream, presses) in &mut players {
        stream.write_all(&encode(JOIN, &7u32.to_le_bytes()).expect("small"))?;
        for _ in 0..*presses {
            stream.write_all(&encode(PRESS, b"").expect("small"))?;
        }
    }
    for (name, stream, _) in &mut players {
        loop {
            let (id, body) = read_packet(stream)?;
            if id == TICK {
                let presses = u32::from_le_bytes(body[4..8].try_into().unwrap_or_default());
                println!("{name}: a tick with {presses} presses");
            } else {
                println!("{name}: {}", String::from_utf8_lossy(&body));
                break;
            }
        }
    }
    Ok(())
}

fn read_packet(stream: &mut TcpStream) -> std::io::Result<(u16, Vec<u8>)> {
    let mut header = [0; HEADER_LEN];
    stream.read_exact(&mut header)?;
    let PacketHeader { size, id } = PacketHeader::decode(&header).expect("4 bytes");
    let mut body = vec![0; usize::from(size).saturating_sub(HEADER_LEN)];
    stream.read_exact(&mut body)?;
    Ok((id, body))
}
