//! An in-process arena server (2 loops) whose rooms a test can look into, and a blocking
//! arena client that checks every snapshot with `ClientWorld`.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use game_protocol::arena::{ClientWorld, Input, Join, Rules, Snapshot, Violation, Welcome};
use game_protocol::ids;
use gameserver::arena::{arena_rooms, Arena, ArenaConfig, ArenaRoom, ArenaStats};
use rooms::{RoomId, RoomsHub};
use servercore::packet::{encode, Packets};
use servercore::{Model, Service, ServiceConfig};

use super::{loopback, read_packet};

/// A look into an arena: the last tick's number and every player's (id, position).
pub type Look = (u32, Vec<(u16, (i32, i32))>);

/// A running arena server.
pub struct ArenaServer {
    pub service: Service<Packets<Arena>>,
    pub hub: RoomsHub<ArenaRoom>,
    pub stats: Arc<ArenaStats>,
}

impl ArenaServer {
    /// Two loops on `model`, arenas made with `config`.
    pub fn start(model: Model, config: ArenaConfig) -> ArenaServer {
        let stats = Arc::new(ArenaStats::default());
        let hub = arena_rooms(2, config, stats.clone(), None);
        let service_config = ServiceConfig {
            threads: 2,
            model,
            ..Default::default()
        };
        let service = hub
            .serve(loopback(), service_config, |_, rooms| {
                Packets::new(Arena::new(rooms), 4096)
            })
            .expect("start the arena server");
        ArenaServer {
            service,
            hub,
            stats,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.service.local_addr().expect("bound")
    }

    /// Arena `room` as it is between two ticks: the last tick's number and every player's
    /// (id, position in quanta).
    pub fn look(&self, room: u32) -> Look {
        let (tx, rx) = mpsc::channel();
        self.hub
            .visit(RoomId(room), move |arena: &mut ArenaRoom, _| {
                let players = arena.world().iter().map(|(id, p)| (id, p.pos)).collect();
                let _ = tx.send((arena.last_tick() as u32, players));
            });
        rx.recv_timeout(Duration::from_secs(20))
            .expect("the arena exists")
    }
}

/// A player over TCP: its world as rebuilt from its snapshots.
pub struct ArenaClient {
    pub stream: TcpStream,
    pub world: ClientWorld,
    pub violations: Vec<Violation>,
    seq: u16,
}

impl ArenaClient {
    /// Connects and joins arena `room`; waits for the welcome.
    pub fn join(addr: SocketAddr, room: u32, name: &str) -> ArenaClient {
        let mut stream = super::connect(addr);
        let join = Join { room, name }.encode();
        stream
            .write_all(&encode(ids::ARENA_JOIN, &join).unwrap())
            .unwrap();
        let (id, body) = read_packet(&mut stream).expect("an answer");
        assert_eq!(id, ids::ARENA_WELCOME, "{body:?}");
        let welcome = Welcome::parse(&body).expect("a welcome");
        assert_eq!(welcome.room, room);
        ArenaClient {
            stream,
            world: ClientWorld::new(welcome.rules, welcome.you),
            violations: Vec::new(),
            seq: 0,
        }
    }

    pub fn rules(&self) -> Rules {
        *self.world.rules()
    }

    /// Sends an intent (remembered for the own-move check).
    pub fn input(&mut self, direction: u8, speed: u16, actions: u8) {
        self.inputs([(direction, speed, actions)]);
    }

    /// Sends intents (direction, speed, actions) in one write.
    pub fn inputs(&mut self, intents: impl IntoIterator<Item = (u8, u16, u8)>) {
        let mut burst = Vec::new();
        for (direction, speed, actions) in intents {
            self.seq += 1;
            let input = Input {
                seq: self.seq,
                direction,
                speed,
                actions,
            };
            self.world.sent(input);
            burst.extend_from_slice(&encode(ids::ARENA_INPUT, &input.encode()).unwrap());
        }
        self.stream.write_all(&burst).unwrap();
    }

    /// Reads packets until the next snapshot and applies it.
    pub fn next_snapshot(&mut self) {
        loop {
            let (id, body) = read_packet(&mut self.stream).expect("a snapshot");
            if id == ids::ARENA_SNAPSHOT {
                let snapshot = Snapshot::parse(&body).expect("a well-formed snapshot");
                self.world.apply(&snapshot, &mut self.violations);
                return;
            }
        }
    }

    /// Reads snapshots until tick `tick` has been applied.
    pub fn until_tick(&mut self, tick: u32) {
        while self.world.last_tick() < tick {
            self.next_snapshot();
        }
        assert_eq!(self.world.last_tick(), tick, "tick {tick} was skipped");
    }
}
