//! [`LoopRoomStats`]: one loop's room counters, written only by that loop (relaxed atomic adds:
//! no contention, no lock on the hot path), and the tick-duration histogram it publishes once a
//! second; [`RoomsSnapshot`]: every loop's, added up, for metrics and benchmarks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Microsecond histograms up to a minute, 3 significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// Why an input was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// The owning loop's inbox already held `max_posted_inputs` from other loops.
    Busy,
    /// The room's queue already held `max_queued_inputs` for the next tick.
    Queue,
    /// The member had sent `max_inputs_per_tick` already this tick.
    Rate,
    /// The sender was no longer a member when it arrived.
    Stale,
    /// The session had `max_held` operations waiting for its join's answer.
    Held,
}

impl Dropped {
    /// Every reason, in metric order.
    pub const ALL: [Dropped; 5] = [
        Dropped::Busy,
        Dropped::Queue,
        Dropped::Rate,
        Dropped::Stale,
        Dropped::Held,
    ];

    /// The metric label.
    pub fn name(self) -> &'static str {
        match self {
            Dropped::Busy => "busy",
            Dropped::Queue => "queue",
            Dropped::Rate => "rate",
            Dropped::Stale => "stale",
            Dropped::Held => "held",
        }
    }
}

/// One loop's counters (gauges are as of its last publication, about once a second).
#[derive(Debug, Default)]
pub struct LoopRoomStats {
    pub(crate) rooms: AtomicU64,
    pub(crate) members: AtomicU64,
    pub(crate) joins: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) inputs: AtomicU64,
    pub(crate) dropped: [AtomicU64; 5],
    pub(crate) undelivered: AtomicU64,
    pub(crate) ticks: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) timers: AtomicU64,
    pub(crate) tick_us: Mutex<Option<Histogram<u64>>>,
}

impl LoopRoomStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn drop_input(&self, why: Dropped) {
        let at = Dropped::ALL.iter().position(|&d| d == why).unwrap_or(0);
        LoopRoomStats::add(&self.dropped[at], 1);
    }

    /// Adds `local` (this loop's tick durations since the last call) to the published
    /// histogram and empties it. One lock a second, on the loop's own stats.
    pub(crate) fn publish(&self, local: &mut Histogram<u64>, rooms: usize, members: usize) {
        self.rooms.store(rooms as u64, Ordering::Relaxed);
        self.members.store(members as u64, Ordering::Relaxed);
        let mut shared = self.tick_us.lock().unwrap_or_else(|e| e.into_inner());
        let shared = shared.get_or_insert_with(histogram);
        let _ = shared.add(&*local);
        local.reset();
    }
}

/// Every loop's room counters, added up.
#[derive(Debug, Clone)]
pub struct RoomsSnapshot {
    /// Rooms owned (as last published).
    pub rooms: u64,
    /// Members of those rooms (as last published).
    pub members: u64,
    /// Joins let in.
    pub joins: u64,
    /// Joins refused (by the room, or full).
    pub refused: u64,
    /// Inputs applied.
    pub inputs: u64,
    /// Inputs not applied, by [`Dropped`] reason (in [`Dropped::ALL`] order).
    pub dropped: [u64; 5],
    /// Sends of rooms to members on other loops dropped: that loop was `max_posted_bytes`
    /// behind.
    pub undelivered: u64,
    /// Ticks run.
    pub ticks: u64,
    /// Tick periods skipped by a room that fell behind.
    pub skipped: u64,
    /// Timers fired.
    pub timers: u64,
    /// How long each tick took (µs: inputs applied plus `Room::tick`), as last published.
    pub tick_us: Histogram<u64>,
}

impl RoomsSnapshot {
    /// The sum of `loops`.
    pub fn sum<'a>(loops: impl IntoIterator<Item = &'a LoopRoomStats>) -> RoomsSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut s = RoomsSnapshot {
            rooms: 0,
            members: 0,
            joins: 0,
            refused: 0,
            inputs: 0,
            dropped: [0; 5],
            undelivered: 0,
            ticks: 0,
            skipped: 0,
            timers: 0,
            tick_us: histogram(),
        };
        for l in loops {
            s.rooms += load(&l.rooms);
            s.members += load(&l.members);
            s.joins += load(&l.joins);
            s.refused += load(&l.refused);
            s.inputs += load(&l.inputs);
            for (sum, d) in s.dropped.iter_mut().zip(&l.dropped) {
                *sum += load(d);
            }
            s.undelivered += load(&l.undelivered);
            s.ticks += load(&l.ticks);
            s.skipped += load(&l.skipped);
            s.timers += load(&l.timers);
            let published = l.tick_us.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(h) = published.as_ref() {
                let _ = s.tick_us.add(h);
            }
        }
        s
    }

    /// Inputs dropped for `why`.
    pub fn dropped(&self, why: Dropped) -> u64 {
        let at = Dropped::ALL.iter().position(|&d| d == why).unwrap_or(0);
        self.dropped[at]
    }

    /// Ticks whose work took at most `le_us` microseconds.
    pub fn ticks_within(&self, le_us: u64) -> u64 {
        self.tick_us
            .iter_recorded()
            .take_while(|v| v.value_iterated_to() <= le_us)
            .map(|v| v.count_at_value())
            .sum()
    }

    /// The tick duration at quantile `q` (0..=1).
    pub fn tick_quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.tick_us.value_at_quantile(q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_add_up() {
        let (a, b) = (LoopRoomStats::default(), LoopRoomStats::default());
        LoopRoomStats::add(&a.joins, 2);
        LoopRoomStats::add(&b.joins, 3);
        b.drop_input(Dropped::Rate);
        let mut local = histogram();
        local.record(1500).unwrap();
        a.publish(&mut local, 1, 4);
        assert!(local.is_empty());
        let s = RoomsSnapshot::sum([&a, &b]);
        assert_eq!((s.joins, s.rooms, s.members), (5, 1, 4));
        assert_eq!(s.dropped(Dropped::Rate), 1);
        assert_eq!(s.dropped(Dropped::Busy), 0);
        assert_eq!(s.tick_us.len(), 1);
        assert_eq!((s.ticks_within(1400), s.ticks_within(1600)), (0, 1));
        assert!(s.tick_quantile(0.99) >= Duration::from_micros(1499));
    }
}
