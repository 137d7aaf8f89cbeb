//! [`BotHandler`]: one event loop's bots. `connected` sends the bot's ARENA_JOIN; `received`
//! frames what arrives (over TCP or WebSocket) and hands each packet to its bot; `tick`
//! follows the run's phase and sends each bot's next turn when it is due (a min-heap of due
//! times: no scan of every bot per tick).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use servercore::packet::Packet;
use servercore::{CloseReason, Context, Handler, SessionId};

use crate::arena::bot::{Bot, Heard};
use crate::arena::stats::BotStats;
use crate::login::Tokens;
use crate::websocket::{split_packets, Inbound};
use crate::wire::Wire;

/// Where the run is (set by the main thread, followed by each loop on its tick).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RunPhase {
    /// Bots connect and join; they stand still.
    Joining = 0,
    /// Bots move and turn; what arrives is measured.
    Sending = 1,
    /// Nothing more is sent; the last snapshots are still checked.
    Draining = 2,
}

/// What the main thread and the loops share (no lock: atomics read per tick or per bot).
#[derive(Debug, Default)]
pub struct BotShared {
    phase: AtomicU8,
    /// Bots answered by the server (welcomed or refused), or gone.
    pub answered: AtomicU32,
    next_index: AtomicU32,
}

impl BotShared {
    /// Sets the phase.
    pub fn set_phase(&self, phase: RunPhase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    fn phase(&self) -> RunPhase {
        match self.phase.load(Ordering::Acquire) {
            0 => RunPhase::Joining,
            1 => RunPhase::Sending,
            _ => RunPhase::Draining,
        }
    }
}

/// The bots of one loop.
#[derive(Debug)]
pub struct BotHandler {
    shared: Arc<BotShared>,
    room: u32,
    turn_ms: u64,
    wire: Wire,
    bots: HashMap<SessionId, Bot>,
    turns: BinaryHeap<Reverse<(Instant, SessionId)>>,
    /// `--websocket`: each session's frame reader.
    inbound: Option<HashMap<SessionId, Inbound>>,
    /// `--auth-secret`: the bots' tokens.
    tokens: Option<Arc<Tokens>>,
    phase: RunPhase,
    stats: BotStats,
    /// A moment of the loop's clock and the wall clock then (µs since the Unix epoch).
    base: (Instant, u64),
}

impl BotHandler {
    /// Bots of arena `room` turning every `turn_ms` on average, over `wire`.
    pub fn new(
        shared: Arc<BotShared>,
        room: u32,
        turn_ms: u64,
        wire: Wire,
        websocket: bool,
    ) -> BotHandler {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        BotHandler {
            shared,
            room,
            turn_ms,
            wire,
            bots: HashMap::new(),
            turns: BinaryHeap::new(),
            inbound: websocket.then(HashMap::new),
            tokens: None,
            phase: RunPhase::Joining,
            stats: BotStats::default(),
            base: (Instant::now(), wall),
        }
    }

    /// The same bots, each signing in first with a token of `tokens` (`--auth-secret`).
    pub fn with_tokens(self, tokens: Option<Arc<Tokens>>) -> BotHandler {
        BotHandler { tokens, ..self }
    }

    /// What this loop's bots counted.
    pub fn stats(&self) -> &BotStats {
        &self.stats
    }

    /// The wall clock at the loop's `now`, µs, low 32 bits (as snapshots carry it).
    fn wall_us(&self, now: Instant) -> u32 {
        let since = now.saturating_duration_since(self.base.0).as_micros() as u64;
        (self.base.1 + since) as u32
    }

    fn schedule(&mut self, id: SessionId, now: Instant) {
        if let Some(bot) = self.bots.get_mut(&id) {
            let after = Duration::from_millis(bot.next_turn_ms(self.turn_ms));
            self.turns.push(Reverse((now + after, id)));
        }
    }

    /// Sending starts: every bot in the arena turns now and then on its own schedule.
    fn start(&mut self, ctx: &mut Context<'_>) {
        let ids: Vec<SessionId> = self
            .bots
            .iter()
            .filter(|(_, b)| b.in_arena())
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            self.turn(ctx, id);
        }
    }

    /// Bot `id` turns: sends its new intent and schedules the next turn.
    fn turn(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        let Some(bot) = self.bots.get_mut(&id) else {
            return;
        };
        if let Some(packet) = bot.turn(&mut self.stats) {
            let _ = ctx.send(id, self.wire.wrap(packet));
            self.schedule(id, ctx.now());
        }
    }
}

impl Handler for BotHandler {
    fn connected(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        let index = self.shared.next_index.fetch_add(1, Ordering::AcqRel);
        let bot = Bot::new(index);
        if let Some(tokens) = &self.tokens {
            let _ = ctx.send(id, self.wire.wrap(tokens.hello_of_client(index as u64)));
        }
        let _ = ctx.send(id, self.wire.wrap(bot.join(self.room)));
        self.bots.insert(id, bot);
        if let Some(inbound) = &mut self.inbound {
            inbound.insert(id, Inbound::default());
        }
    }

    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let now_us = self.wall_us(ctx.now());
        let in_window = self.phase == RunPhase::Sending;
        let Some(bot) = self.bots.get_mut(&id) else {
            return data.len();
        };
        if in_window {
            self.stats.window_bytes += data.len() as u64;
        }
        let (stats, shared) = (&mut self.stats, &self.shared);
        let on_packet = |packet: Packet<'_>| {
            if bot.hear(packet, now_us, in_window, stats) != Heard::Other {
                shared.answered.fetch_add(1, Ordering::AcqRel);
            }
        };
        let split = split_packets(self.inbound.as_mut(), ctx, id, &self.wire, data, on_packet);
        match split {
            Ok(consumed) => consumed,
            Err(err) => {
                self.stats.malformed += 1;
                tracing::warn!(session = %id, "cannot read the server's packets: {err}");
                ctx.abort(id, err.close_reason());
                data.len()
            }
        }
    }

    fn disconnected(&mut self, _ctx: &mut Context<'_>, id: SessionId, reason: CloseReason) {
        if let Some(bot) = self.bots.remove(&id) {
            if reason != CloseReason::Shutdown {
                self.stats.disconnects += 1;
                if self.stats.disconnects <= 10 {
                    tracing::warn!(session = %id, "bot disconnected: {reason}");
                }
                if !bot.in_arena() {
                    self.shared.answered.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
        if let Some(inbound) = &mut self.inbound {
            inbound.remove(&id);
        }
    }

    fn tick(&mut self, ctx: &mut Context<'_>) {
        let phase = self.shared.phase();
        if phase != self.phase {
            self.phase = phase;
            if phase == RunPhase::Sending {
                self.start(ctx);
            }
        }
        if self.phase != RunPhase::Sending {
            return;
        }
        let now = ctx.now();
        while let Some(&Reverse((due, id))) = self.turns.peek() {
            if due > now {
                break;
            }
            self.turns.pop();
            self.turn(ctx, id);
        }
    }
}
