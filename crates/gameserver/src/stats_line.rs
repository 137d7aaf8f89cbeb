//! `--stats-interval SECS`: one `info` log line per interval with the figures the metrics
//! endpoint serves, merged over the loops, plus rates per second since the previous line.
//!
//! ```text
//! INFO gameserver::stats_line: stats live=3 accepted=3 refused=0 closed=0 closed_by=- \
//!     bytes_in=300 bytes_out=300 packets_in=0 packets_out=0 send_queue_bytes=0 \
//!     send_queue_high_water=100 accept_pauses=0 iterations=41 accepted_per_s=3.0 \
//!     closed_per_s=0.0 bytes_in_per_s=300.0 bytes_out_per_s=300.0 packets_in_per_s=0.0 \
//!     packets_out_per_s=0.0 iterations_per_s=41.0
//! ```
//!
//! Like a scrape, it reads the loops' published copies on its own thread; the loops do no
//! work for it.

use std::fmt;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use servercore::LoopStats;

/// Logs a line every `interval` until `stop` receives a message or is disconnected.
pub(crate) fn run(interval: Duration, stats: impl Fn() -> Vec<LoopStats>, stop: &Receiver<()>) {
    let mut previous = merged(&stats());
    let mut since = Instant::now();
    loop {
        match stop.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        let current = merged(&stats());
        StatsLine::new(&previous, &current, now - since).log();
        previous = current;
        since = now;
    }
}

/// The loops' stats summed into one (see [`LoopStats::merge`]).
pub(crate) fn merged(loops: &[LoopStats]) -> LoopStats {
    let mut total = LoopStats::default();
    for stats in loops {
        total.merge(stats);
    }
    total
}

/// One line: the totals now and the rates since the previous line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StatsLine<'a> {
    now: &'a LoopStats,
    accepted: Rate,
    closed: Rate,
    bytes_in: Rate,
    bytes_out: Rate,
    packets_in: Rate,
    packets_out: Rate,
    iterations: Rate,
}

impl<'a> StatsLine<'a> {
    /// Rates are `(now - before) / elapsed`; a counter that went down (it cannot) counts 0.
    pub(crate) fn new(before: &LoopStats, now: &'a LoopStats, elapsed: Duration) -> Self {
        let secs = elapsed.as_secs_f64();
        let rate = |now: u64, before: u64| Rate::per_second(now.saturating_sub(before), secs);
        StatsLine {
            now,
            accepted: rate(now.accepted, before.accepted),
            closed: rate(now.closed_total(), before.closed_total()),
            bytes_in: rate(now.bytes_in, before.bytes_in),
            bytes_out: rate(now.bytes_out, before.bytes_out),
            packets_in: rate(now.packets_in, before.packets_in),
            packets_out: rate(now.packets_out, before.packets_out),
            iterations: rate(now.iterations, before.iterations),
        }
    }

    /// Writes the line at `info`, as structured fields.
    pub(crate) fn log(&self) {
        let s = self.now;
        tracing::info!(
            live = s.sessions_live,
            accepted = s.accepted,
            refused = s.refused,
            closed = s.closed_total(),
            closed_by = %ClosedBy(s),
            bytes_in = s.bytes_in,
            bytes_out = s.bytes_out,
            packets_in = s.packets_in,
            packets_out = s.packets_out,
            send_queue_bytes = s.send_queue_bytes,
            send_queue_high_water = s.send_queue_high_water,
            accept_pauses = s.accept_pauses,
            iterations = s.iterations,
            accepted_per_s = %self.accepted,
            closed_per_s = %self.closed,
            bytes_in_per_s = %self.bytes_in,
            bytes_out_per_s = %self.bytes_out,
            packets_in_per_s = %self.packets_in,
            packets_out_per_s = %self.packets_out,
            iterations_per_s = %self.iterations,
            "stats"
        );
    }
}

/// Events per second, printed with one decimal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rate(f64);

impl Rate {
    fn per_second(count: u64, secs: f64) -> Rate {
        Rate(if secs > 0.0 { count as f64 / secs } else { 0.0 })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1}", self.0)
    }
}

/// The non-zero close reasons, `name:count` joined by `,` (`-` when none): one token, so the
/// line stays `key=value` throughout.
struct ClosedBy<'a>(&'a LoopStats);

impl fmt::Display for ClosedBy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut reasons = self.0.closed_by_reason().filter(|&(_, n)| n > 0);
        let Some((name, n)) = reasons.next() else {
            return f.write_str("-");
        };
        write!(f, "{name}:{n}")?;
        reasons.try_for_each(|(name, n)| write!(f, ",{name}:{n}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use servercore::CloseReason;

    #[test]
    fn rates_are_per_second_since_the_previous_line() {
        let before = LoopStats {
            accepted: 10,
            bytes_in: 1000,
            iterations: 5,
            ..Default::default()
        };
        let now = LoopStats {
            accepted: 15,
            bytes_in: 4000,
            iterations: 5,
            ..Default::default()
        };
        let line = StatsLine::new(&before, &now, Duration::from_secs(2));
        assert_eq!(line.accepted, Rate(2.5));
        assert_eq!(line.bytes_in, Rate(1500.0));
        assert_eq!(line.iterations, Rate(0.0));
        assert_eq!(line.accepted.to_string(), "2.5");
        let zero = StatsLine::new(&before, &now, Duration::ZERO);
        assert_eq!(zero.accepted, Rate(0.0));
        let backwards = StatsLine::new(&now, &before, Duration::from_secs(1));
        assert_eq!(backwards.bytes_in, Rate(0.0));
    }

    #[test]
    fn merged_sums_the_loops() {
        let loops = [
            LoopStats {
                accepted: 1,
                send_queue_high_water: 9,
                ..Default::default()
            },
            LoopStats {
                accepted: 2,
                send_queue_high_water: 4,
                ..Default::default()
            },
        ];
        let total = merged(&loops);
        assert_eq!((total.accepted, total.send_queue_high_water), (3, 9));
    }

    #[test]
    fn closed_by_lists_nonzero_reasons_as_one_token() {
        let mut stats = LoopStats::default();
        assert_eq!(ClosedBy(&stats).to_string(), "-");
        stats.closed[CloseReason::PeerClosed.index()] = 4;
        stats.closed[CloseReason::Shutdown.index()] = 1;
        assert_eq!(ClosedBy(&stats).to_string(), "peer_closed:4,shutdown:1");
    }

    #[test]
    fn run_stops_when_told() {
        let (tx, rx) = std::sync::mpsc::channel();
        tx.send(()).unwrap();
        run(Duration::from_secs(60), Vec::new, &rx); // returns at once
    }
}
