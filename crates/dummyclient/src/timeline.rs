//! [`Timeline`]: what one event loop verified in each second of the run, for `--plot` and the
//! `timeline` of `--json-out`.
//!
//! ```text
//!   received at:  0 s        1 s        2 s   2.4 s (sending ends)    drain
//!   bucket:       [   0    ][    1    ][  2  ]                       [drain]
//!   points:       [   0    ][      1 + 2     ]   2 is 0.4 s: too short for a rate of its own
//!                                       + the drain's latencies (not its count)
//! ```
//!
//! Each loop keeps its own [`Timeline`] inside its `Stats`; the handler moves the clock
//! ([`Timeline::set_now`]) once per batch of received bytes, so recording a message is an
//! index and a histogram increment. When the loop sees sending end ([`Timeline::end_sending`],
//! the moment its report counts are taken) later messages go to a drain bucket instead. The
//! loops' timelines are merged at the end, like the rest of the stats. A bucket's histogram
//! keeps one significant digit (about 6 % error per value) in about 1.8 KB, so a run costs at
//! most duration seconds x ~2 KB per loop, and never more than [`MAX_SECONDS`] buckets: later
//! messages land in the last one.
//!
//! [`Timeline::points`] turns the buckets into what is drawn: a rate is a count over the time
//! it was counted in, so a point is never narrower than [`MIN_WIDTH`] (a sliver of a second
//! at the end of the run is merged into the second before it: a handful of messages over a
//! millisecond is not a burst), and what arrived after sending stopped is not counted in any
//! rate (as in the report's msgs/s), only in the last point's latency percentiles (those
//! messages were sent in the run, and a stall at its end must show).

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::stats::MAX_LATENCY_US;

/// Most seconds a timeline tells apart (one day).
pub const MAX_SECONDS: usize = 24 * 3600;

/// The narrowest point, in seconds: a last second of sending shorter than this is merged into
/// the one before.
pub const MIN_WIDTH: f64 = 0.5;

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

impl Bucket {
    /// Adds `other`'s messages, bytes and latencies.
    fn add(&mut self, other: &Bucket) {
        self.messages += other.messages;
        self.bytes += other.bytes;
        self.add_latencies(other);
    }

    /// Adds `other`'s latencies only.
    fn add_latencies(&mut self, other: &Bucket) {
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms with equal bounds merge");
    }

    fn quantile(&self, quantile: f64) -> u64 {
        if self.latency_us.is_empty() {
            0
        } else {
            self.latency_us.value_at_quantile(quantile)
        }
    }
}

/// Per-second buckets of one loop (or, merged, of the run).
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    buckets: Vec<Bucket>,
    /// What arrived after [`Timeline::end_sending`] (made on its first message).
    drain: Option<Bucket>,
    /// The second the next message is recorded in.
    current: usize,
    /// Sending has ended: messages go to `drain`.
    draining: bool,
    /// Records nothing (neither `--plot` nor `--json-out`): a run without them skips the
    /// second histogram.
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

    /// Sending has ended: what arrives from now on is the drain.
    pub fn end_sending(&mut self) {
        self.draining = true;
    }

    /// Records one verified message at the current second (or in the drain).
    pub fn record(&mut self, bytes: usize, latency_us: u64) {
        if self.off {
            return;
        }
        let bucket = if self.draining {
            self.drain.get_or_insert_with(Bucket::default)
        } else {
            if self.buckets.len() <= self.current {
                self.buckets.resize_with(self.current + 1, Bucket::default);
            }
            &mut self.buckets[self.current]
        };
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
            mine.add(theirs);
        }
        if let Some(theirs) = &other.drain {
            self.drain.get_or_insert_with(Bucket::default).add(theirs);
        }
    }

    /// The buckets, second 0 first (the drain not included).
    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    /// Messages received after sending ended.
    pub fn drained(&self) -> u64 {
        self.drain.as_ref().map_or(0, |d| d.messages)
    }

    /// The points of a run that sent for `duration_secs` (see the module docs): one per
    /// second of sending, the last one up to 1.5 s wide, none narrower than [`MIN_WIDTH`]
    /// unless the whole run was. Empty if nothing was recorded.
    pub fn points(&self, duration_secs: f64) -> Vec<TimelinePoint> {
        if self.buckets.is_empty() && self.drain.is_none() {
            return Vec::new();
        }
        let duration = duration_secs.clamp(1e-3, MAX_SECONDS as f64);
        let seconds = (duration.ceil() as usize).clamp(1, MAX_SECONDS);
        let mut spans: Vec<Span> = (0..seconds)
            .map(|second| Span {
                start: second as f64,
                width: (duration - second as f64).min(1.0),
                bucket: self.buckets.get(second).cloned().unwrap_or_default(),
            })
            .collect();
        let last = spans.len() - 1;
        // Received in the moment between sending's end and the loop seeing it (one tick):
        // counted as sending, like the report's counts.
        for late in self.buckets.iter().skip(seconds) {
            spans[last].bucket.add(late);
        }
        if spans.len() > 1 && spans[last].width < MIN_WIDTH {
            let sliver = spans.pop().expect("more than one span");
            let before = spans.last_mut().expect("one span left");
            before.width += sliver.width;
            before.bucket.add(&sliver.bucket);
        }
        if let (Some(drain), Some(last)) = (&self.drain, spans.last_mut()) {
            last.bucket.add_latencies(drain);
        }
        spans.iter().map(Span::point).collect()
    }
}

/// A stretch of the run that becomes one point.
struct Span {
    start: f64,
    width: f64,
    bucket: Bucket,
}

impl Span {
    fn point(&self) -> TimelinePoint {
        let b = &self.bucket;
        TimelinePoint {
            t: self.start,
            width_s: self.width,
            messages: b.messages,
            msgs_per_s: b.messages as f64 / self.width,
            mb_per_s: b.bytes as f64 / self.width / 1e6,
            p50_us: b.quantile(0.50),
            p99_us: b.quantile(0.99),
        }
    }
}

/// One point of the timeline: a second of the run (the last one may be up to 1.5 s), as
/// `--plot` draws it and `--json-out` keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimelinePoint {
    /// Seconds since sending started, at the point's start.
    pub t: f64,
    /// Seconds the point covers (1, except the last, from [`MIN_WIDTH`] to 1.5).
    pub width_s: f64,
    /// Messages verified in it.
    pub messages: u64,
    /// Verified messages per second: `messages / width_s`.
    pub msgs_per_s: f64,
    /// Verified bytes per second, in 10^6 bytes.
    pub mb_per_s: f64,
    /// Median latency, microseconds (one significant digit).
    pub p50_us: u64,
    /// 99th percentile latency, microseconds (one significant digit).
    pub p99_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A timeline of a steady `rate` messages/s of 64 bytes and 100 µs for `duration` s,
    /// then `drained` messages of 5 ms after sending ended.
    fn steady(rate: u64, duration: f64, drained: u64) -> Timeline {
        let mut t = Timeline::default();
        let total = (rate as f64 * duration) as u64;
        for i in 0..total {
            t.set_now(i * 1_000_000_000 / rate);
            t.record(64, 100);
        }
        t.set_now((duration * 1e9) as u64 + 1_000_000);
        t.end_sending();
        for _ in 0..drained {
            t.record(64, 5000);
        }
        t
    }

    #[test]
    fn records_per_second_and_merges() {
        let mut a = Timeline::default();
        a.record(10, 100);
        a.set_now(2_500_000_000);
        a.record(10, 1000);
        let mut b = Timeline::default();
        b.set_now(1_000_000_000);
        b.record(20, 50);
        b.end_sending();
        b.record(20, 50);
        a.merge(&b);
        let counts: Vec<u64> = a.buckets().iter().map(|b| b.messages).collect();
        assert_eq!(counts, [1, 1, 1]);
        assert_eq!(a.buckets()[1].bytes, 20);
        assert_eq!(a.drained(), 1);
    }

    #[test]
    fn an_off_timeline_stays_empty_and_merges_into_one_that_is_on() {
        let mut off = Timeline::off();
        off.record(10, 100);
        assert!(off.buckets().is_empty());
        assert!(off.points(1.0).is_empty());
        let mut on = Timeline::default();
        on.record(10, 100);
        on.merge(&off);
        assert_eq!(on.buckets().len(), 1);
        assert_eq!(on.buckets()[0].messages, 1);
    }

    #[test]
    fn a_steady_runs_last_point_is_not_a_spike() {
        // Sending lasted a hair over 5 s (as a timed run does), then 500 messages drained:
        // the hair and the drain used to make a last point of ~500,000 msgs/s.
        let points = steady(1000, 5.0004, 500).points(5.0004);
        assert_eq!(points.len(), 5, "{points:#?}");
        for p in &points {
            assert!(
                (990.0..=1010.0).contains(&p.msgs_per_s),
                "not 1000 msgs/s: {p:?}"
            );
            assert!(p.width_s >= MIN_WIDTH, "{p:?}");
        }
        let last = points[4];
        assert_eq!((last.t, last.messages), (4.0, 1000));
        assert!((1.0..1.001).contains(&last.width_s), "{last:?}");
        // The drain is in the latencies (its 5 ms are 1/3 of the last point's messages).
        assert!((4500..=5500).contains(&last.p99_us), "{last:?}");
        assert!((95..=105).contains(&points[0].p99_us), "{:?}", points[0]);
    }

    #[test]
    fn a_last_part_second_of_half_a_second_or_more_is_a_point_of_its_own() {
        let points = steady(1000, 2.6, 0).points(2.6);
        let widths: Vec<f64> = points.iter().map(|p| p.width_s).collect();
        assert_eq!(points.len(), 3);
        assert!((widths[2] - 0.6).abs() < 1e-9, "{widths:?}");
        assert!((points[2].msgs_per_s - 1000.0).abs() < 2.0, "{points:?}");
        let points = steady(1000, 2.3, 0).points(2.3);
        assert_eq!(points.len(), 2);
        assert!((points[1].width_s - 1.3).abs() < 1e-9, "{points:?}");
        assert!((points[1].msgs_per_s - 1000.0).abs() < 2.0, "{points:?}");
    }

    #[test]
    fn a_short_run_is_one_point_over_its_own_length() {
        let points = steady(1000, 0.3, 0).points(0.3);
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].messages, 300);
        assert!((points[0].msgs_per_s - 1000.0).abs() < 1e-6, "{points:?}");
    }

    #[test]
    fn messages_counted_just_past_the_end_stay_in_the_last_point() {
        let mut t = steady(1000, 2.0, 0);
        t.draining = false; // a loop that had not yet seen sending end
        t.set_now(2_000_500_000);
        t.record(64, 100);
        let points = t.points(2.0);
        assert_eq!(points.len(), 2);
        assert_eq!(points.iter().map(|p| p.messages).sum::<u64>(), 2001);
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
