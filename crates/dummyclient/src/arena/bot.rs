//! [`Bot`]: one arena player of the load generator. It joins, moves and turns at random
//! (sometimes asking for more than the rules' speed, so the server's clamp is exercised, and
//! sometimes tagging), and checks every snapshot it gets with
//! [`ClientWorld`](game_protocol::arena::ClientWorld): ticks in order, deltas only against the
//! state it has, nobody outside its view radius or too fast, and its own position following
//! its own inputs exactly.

use bytes::Bytes;
use game_protocol::arena::{ClientWorld, Input, Join, Snapshot, Welcome, ACTION_TAG};
use game_protocol::ids;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use servercore::packet::{encode, Packet};

use crate::arena::stats::BotStats;

/// What a packet from the server meant for the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// ARENA_WELCOME: the bot is in.
    Welcome,
    /// ROOM_FULL, REDIRECT or ROOM_UNAVAILABLE: it is not.
    Refused,
    /// A snapshot (checked), or anything else.
    Other,
}

/// One bot.
#[derive(Debug)]
pub struct Bot {
    index: u32,
    world: Option<ClientWorld>,
    rng: SmallRng,
    seq: u16,
}

impl Bot {
    /// Bot number `index`.
    pub fn new(index: u32) -> Bot {
        Bot {
            index,
            world: None,
            rng: SmallRng::seed_from_u64(u64::from(index) ^ 0x5EED),
            seq: 0,
        }
    }

    /// Its ARENA_JOIN of arena `room`, as a packet.
    pub fn join(&self, room: u32) -> Bytes {
        let name = format!("bot{}", self.index);
        let body = Join { room, name: &name }.encode();
        encode(ids::ARENA_JOIN, &body).expect("a short packet")
    }

    /// True once welcomed.
    pub fn in_arena(&self) -> bool {
        self.world.is_some()
    }

    /// How long until its next turn, in ms: uniform in 0.5..1.5 of `mean_ms`.
    pub fn next_turn_ms(&mut self, mean_ms: u64) -> u64 {
        let mean = mean_ms.max(2);
        self.rng.gen_range(mean / 2..mean + mean / 2)
    }

    /// A new intent: a random heading at full speed (80%), a stop (10%), or 1.5 times the
    /// speed limit (10%: the server must clamp it); a tag now and then. The packet to send.
    pub fn turn(&mut self, stats: &mut BotStats) -> Option<Bytes> {
        let world = self.world.as_mut()?;
        let max = world.rules().max_speed;
        let roll: u32 = self.rng.gen_range(0..100);
        let speed = match roll {
            0..=9 => 0,
            10..=19 => max.saturating_add(max / 2),
            _ => max,
        };
        self.seq = self.seq % u16::MAX + 1;
        let input = Input {
            seq: self.seq,
            direction: self.rng.gen(),
            speed,
            actions: if self.rng.gen_range(0..20) == 0 {
                ACTION_TAG
            } else {
                0
            },
        };
        world.sent(input);
        stats.inputs += 1;
        Some(encode(ids::ARENA_INPUT, &input.encode()).expect("a short packet"))
    }

    /// Handles one packet; a snapshot received `now_us` (the wall clock, µs, low 32 bits) is
    /// checked and, `in_window`, measured.
    pub fn hear(
        &mut self,
        packet: Packet<'_>,
        now_us: u32,
        in_window: bool,
        stats: &mut BotStats,
    ) -> Heard {
        match packet.id {
            ids::ARENA_WELCOME => match Welcome::parse(packet.body) {
                Some(welcome) => {
                    self.world = Some(ClientWorld::new(welcome.rules, welcome.you));
                    Heard::Welcome
                }
                None => {
                    stats.malformed += 1;
                    Heard::Other
                }
            },
            ids::ARENA_SNAPSHOT => {
                self.snapshot(packet.body, now_us, in_window, stats);
                Heard::Other
            }
            ids::ROOM_FULL | ids::REDIRECT | ids::ROOM_UNAVAILABLE => {
                stats.refused += 1;
                Heard::Refused
            }
            _ => Heard::Other,
        }
    }

    fn snapshot(&mut self, body: &[u8], now_us: u32, in_window: bool, stats: &mut BotStats) {
        let (Some(world), Ok(snapshot)) = (self.world.as_mut(), Snapshot::parse(body)) else {
            stats.malformed += 1;
            return;
        };
        let last = world.last_tick();
        let mut found = Vec::new();
        world.apply(&snapshot, &mut found);
        for violation in &found {
            stats.violation(violation);
        }
        stats.snapshots += 1;
        if last != 0 && snapshot.header.tick > last + 1 {
            stats.tick_gaps += u64::from(snapshot.header.tick - last - 1);
        }
        if in_window {
            stats.window_snapshots += 1;
            stats.in_view += world.known().len() as u64;
            let waited = now_us.wrapping_sub(snapshot.header.sent_at_us) as i32;
            stats.latency(u64::try_from(waited).unwrap_or(0));
        }
    }
}
