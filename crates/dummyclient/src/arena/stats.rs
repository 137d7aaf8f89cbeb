//! [`BotStats`]: what one event loop's bots counted — snapshots, their latency (the server's
//! tick to receipt), bytes, entities in view, and every [`Violation`] by name — merged into an
//! [`ArenaReport`] at the end of the run.

use std::collections::BTreeMap;
use std::fmt;

use game_protocol::arena::Violation;
use hdrhistogram::Histogram;
use serde::Serialize;

/// Microseconds up to a minute (a later snapshot is recorded as a minute).
const MAX_US: u64 = 60_000_000;

/// One loop's counts.
#[derive(Debug, Clone)]
pub struct BotStats {
    /// Snapshots received.
    pub snapshots: u64,
    /// Snapshots received while sending (the measured window).
    pub window_snapshots: u64,
    /// Latency of the snapshots received while sending: the server's tick start to receipt.
    pub latency_us: Histogram<u64>,
    /// Bytes received while sending (every packet, headers included).
    pub window_bytes: u64,
    /// Entities in view summed over the snapshots of the window.
    pub in_view: u64,
    /// Inputs sent.
    pub inputs: u64,
    /// What the checks of `ClientWorld` found, by name.
    pub violations: BTreeMap<&'static str, u64>,
    /// Snapshots that could not be read, and other packets that made no sense.
    pub malformed: u64,
    /// Bots the server did not take in: ROOM_FULL, REDIRECT, ROOM_UNAVAILABLE.
    pub refused: u64,
    /// Bots whose connection closed before the end.
    pub disconnects: u64,
    /// Ticks skipped between two snapshots of one bot (the server fell behind; not an error).
    pub tick_gaps: u64,
}

impl Default for BotStats {
    fn default() -> Self {
        BotStats {
            snapshots: 0,
            window_snapshots: 0,
            latency_us: Histogram::new_with_bounds(1, MAX_US, 3).expect("valid bounds"),
            window_bytes: 0,
            in_view: 0,
            inputs: 0,
            violations: BTreeMap::new(),
            malformed: 0,
            refused: 0,
            disconnects: 0,
            tick_gaps: 0,
        }
    }
}

impl BotStats {
    /// Counts a violation.
    pub fn violation(&mut self, v: &Violation) {
        *self.violations.entry(v.name()).or_default() += 1;
    }

    /// Records one snapshot's latency (in the window).
    pub fn latency(&mut self, us: u64) {
        let _ = self.latency_us.record(us.clamp(1, MAX_US));
    }

    /// Adds `other` in.
    pub fn merge(&mut self, other: &BotStats) {
        self.snapshots += other.snapshots;
        self.window_snapshots += other.window_snapshots;
        let _ = self.latency_us.add(&other.latency_us);
        self.window_bytes += other.window_bytes;
        self.in_view += other.in_view;
        self.inputs += other.inputs;
        for (name, n) in &other.violations {
            *self.violations.entry(name).or_default() += n;
        }
        self.malformed += other.malformed;
        self.refused += other.refused;
        self.disconnects += other.disconnects;
        self.tick_gaps += other.tick_gaps;
    }

    /// Every error: violations, malformed packets, refusals, disconnects.
    pub fn errors(&self) -> u64 {
        self.violations.values().sum::<u64>() + self.malformed + self.refused + self.disconnects
    }
}

/// The result of an arena run.
#[derive(Debug, Clone, Serialize)]
pub struct ArenaReport {
    pub scenario: &'static str,
    pub addr: String,
    pub protocol: &'static str,
    pub clients: usize,
    pub room: u32,
    pub threads: usize,
    pub model: String,
    pub duration_secs: f64,
    pub connect_secs: f64,
    /// Snapshots received over the whole run, and per second of the window.
    pub snapshots: u64,
    pub snapshots_per_sec: f64,
    /// Snapshot latency (the server's tick start to receipt), microseconds.
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// Bytes received per player per second of the window.
    pub bytes_per_player_per_sec: f64,
    /// Entities in view per snapshot, on average.
    pub in_view_avg: f64,
    pub inputs: u64,
    pub violations: BTreeMap<&'static str, u64>,
    pub malformed: u64,
    pub refused: u64,
    pub disconnects: u64,
    pub tick_gaps: u64,
    /// violations + malformed + refused + disconnects.
    pub errors: u64,
}

/// How the run was set up (filled by the runner).
#[derive(Debug, Clone)]
pub struct ArenaRunInfo {
    pub addr: String,
    pub websocket: bool,
    pub clients: usize,
    pub room: u32,
    pub threads: usize,
    pub model: String,
    pub duration_secs: f64,
    pub connect_secs: f64,
}

impl ArenaReport {
    /// Summarizes merged `stats`.
    pub fn new(stats: &BotStats, info: ArenaRunInfo) -> ArenaReport {
        let secs = info.duration_secs.max(1e-9);
        let h = &stats.latency_us;
        let q = |quantile: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(quantile)
            }
        };
        ArenaReport {
            scenario: "arena",
            addr: info.addr,
            protocol: if info.websocket {
                "websocket"
            } else {
                "packet"
            },
            clients: info.clients,
            room: info.room,
            threads: info.threads,
            model: info.model,
            duration_secs: info.duration_secs,
            connect_secs: info.connect_secs,
            snapshots: stats.snapshots,
            snapshots_per_sec: stats.window_snapshots as f64 / secs,
            p50_us: q(0.5),
            p90_us: q(0.9),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: if h.is_empty() { 0 } else { h.max() },
            bytes_per_player_per_sec: stats.window_bytes as f64 / secs / info.clients.max(1) as f64,
            in_view_avg: stats.in_view as f64 / stats.window_snapshots.max(1) as f64,
            inputs: stats.inputs,
            violations: stats.violations.clone(),
            malformed: stats.malformed,
            refused: stats.refused,
            disconnects: stats.disconnects,
            tick_gaps: stats.tick_gaps,
            errors: stats.errors(),
        }
    }

    /// True if nothing was wrong and snapshots came.
    pub fn passed(&self) -> bool {
        self.errors == 0 && self.snapshots > 0
    }

    /// One line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}"))
    }
}

impl fmt::Display for ArenaReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "arena {} at {} ({}), {} bots, {:.1} s",
            self.room, self.addr, self.protocol, self.clients, self.duration_secs
        )?;
        writeln!(
            f,
            "  snapshots        {} ({:.0}/s)",
            self.snapshots, self.snapshots_per_sec
        )?;
        writeln!(
            f,
            "  latency (tick to receipt) p50 {} us, p90 {} us, p99 {} us, p99.9 {} us, max {} us",
            self.p50_us, self.p90_us, self.p99_us, self.p999_us, self.max_us
        )?;
        writeln!(f, "  bytes/player/s   {:.0}", self.bytes_per_player_per_sec)?;
        writeln!(f, "  in view          {:.1} on average", self.in_view_avg)?;
        writeln!(f, "  inputs sent      {}", self.inputs)?;
        writeln!(
            f,
            "  tick gaps        {} (the server skipped ticks; not an error)",
            self.tick_gaps
        )?;
        write!(
            f,
            "  errors           {} (violations {:?}, malformed {}, refused {}, disconnects {})",
            self.errors, self.violations, self.malformed, self.refused, self.disconnects
        )
    }
}
