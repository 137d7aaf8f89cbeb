//! [`ResumeStats`]: what `--resume` counted on one event loop (merged like [`crate::stats::Stats`]),
//! and [`ResumeReport`], its part of the run's report.
//!
//! The figures, as measured by the client:
//! - `drops`: connections `--chaos` aborted; `server_drops`: connections that ended without a
//!   farewell (EOF, reset) that the client did not end itself. Each is followed by a resume,
//!   except `handshake_drops`: the drops that cut a resume in the middle (RESUME sent,
//!   RESUMED not yet in), which the next resume of that client covers too.
//! - `resumes`: RESUMED answers; `latency`: from the drop (the abort, or the client seeing
//!   the connection end) to RESUMED, through the reconnect and the RESUME's round trip.
//! - `replayed` (messages and bytes): verified messages received after a RESUMED whose send
//!   stamp is before that RESUME went out: what the seat held for the client (in flight at
//!   the drop, or sent to it while it was away) and the server replayed. Only its scenario's
//!   messages count (not ROOM_JOINED), so it is a lower bound of the replayed bytes.
//! - `resent` (packets and bytes): the client's own packets sent again after RESUMED (what the
//!   server had not received, and what the client wrote while away).
//! - `seats_lost` by reason: the server's SEAT_LOST text (e.g. `window`, `buffer`, `ticket`),
//!   or the client's own: `no_seat` (no SEAT came, or the connection dropped before it),
//!   `client_buffer` (its unacknowledged packets passed the SEAT's buffer), `unreachable` (no
//!   new connection within --connect-timeout), `resume_failed` (5 RESUMEs in a row went
//!   unanswered), `framing` (the stream could not be cut into packets: not resumed),
//!   `unresumed` (the run ended before RESUMED came).
//! - `violations`: resume packets that broke the protocol (an ACK or RESUMED position outside
//!   what was sent, a malformed body, a SEAT twice).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::stats::MAX_LATENCY_US;

/// One loop's resume counts.
#[derive(Debug, Clone)]
pub struct ResumeStats {
    /// Connections `--chaos` aborted.
    pub drops: u64,
    /// Connections that ended without a farewell, not by the client.
    pub server_drops: u64,
    /// Of `drops`, those that cut a resume before its RESUMED.
    pub handshake_drops: u64,
    /// RESUMED answers.
    pub resumes: u64,
    /// Drop to RESUMED, microseconds.
    pub latency_us: Histogram<u64>,
    /// Verified messages sent before the RESUME and received after RESUMED.
    pub replayed: u64,
    /// Their bytes (packet bodies).
    pub replayed_bytes: u64,
    /// Own packets sent again after RESUMED.
    pub resent_packets: u64,
    /// Their bytes (whole packets).
    pub resent_bytes: u64,
    /// Seats lost, by reason.
    pub seats_lost: BTreeMap<String, u64>,
    /// Resume packets that broke the protocol.
    pub violations: u64,
}

impl Default for ResumeStats {
    fn default() -> Self {
        ResumeStats {
            drops: 0,
            server_drops: 0,
            handshake_drops: 0,
            resumes: 0,
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
            replayed: 0,
            replayed_bytes: 0,
            resent_packets: 0,
            resent_bytes: 0,
            seats_lost: BTreeMap::new(),
            violations: 0,
        }
    }
}

impl ResumeStats {
    /// Counts a seat lost for `reason`.
    pub fn lose_seat(&mut self, reason: &str) {
        *self.seats_lost.entry(reason.to_string()).or_default() += 1;
    }

    /// Seats lost, for any reason.
    pub fn seats_lost_total(&self) -> u64 {
        self.seats_lost.values().sum()
    }

    /// Adds another loop's counts.
    pub fn merge(&mut self, other: &ResumeStats) {
        self.drops += other.drops;
        self.server_drops += other.server_drops;
        self.handshake_drops += other.handshake_drops;
        self.resumes += other.resumes;
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms with equal bounds merge");
        self.replayed += other.replayed;
        self.replayed_bytes += other.replayed_bytes;
        self.resent_packets += other.resent_packets;
        self.resent_bytes += other.resent_bytes;
        for (reason, n) in &other.seats_lost {
            *self.seats_lost.entry(reason.clone()).or_default() += n;
        }
        self.violations += other.violations;
    }
}

/// The report's `resume` part (`--resume`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResumeReport {
    /// `--chaos`: drops asked for per second (0: none).
    pub chaos_per_sec: u64,
    /// See [`ResumeStats::drops`].
    pub drops: u64,
    /// See [`ResumeStats::server_drops`].
    pub server_drops: u64,
    /// See [`ResumeStats::handshake_drops`].
    pub handshake_drops: u64,
    /// See [`ResumeStats::resumes`].
    pub resumes: u64,
    /// Drop to RESUMED, 50th percentile, microseconds.
    pub latency_p50_us: u64,
    /// 99th percentile, microseconds.
    pub latency_p99_us: u64,
    /// Highest, microseconds.
    pub latency_max_us: u64,
    /// See [`ResumeStats::replayed`].
    pub replayed: u64,
    /// See [`ResumeStats::replayed_bytes`].
    pub replayed_bytes: u64,
    /// See [`ResumeStats::resent_packets`].
    pub resent_packets: u64,
    /// See [`ResumeStats::resent_bytes`].
    pub resent_bytes: u64,
    /// Seats lost, for any reason.
    pub seats_lost: u64,
    /// Seats lost by reason.
    pub seats_lost_by_reason: BTreeMap<String, u64>,
    /// `--allow-seat-loss`: lost seats are reported but are not errors.
    pub seat_loss_allowed: bool,
    /// See [`ResumeStats::violations`].
    pub violations: u64,
}

impl ResumeReport {
    /// Summarizes merged `stats`.
    pub fn new(stats: &ResumeStats, chaos_per_sec: u64, seat_loss_allowed: bool) -> ResumeReport {
        let h = &stats.latency_us;
        let q = |quantile| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(quantile)
            }
        };
        ResumeReport {
            chaos_per_sec,
            drops: stats.drops,
            server_drops: stats.server_drops,
            handshake_drops: stats.handshake_drops,
            resumes: stats.resumes,
            latency_p50_us: q(0.5),
            latency_p99_us: q(0.99),
            latency_max_us: if h.is_empty() { 0 } else { h.max() },
            replayed: stats.replayed,
            replayed_bytes: stats.replayed_bytes,
            resent_packets: stats.resent_packets,
            resent_bytes: stats.resent_bytes,
            seats_lost: stats.seats_lost_total(),
            seats_lost_by_reason: stats.seats_lost.clone(),
            seat_loss_allowed,
            violations: stats.violations,
        }
    }

    /// What counts as errors: violations, and lost seats unless allowed.
    pub fn errors(&self) -> u64 {
        let lost = if self.seat_loss_allowed {
            0
        } else {
            self.seats_lost
        };
        self.violations + lost
    }

    /// The report table's rows (section, one-word figure, value).
    pub fn rows(&self) -> Vec<(&'static str, &'static str, String)> {
        vec![
            ("resume", "drops", self.drops.to_string()),
            ("", "server_drops", self.server_drops.to_string()),
            ("", "handshake_drops", self.handshake_drops.to_string()),
            ("", "resumes", self.resumes.to_string()),
            ("", "latency_p50_µs", self.latency_p50_us.to_string()),
            ("", "latency_p99_µs", self.latency_p99_us.to_string()),
            ("", "latency_max_µs", self.latency_max_us.to_string()),
            ("", "replayed", self.replayed.to_string()),
            ("", "replayed_bytes", self.replayed_bytes.to_string()),
            ("", "resent_packets", self.resent_packets.to_string()),
            ("", "resent_bytes", self.resent_bytes.to_string()),
            ("", "seats_lost", self.seats_lost.to_string()),
            ("", "violations", self.violations.to_string()),
        ]
    }

    /// Lost seats by reason, as one line (empty if none).
    pub fn reasons_line(&self) -> String {
        let reasons: Vec<String> = self
            .seats_lost_by_reason
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        reasons.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_loops_make_one_report() {
        let mut a = ResumeStats {
            resumes: 2,
            ..ResumeStats::default()
        };
        a.latency_us.record(1_000).unwrap();
        a.latency_us.record(3_000).unwrap();
        a.lose_seat("window");
        let mut b = ResumeStats {
            resumes: 1,
            ..ResumeStats::default()
        };
        b.latency_us.record(2_000).unwrap();
        b.lose_seat("window");
        b.lose_seat("ticket");
        b.violations = 1;
        a.merge(&b);
        let report = ResumeReport::new(&a, 20, false);
        assert_eq!(report.resumes, 3);
        assert!(
            (3_000..3_010).contains(&report.latency_max_us),
            "3 ms, to the histogram's precision: {report:?}"
        );
        assert_eq!(report.seats_lost, 3);
        assert_eq!(report.reasons_line(), "ticket 1, window 2");
        assert_eq!(report.errors(), 4);
        assert_eq!(ResumeReport::new(&a, 20, true).errors(), 1, "seats allowed");
    }
}
