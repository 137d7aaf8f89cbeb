//! Helpers for gameserver's packet tests: a game server that records close reasons, and a
//! blocking packet client.

#![allow(dead_code, unused_imports)]

pub mod arena;
pub mod chat;
pub mod cluster;
pub mod process;
pub mod ws_player;

pub use chat::{chat_body, Heard};

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gameserver::chat_room::{chat_rooms, DEFAULT_ROOM_CAPACITY};
use gameserver::game::Game;
use gameserver::protocol;
use servercore::packet::{
    encode, Packet, PacketHandler, PacketHeader, Packets, RateLimit, HEADER_LEN,
};
use servercore::{CloseReason, Context, Model, Service, ServiceConfig, SessionId};
pub use testkit::{
    both_models, connect, loopback, one_model, pattern, read_n, read_to_eof, wait_until,
};

pub type Reasons = Arc<Mutex<Vec<CloseReason>>>;

/// The real game handler, recording every close reason.
pub struct Recorder {
    game: Game,
    closed: Reasons,
}

impl PacketHandler for Recorder {
    fn packet(&mut self, ctx: &mut Context<'_>, id: SessionId, packet: Packet<'_>) {
        self.game.packet(ctx, id, packet);
    }

    fn rate_limited(&mut self, ctx: &mut Context<'_>, id: SessionId, limit: RateLimit) {
        self.game.rate_limited(ctx, id, limit);
    }

    fn disconnected(&mut self, ctx: &mut Context<'_>, id: SessionId, reason: CloseReason) {
        self.closed.lock().unwrap().push(reason);
        self.game.disconnected(ctx, id, reason);
    }

    fn notified(&mut self, ctx: &mut Context<'_>) {
        self.game.notified(ctx);
    }

    fn tick(&mut self, ctx: &mut Context<'_>) {
        self.game.tick(ctx);
    }
}

/// A packet-mode game server on loopback with 2 loops.
pub fn game_server(model: Model, config: ServiceConfig) -> (Service<Packets<Recorder>>, Reasons) {
    game_server_with(model, config, DEFAULT_ROOM_CAPACITY)
}

/// As [`game_server`], with rooms of `capacity` members.
pub fn game_server_with(
    model: Model,
    config: ServiceConfig,
    capacity: usize,
) -> (Service<Packets<Recorder>>, Reasons) {
    let closed: Reasons = Arc::default();
    let hub = chat_rooms(2, capacity, None);
    let shared = closed.clone();
    let config = ServiceConfig {
        threads: 2,
        model,
        tick: Some(hub.config().loop_tick()),
        ..config
    };
    let service = Service::bind(loopback(), config, |i| {
        Packets::new(
            Recorder {
                game: Game::new(hub.host(i)),
                closed: shared.clone(),
            },
            4096,
        )
    })
    .expect("start game server");
    hub.bind(service.notifier());
    (service, closed)
}

pub fn addr<H: servercore::Handler>(service: &Service<H>) -> SocketAddr {
    service.local_addr().expect("bound")
}

pub fn send_packet(stream: &mut impl Write, id: u16, body: &[u8]) {
    stream
        .write_all(&encode(id, body).expect("encodable"))
        .expect("send packet");
    stream.flush().expect("send packet");
}

/// Reads one packet: (id, body).
pub fn read_packet(stream: &mut impl std::io::Read) -> std::io::Result<(u16, Vec<u8>)> {
    let header = read_n(stream, HEADER_LEN)?;
    let header = PacketHeader::decode(&header).expect("4 bytes");
    let body = read_n(stream, usize::from(header.size) - HEADER_LEN)?;
    Ok((header.id, body))
}

/// Joins `room` and waits for ROOM_JOINED.
pub fn join(stream: &mut (impl std::io::Read + Write), room: u32) {
    send_packet(stream, protocol::ENTER_ROOM, &room.to_le_bytes());
    let (id, body) = read_packet(stream).expect("ROOM_JOINED");
    assert_eq!(id, protocol::ROOM_JOINED);
    assert_eq!(protocol::parse_room(&body[..4]), Some(room));
}

/// Waits for the live-session count to reach `n`.
pub fn assert_live<H: servercore::Handler>(service: &Service<H>, n: usize) {
    let ok = wait_until(Duration::from_secs(10), || service.live_sessions() == n);
    assert!(
        ok,
        "live sessions stayed at {} (expected {n})",
        service.live_sessions()
    );
}

/// True once the server has closed `stream` (EOF or reset).
pub fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut sink = Vec::new();
    match std::io::Read::read_to_end(stream, &mut sink) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

/// Saves a screenshot of `browser` as `name` in the tests' temporary directory
/// (`target/tmp`), checks it is a PNG, prints its path and returns it.
#[cfg(unix)]
pub fn save_screenshot(browser: &testkit::browser::Browser, name: &str) -> std::path::PathBuf {
    let shot = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    browser.screenshot(&shot).unwrap();
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "a PNG at {}",
        shot.display()
    );
    println!("screenshot: {}", shot.display());
    shot
}
