//! [`LoopStats`]: what one event loop has done, for metrics and stats lines.

use crate::CloseReason;

/// Counters and gauges of one event loop.
///
/// Each loop counts into its own plain fields (no atomics, no sharing on the hot path) and
/// publishes a copy to its mailbox about every 100 ms; [`Service::stats`](crate::Service::stats)
/// reads those copies. Figures are therefore up to ~100 ms old on a busy loop, and up to
/// one timeout-sweep interval (at most 1 s) old on an idle one. Merge loops with
/// [`LoopStats::merge`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Sessions open now.
    pub sessions_live: u64,
    /// Sessions taken on (accepted or adopted) since start: every connection the loop holds
    /// as a session, whether or not it reaches the handler (a WebSocket upgrade or an HTTP
    /// request for the page, a connection waiting for its PROXY header, a health check; a
    /// connection from an untrusted proxy is counted and closed at once). Each is closed
    /// exactly once, under one reason in [`LoopStats::closed`], so at any moment
    /// `accepted == sessions_live + closed_total()` (up to the publication lag of a loop).
    /// Connections refused at accept by the session caps never become sessions: they are
    /// counted in [`LoopStats::refused`] only.
    pub accepted: u64,
    /// Connections refused by the session caps since start: at accept (never sessions), or
    /// once a PROXY header named a client over its caps (then also closed, with
    /// [`CloseReason::Refused`]).
    pub refused: u64,
    /// Sessions closed since start, by [`CloseReason::index`] (names in [`CloseReason::NAMES`]):
    /// one per session counted in [`LoopStats::accepted`].
    pub closed: [u64; CloseReason::NAMES.len()],
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes of `bytes_in` read after a session began closing and thrown away unseen (a
    /// lingering close reads on so that unread input cannot reset the connection). Every
    /// other byte received reaches the handler: `bytes_in - bytes_discarded` is what
    /// handlers were shown (or still hold as a partial message).
    pub bytes_discarded: u64,
    /// Bytes the kernel accepted for sending.
    pub bytes_out: u64,
    /// Whole packets decoded (packet services).
    pub packets_in: u64,
    /// Packets serialized with [`PacketContext::packet`](crate::packet::PacketContext::packet) (a broadcast counts once).
    pub packets_out: u64,
    /// Bytes owed to peers over all sessions now, queued or in flight (gauge).
    pub send_queue_bytes: u64,
    /// Largest send queue any one session has had (high-water mark, bytes).
    pub send_queue_high_water: u64,
    /// Times accepting was paused because `accept` failed: out of file descriptors / memory,
    /// or an unexpected error (logged).
    pub accept_pauses: u64,
    /// Sends to a session of another loop dropped because that loop's inbox was over
    /// `ServiceConfig::mailbox_limit` ([`SendError::LoopBehind`](crate::SendError::LoopBehind)).
    pub mailbox_refused: u64,
    /// Event loop iterations (kernel waits) since start.
    pub iterations: u64,
    /// Most bytes one session held unseen in its receive buffer because they arrived while
    /// its reading was paused (a completion driver's receives in flight at the pause).
    pub recv_held_high_water: u64,
    /// The I/O model's own counters, by name: io_uring's `recv_buffers_exhausted` (receives
    /// that found no free provided buffer; re-armed), `submit_queue_full` (the submission
    /// queue was full and submitted early), `completion_overflows` (completions flushed from
    /// the kernel after the completion queue overflowed; none lost). Empty for epoll.
    pub driver: Vec<(&'static str, u64)>,
}

impl LoopStats {
    /// Adds `other` into `self`: counters and gauges are summed, the high-water mark is the max.
    pub fn merge(&mut self, other: &LoopStats) {
        self.sessions_live += other.sessions_live;
        self.accepted += other.accepted;
        self.refused += other.refused;
        for (mine, theirs) in self.closed.iter_mut().zip(&other.closed) {
            *mine += theirs;
        }
        self.bytes_in += other.bytes_in;
        self.bytes_discarded += other.bytes_discarded;
        self.bytes_out += other.bytes_out;
        self.packets_in += other.packets_in;
        self.packets_out += other.packets_out;
        self.send_queue_bytes += other.send_queue_bytes;
        self.send_queue_high_water = self.send_queue_high_water.max(other.send_queue_high_water);
        self.accept_pauses += other.accept_pauses;
        self.mailbox_refused += other.mailbox_refused;
        self.recv_held_high_water = self.recv_held_high_water.max(other.recv_held_high_water);
        for &(name, value) in &other.driver {
            match self.driver.iter_mut().find(|(n, _)| *n == name) {
                Some((_, mine)) => *mine += value,
                None => self.driver.push((name, value)),
            }
        }
        self.iterations += other.iterations;
    }

    /// The driver counter named `name` (0 if this model has none of that name).
    pub fn driver_counter(&self, name: &str) -> u64 {
        self.driver
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |&(_, v)| v)
    }

    /// Sessions closed with the reason named `name` (see [`CloseReason::NAMES`]).
    pub fn closed_by(&self, name: &str) -> u64 {
        CloseReason::NAMES
            .iter()
            .position(|n| *n == name)
            .map_or(0, |i| self.closed[i])
    }

    /// `(reason name, count)` for every reason.
    pub fn closed_by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        CloseReason::NAMES
            .iter()
            .copied()
            .zip(self.closed.iter().copied())
    }

    /// Total sessions closed.
    pub fn closed_total(&self) -> u64 {
        self.closed.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_sums_counters_and_maxes_the_high_water_mark() {
        let mut a = LoopStats {
            accepted: 2,
            bytes_in: 10,
            send_queue_high_water: 7,
            ..Default::default()
        };
        a.closed[CloseReason::Reset.index()] = 1;
        let mut b = LoopStats {
            accepted: 3,
            bytes_in: 5,
            send_queue_high_water: 4,
            ..Default::default()
        };
        b.closed[CloseReason::Reset.index()] = 2;
        a.merge(&b);
        assert_eq!(a.accepted, 5);
        assert_eq!(a.bytes_in, 15);
        assert_eq!(a.send_queue_high_water, 7);
        assert_eq!(a.closed_by("reset"), 3);
        assert_eq!(a.closed_total(), 3);
        assert_eq!(a.closed_by("no_such_reason"), 0);
    }
}
