//! [`ArenaStats`]: what the arenas of a server count, shared by all of them (relaxed atomic
//! adds once per tick or per event, no lock), for `--metrics` and the benchmark: players,
//! tags, inputs clamped by the rules, snapshots and their bytes, and how a tick's time splits
//! between its phases. (The tick's total duration is the `rooms` facility's histogram.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The phases of a tick, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Applying the inputs queued since the last tick (the facility's part).
    Inputs,
    /// Moving every player, the tags.
    Simulation,
    /// Moving every player in the spatial grid.
    Grid,
    /// Each player's view and its snapshot, encoded into its pooled buffer.
    Encode,
    /// Queueing each snapshot on its player's session.
    Send,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 5] = [
        Phase::Inputs,
        Phase::Simulation,
        Phase::Grid,
        Phase::Encode,
        Phase::Send,
    ];

    /// Its metric label.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Inputs => "inputs",
            Phase::Simulation => "simulation",
            Phase::Grid => "grid",
            Phase::Encode => "encode",
            Phase::Send => "send",
        }
    }
}

/// A rule an input broke: clamped or ignored, and counted, never trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clamped {
    /// A speed over `max_speed` (clamped to it).
    Speed,
    /// Action bits the game does not know (ignored).
    Actions,
}

/// The counters.
#[derive(Debug, Default)]
pub struct ArenaStats {
    pub players: AtomicU64,
    pub arenas: AtomicU64,
    pub ticks: AtomicU64,
    pub player_ticks: AtomicU64,
    pub tags: AtomicU64,
    pub clamped_speed: AtomicU64,
    pub ignored_actions: AtomicU64,
    pub snapshots: AtomicU64,
    pub snapshot_bytes: AtomicU64,
    /// Entities listed in snapshots (the sum of every player's view size, per tick).
    pub in_view: AtomicU64,
    phase_ns: [AtomicU64; 5],
}

impl ArenaStats {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Takes `n` from a gauge.
    pub fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Ordering::Relaxed);
    }

    /// Counts an input that broke `rule`.
    pub fn clamped(&self, rule: Clamped) {
        ArenaStats::add(
            match rule {
                Clamped::Speed => &self.clamped_speed,
                Clamped::Actions => &self.ignored_actions,
            },
            1,
        );
    }

    /// Adds one tick's time in `phase`.
    pub fn phase(&self, phase: Phase, took: Duration) {
        let at = Phase::ALL.iter().position(|&p| p == phase).unwrap_or(0);
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        ArenaStats::add(&self.phase_ns[at], ns);
    }

    /// Total time spent in `phase` so far.
    pub fn phase_total(&self, phase: Phase) -> Duration {
        let at = Phase::ALL.iter().position(|&p| p == phase).unwrap_or(0);
        Duration::from_nanos(self.phase_ns[at].load(Ordering::Relaxed))
    }

    /// A counter's value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
