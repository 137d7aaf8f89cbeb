//! [`Stats`]: what one event loop of the load generator counted; [`Report`]: the merged
//! result of a run, printed for people or as one line of JSON.

use std::collections::BTreeMap;
use std::fmt;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histogram tells apart: one hour, in microseconds (higher values are
/// recorded as this).
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Counts and latencies of one event loop (one handler), merged into one for the report.
/// No globals: each loop owns its `Stats`, and [`Stats::merge`] adds them up at the end.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Messages sent.
    pub sent: u64,
    /// Echoes received intact (in order or not): the verified messages.
    pub messages: u64,
    /// Bytes of the verified messages (header included).
    pub bytes: u64,
    /// Latency (send to echo) of every verified message, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Echoes whose header or pattern differed from what was sent.
    pub corrupt: u64,
    /// Intact echoes whose sequence number was not the one expected next.
    pub out_of_order: u64,
    /// Messages sent and never echoed (counted when the client closes).
    pub lost: u64,
    /// Sessions the server closed (or that failed) before the run ended.
    pub disconnects: u64,
    /// Disconnects by `CloseReason::name`.
    pub disconnect_reasons: BTreeMap<&'static str, u64>,
    /// Open loop: scheduled sends skipped because the client was too far behind.
    pub late_sends: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            sent: 0,
            messages: 0,
            bytes: 0,
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
            corrupt: 0,
            out_of_order: 0,
            lost: 0,
            disconnects: 0,
            disconnect_reasons: BTreeMap::new(),
            late_sends: 0,
        }
    }
}

impl Stats {
    /// Empty stats.
    pub fn new() -> Stats {
        Stats::default()
    }

    /// Records one verified echo of `bytes` bytes that took `latency_nanos`.
    pub fn record_echo(&mut self, bytes: usize, latency_nanos: u64) {
        self.messages += 1;
        self.bytes += bytes as u64;
        self.latency_us.saturating_record(latency_nanos / 1000);
    }

    /// Adds `other` (another loop's stats) into `self`.
    pub fn merge(&mut self, other: &Stats) {
        self.sent += other.sent;
        self.messages += other.messages;
        self.bytes += other.bytes;
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms with equal bounds merge");
        self.corrupt += other.corrupt;
        self.out_of_order += other.out_of_order;
        self.lost += other.lost;
        self.disconnects += other.disconnects;
        for (reason, n) in &other.disconnect_reasons {
            *self.disconnect_reasons.entry(reason).or_default() += n;
        }
        self.late_sends += other.late_sends;
    }

    /// The sum of the counts that mean the server got something wrong: corrupt, out of order,
    /// lost, disconnects.
    pub fn errors(&self) -> u64 {
        self.corrupt + self.out_of_order + self.lost + self.disconnects
    }
}

/// How the run was set up, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// Server address.
    pub addr: String,
    /// Clients (connections).
    pub clients: usize,
    /// Bytes per message.
    pub size: usize,
    /// `"closed"` (inflight) or `"open"` (rate).
    pub mode: &'static str,
    /// Closed loop: messages each client keeps outstanding.
    pub inflight: Option<usize>,
    /// Open loop: total messages per second asked for.
    pub rate: Option<u64>,
    /// Event loops of the client.
    pub threads: usize,
    /// The client's I/O model.
    pub model: String,
    /// Seconds spent sending (the throughput denominator).
    pub duration_secs: f64,
    /// Seconds it took to connect every client.
    pub connect_secs: f64,
    /// Failed connect attempts that were retried (serialized once, as the report's own
    /// `connect_failures`).
    #[serde(skip)]
    pub connect_failures: u64,
}

/// The result of a run: throughput, latency percentiles and every error count. Serializes
/// to the one-line JSON of `--json`; `Display` is the human report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Verified echoes.
    pub messages: u64,
    /// Messages sent.
    pub sent: u64,
    /// Verified echoes per second of sending.
    pub msgs_per_sec: f64,
    /// Echoed bytes per second (one direction, header included), in 10^6 bytes.
    pub mb_per_sec: f64,
    /// Latency percentiles and maximum, microseconds.
    pub p50_us: u64,
    /// 90th percentile latency, microseconds.
    pub p90_us: u64,
    /// 99th percentile latency, microseconds.
    pub p99_us: u64,
    /// 99.9th percentile latency, microseconds.
    pub p999_us: u64,
    /// Highest latency, microseconds.
    pub max_us: u64,
    /// Mean latency, microseconds.
    pub mean_us: f64,
    /// corrupt + out_of_order + lost + disconnects.
    pub errors: u64,
    /// See [`Stats::corrupt`].
    pub corrupt: u64,
    /// See [`Stats::out_of_order`].
    pub out_of_order: u64,
    /// See [`Stats::lost`].
    pub lost: u64,
    /// See [`Stats::disconnects`].
    pub disconnects: u64,
    /// Disconnects by reason.
    pub disconnect_reasons: BTreeMap<&'static str, u64>,
    /// Failed connect attempts that were retried (every client did connect in the end).
    pub connect_failures: u64,
    /// See [`Stats::late_sends`].
    pub late_sends: u64,
    /// How the run was set up.
    #[serde(flatten)]
    pub info: RunInfo,
}

impl Report {
    /// Summarizes merged `stats` of a run set up as `info`.
    pub fn new(stats: &Stats, info: RunInfo) -> Report {
        let secs = info.duration_secs.max(1e-9);
        let h = &stats.latency_us;
        let empty = h.is_empty();
        let q = |quantile: f64| {
            if empty {
                0
            } else {
                h.value_at_quantile(quantile)
            }
        };
        Report {
            messages: stats.messages,
            sent: stats.sent,
            msgs_per_sec: stats.messages as f64 / secs,
            mb_per_sec: stats.bytes as f64 / secs / 1e6,
            p50_us: q(0.50),
            p90_us: q(0.90),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: if empty { 0 } else { h.max() },
            mean_us: if empty { 0.0 } else { h.mean() },
            errors: stats.errors(),
            corrupt: stats.corrupt,
            out_of_order: stats.out_of_order,
            lost: stats.lost,
            disconnects: stats.disconnects,
            disconnect_reasons: stats.disconnect_reasons.clone(),
            connect_failures: info.connect_failures,
            late_sends: stats.late_sends,
            info,
        }
    }

    /// True if the run found no error and verified at least one message.
    pub fn passed(&self) -> bool {
        self.errors == 0 && self.messages > 0
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report serializes")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.info;
        let mode = match (i.inflight, i.rate) {
            (_, Some(rate)) => format!("open loop, {rate} msgs/s in total"),
            (Some(k), None) => format!("closed loop, {k} in flight per client"),
            (None, None) => i.mode.to_string(),
        };
        writeln!(
            f,
            "dummyclient -> {}: {} clients, {}-byte messages, {mode}",
            i.addr, i.clients, i.size
        )?;
        writeln!(
            f,
            "  client      {} event loops ({}), connected in {:.2} s",
            i.threads, i.model, i.connect_secs
        )?;
        writeln!(
            f,
            "  messages    {} echoed and verified of {} sent in {:.2} s",
            self.messages, self.sent, i.duration_secs
        )?;
        writeln!(
            f,
            "  throughput  {:.0} msgs/s, {:.2} MB/s (echoed bytes, one direction, 1 MB = 10^6 B)",
            self.msgs_per_sec, self.mb_per_sec
        )?;
        writeln!(
            f,
            "  latency us  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {:.1})",
            self.p50_us, self.p90_us, self.p99_us, self.p999_us, self.max_us, self.mean_us
        )?;
        writeln!(
            f,
            "  connect     {} failed attempts (retried)",
            self.connect_failures
        )?;
        if i.rate.is_some() {
            writeln!(
                f,
                "  late sends  {} (skipped: client too far behind schedule)",
                self.late_sends
            )?;
        }
        write!(
            f,
            "  errors      {}: corrupt {}, out_of_order {}, lost {}, disconnects {}",
            self.errors, self.corrupt, self.out_of_order, self.lost, self.disconnects
        )?;
        if !self.disconnect_reasons.is_empty() {
            let reasons: Vec<String> = self
                .disconnect_reasons
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            write!(f, " ({})", reasons.join(", "))?;
        }
        writeln!(f)?;
        let verdict = if self.passed() {
            "PASS"
        } else if self.messages == 0 {
            "FAIL: no message was verified"
        } else {
            "FAIL: errors"
        };
        write!(f, "  result      {verdict}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RunInfo {
        RunInfo {
            addr: "127.0.0.1:7777".into(),
            clients: 2,
            size: 64,
            mode: "closed",
            inflight: Some(1),
            rate: None,
            threads: 1,
            model: "epoll".into(),
            duration_secs: 2.0,
            connect_secs: 0.0,
            connect_failures: 0,
        }
    }

    #[test]
    fn merge_adds_counts_and_latencies() {
        let mut a = Stats::new();
        a.record_echo(64, 10_000);
        a.corrupt = 1;
        a.disconnect_reasons.insert("reset", 1);
        let mut b = Stats::new();
        b.record_echo(64, 30_000);
        b.lost = 2;
        b.disconnect_reasons.insert("reset", 2);
        a.merge(&b);
        assert_eq!(a.messages, 2);
        assert_eq!(a.bytes, 128);
        assert_eq!(a.latency_us.len(), 2);
        assert_eq!(a.latency_us.max(), 30);
        assert_eq!(a.errors(), 3);
        assert_eq!(a.disconnect_reasons["reset"], 3);
    }

    #[test]
    fn report_rates_percentiles_and_json() {
        let mut s = Stats::new();
        for us in 1..=1000 {
            s.record_echo(64, us * 1000);
        }
        let r = Report::new(&s, info());
        assert_eq!(r.msgs_per_sec, 500.0);
        assert!((r.mb_per_sec - 1000.0 * 64.0 / 2.0 / 1e6).abs() < 1e-9);
        assert_eq!(r.p50_us, 500);
        assert_eq!(r.max_us, 1000);
        assert!(r.passed());
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        for key in [
            "messages",
            "msgs_per_sec",
            "p999_us",
            "errors",
            "late_sends",
            "clients",
            "duration_secs",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        assert!(!r.to_json().contains('\n'));
        assert_eq!(
            r.to_json().matches("\"connect_failures\"").count(),
            1,
            "no duplicate keys"
        );
        assert!(r.to_string().contains("PASS"));
    }

    #[test]
    fn nothing_verified_fails() {
        let r = Report::new(&Stats::new(), info());
        assert!(!r.passed());
        assert_eq!(r.p99_us, 0);
        assert!(r.to_string().contains("no message was verified"));
    }
}
