//! [`Timeline`]: what one event loop verified in each second of the run, for `--plot`.
//!
//! ```text
//!   second:   0          1          2       ...   (from the start of sending)
//!   bucket:   messages, bytes, latency histogram (1 significant digit, u32 counts)
//! ```
//!
//! Each loop keeps its own [`Timeline`] inside its `Stats`; the handler moves the clock
//! ([`Timeline::set_now`]) once per batch of received bytes, so recording a message is an
//! index and a histogram increment. The loops' timelines are merged at the end, like the rest
//! of the stats. A bucket's histogram keeps one significant digit (about 6 % error per value)
//! in about 1.8 KB, so a run costs at most duration seconds x ~2 KB per loop, and never more
//! than [`MAX_SECONDS`] buckets: later messages land in the last one.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::stats::MAX_LATENCY_US;

/// Most seconds a timeline tells apart (one day).
pub const MAX_SECONDS: usize = 24 * 3600;

/// What was verified in one second.
#[derive(Debug, Clone)]
pub struct Bucket {
    /// Verified messages.
    pub messages: u64,
    /// Bytes of the verified messages.
    pub bytes: u64,
    /// Their latency (send to receipt), microseconds, one significant digit.
    pub latency_us: Histogram<u32>,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            messages: 0,
            bytes: 0,
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 1)
                .expect("valid histogram bounds"),
        }
    }
}

/// Per-second buckets of one loop (or, merged, of the run).
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    buckets: Vec<Bucket>,
    /// The second the next message is recorded in.
    current: usize,
    /// Records nothing (no `--plot`): a run without a chart skips the second histogram.
    off: bool,
}

impl Timeline {
    /// A timeline that records nothing and stays empty.
    pub fn off() -> Timeline {
        Timeline {
            off: true,
            ..Timeline::default()
        }
    }

    /// Moves the clock to `nanos` after sending started.
    pub fn set_now(&mut self, nanos: u64) {
        self.current = ((nanos / 1_000_000_000) as usize).min(MAX_SECONDS - 1);
    }

    /// Records one verified message at the current second.
    pub fn record(&mut self, bytes: usize, latency_us: u64) {
        if self.off {
            return;
        }
        if self.buckets.len() <= self.current {
            self.buckets.resize_with(self.current + 1, Bucket::default);
        }
        let bucket = &mut self.buckets[self.current];
        bucket.messages += 1;
        bucket.bytes += bytes as u64;
        bucket.latency_us.saturating_record(latency_us);
    }

    /// Adds `other` (another loop's timeline) into `self`, second by second.
    pub fn merge(&mut self, other: &Timeline) {
        if self.buckets.len() < other.buckets.len() {
            self.buckets
                .resize_with(other.buckets.len(), Bucket::default);
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            mine.messages += theirs.messages;
            mine.bytes += theirs.bytes;
            mine.latency_us
                .add(&theirs.latency_us)
                .expect("histograms with equal bounds merge");
        }
    }

    /// The buckets, second 0 first.
    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    /// The figures of each second of a run that sent for `duration_secs`: one point per
    /// started second; what arrived after sending stopped (the drain) is folded into the last
    /// point, and each rate is over the part of its second that was spent sending.
    pub fn points(&self, duration_secs: f64) -> Vec<SecondPoint> {
        let seconds = (duration_secs.ceil() as usize).clamp(1, MAX_SECONDS);
        let mut folded: Vec<Bucket> = self.buckets.iter().take(seconds).cloned().collect();
        if let Some(last) = folded.last_mut() {
            for late in self.buckets.iter().skip(seconds) {
                last.messages += late.messages;
                last.bytes += late.bytes;
                last.latency_us
                    .add(&late.latency_us)
                    .expect("histograms with equal bounds merge");
            }
        }
        folded
            .iter()
            .enumerate()
            .map(|(second, b)| {
                let width = (duration_secs - second as f64).clamp(1e-3, 1.0);
                let q = |quantile| {
                    if b.latency_us.is_empty() {
                        0
                    } else {
                        b.latency_us.value_at_quantile(quantile)
                    }
                };
                SecondPoint {
                    second: second as u64,
                    msgs_per_sec: b.messages as f64 / width,
                    mb_per_sec: b.bytes as f64 / width / 1e6,
                    p50_us: q(0.50),
                    p99_us: q(0.99),
                }
            })
            .collect()
    }
}

/// One second of a run, as `--plot` draws it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SecondPoint {
    /// Seconds since sending started (the point covers `second .. second + 1`).
    pub second: u64,
    /// Verified messages per second.
    pub msgs_per_sec: f64,
    /// Verified bytes per second, in 10^6 bytes.
    pub mb_per_sec: f64,
    /// Median latency in that second, microseconds (one significant digit).
    pub p50_us: u64,
    /// 99th percentile latency in that second, microseconds (one significant digit).
    pub p99_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_per_second_and_merges() {
        let mut a = Timeline::default();
        a.record(10, 100);
        a.set_now(2_500_000_000);
        a.record(10, 1000);
        let mut b = Timeline::default();
        b.set_now(1_000_000_000);
        b.record(20, 50);
        a.merge(&b);
        let counts: Vec<u64> = a.buckets().iter().map(|b| b.messages).collect();
        assert_eq!(counts, [1, 1, 1]);
        assert_eq!(a.buckets()[1].bytes, 20);
    }

    #[test]
    fn an_off_timeline_stays_empty_and_merges_into_one_that_is_on() {
        let mut off = Timeline::off();
        off.record(10, 100);
        assert!(off.buckets().is_empty());
        let mut on = Timeline::default();
        on.record(10, 100);
        on.merge(&off);
        assert_eq!(on.buckets().len(), 1);
        assert_eq!(on.buckets()[0].messages, 1);
    }

    #[test]
    fn points_fold_the_drain_and_scale_the_last_second() {
        let mut t = Timeline::default();
        for _ in 0..100 {
            t.record(64, 100);
        }
        t.set_now(1_200_000_000);
        for _ in 0..40 {
            t.record(64, 1000);
        }
        t.set_now(3_000_000_000); // drain, after a 1.5 s run
        t.record(64, 1000);
        let points = t.points(1.5);
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].msgs_per_sec, 100.0);
        assert_eq!(points[1].msgs_per_sec, 82.0, "41 messages in half a second");
        assert!((95..=105).contains(&points[0].p50_us), "{:?}", points[0]);
        assert!((950..=1050).contains(&points[1].p99_us), "{:?}", points[1]);
    }

    #[test]
    fn a_bucket_stays_small() {
        let bucket = Bucket::default();
        assert!(bucket.latency_us.distinct_values() * 4 < 4096);
    }

    #[test]
    fn the_clock_is_bounded() {
        let mut t = Timeline::default();
        t.set_now(u64::MAX);
        assert_eq!(t.current, MAX_SECONDS - 1);
    }
}
