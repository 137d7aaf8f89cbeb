//! [`Verdict`]: what a verifier made of one received message; [`Stats`]: what one event loop
//! of the load generator counted; [`Report`]: the merged result of a run, printed for people
//! or as one line of JSON.
//!
//! Both scenarios share them: an echo and a chat broadcast are each one received message with
//! a verdict, a latency (send to receipt) and a size.

use std::collections::BTreeMap;
use std::fmt;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::resume_stats::{ResumeReport, ResumeStats};
use crate::timeline::{Timeline, TimelinePoint};
use crate::wire::Farewell;

/// Highest latency the histogram tells apart: one hour, in microseconds (higher values are
/// recorded as this).
pub(crate) const MAX_LATENCY_US: u64 = 3_600_000_000;

/// What a verifier made of one received message (an echo, or a chat broadcast).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Intact, and the next message due from its sender.
    InOrder {
        /// Nanoseconds from send to receipt.
        latency_nanos: u64,
    },
    /// Intact and owed, but not the one due: a message before it was skipped (it may still
    /// come) or it came late.
    OutOfOrder {
        /// Nanoseconds from send to receipt.
        latency_nanos: u64,
    },
    /// Intact, but already received once.
    Duplicate,
    /// Not a message that was sent: header or body bytes differ, or it came from the wrong
    /// sender or as the wrong packet.
    Corrupt,
}

/// Counts and latencies of one event loop (one handler), merged into one for the report.
/// No globals: each loop owns its `Stats`, and [`Stats::merge`] adds them up at the end.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Messages sent (echo requests, or chats).
    pub sent: u64,
    /// Messages received (echoes, or chat broadcasts), whatever their verdict.
    pub deliveries: u64,
    /// Messages received intact and owed (in order or not): the verified messages.
    pub messages: u64,
    /// Bytes of the verified messages (header included).
    pub bytes: u64,
    /// Latency (send to receipt) of every verified message, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Messages whose header or pattern differed from what was sent.
    pub corrupt: u64,
    /// Intact messages whose sequence number was not the one expected next.
    pub out_of_order: u64,
    /// Intact messages received a second time.
    pub duplicates: u64,
    /// Messages owed and never received (counted when the run ends).
    pub lost: u64,
    /// Sessions the server closed (or that failed) before the run ended.
    pub disconnects: u64,
    /// Disconnects by `CloseReason::name`, or by the farewell the server sent first
    /// ([`Farewell::name`]).
    pub disconnect_reasons: BTreeMap<&'static str, u64>,
    /// A farewell the server sent before closing a client (the last one seen), for the hint
    /// at the end of a failed run.
    pub farewell: Option<Farewell>,
    /// Open loop: scheduled sends skipped because the client was too far behind.
    pub late_sends: u64,
    /// Verified messages per second of the run, for `--plot`.
    pub timeline: Timeline,
    /// The counts as they stood when sending ended (set once by each loop); the rates are
    /// taken over these, so replies that arrive during the drain do not inflate them.
    pub at_send_end: Option<Counts>,
    /// `--resume`: drops, resumes, replay and resend, lost seats.
    pub resume: ResumeStats,
}

/// The counts a rate is taken over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// As [`Stats::messages`].
    pub messages: u64,
    /// As [`Stats::deliveries`].
    pub deliveries: u64,
    /// As [`Stats::bytes`].
    pub bytes: u64,
    /// As [`Stats::sent`].
    pub sent: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            sent: 0,
            deliveries: 0,
            messages: 0,
            bytes: 0,
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
            corrupt: 0,
            out_of_order: 0,
            duplicates: 0,
            lost: 0,
            disconnects: 0,
            disconnect_reasons: BTreeMap::new(),
            farewell: None,
            late_sends: 0,
            timeline: Timeline::default(),
            at_send_end: None,
            resume: ResumeStats::default(),
        }
    }
}

impl Stats {
    /// Empty stats.
    pub fn new() -> Stats {
        Stats::default()
    }

    /// Empty stats that keep a per-second timeline only if `timeline` (it costs a second
    /// histogram record per message).
    pub fn with_timeline(timeline: bool) -> Stats {
        Stats {
            timeline: if timeline {
                Timeline::default()
            } else {
                Timeline::off()
            },
            ..Stats::default()
        }
    }

    /// Counts one received message of `bytes` bytes by its verdict.
    pub fn record(&mut self, verdict: Verdict, bytes: usize) {
        self.deliveries += 1;
        match verdict {
            Verdict::InOrder { latency_nanos } => self.record_message(bytes, latency_nanos),
            Verdict::OutOfOrder { latency_nanos } => {
                self.out_of_order += 1;
                self.record_message(bytes, latency_nanos);
            }
            Verdict::Duplicate => self.duplicates += 1,
            Verdict::Corrupt => self.corrupt += 1,
        }
    }

    /// Records one verified message of `bytes` bytes that took `latency_nanos`.
    pub fn record_message(&mut self, bytes: usize, latency_nanos: u64) {
        self.messages += 1;
        self.bytes += bytes as u64;
        self.latency_us.saturating_record(latency_nanos / 1000);
        self.timeline.record(bytes, latency_nanos / 1000);
    }

    /// Adds `other` (another loop's stats) into `self`.
    pub fn merge(&mut self, other: &Stats) {
        let (mine, theirs) = (self.counts_at_send_end(), other.counts_at_send_end());
        self.sent += other.sent;
        self.deliveries += other.deliveries;
        self.messages += other.messages;
        self.bytes += other.bytes;
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms with equal bounds merge");
        self.corrupt += other.corrupt;
        self.out_of_order += other.out_of_order;
        self.duplicates += other.duplicates;
        self.lost += other.lost;
        self.disconnects += other.disconnects;
        for (reason, n) in &other.disconnect_reasons {
            *self.disconnect_reasons.entry(reason).or_default() += n;
        }
        self.farewell = self.farewell.or(other.farewell);
        self.late_sends += other.late_sends;
        self.timeline.merge(&other.timeline);
        self.resume.merge(&other.resume);
        self.at_send_end = Some(Counts {
            messages: mine.messages + theirs.messages,
            deliveries: mine.deliveries + theirs.deliveries,
            bytes: mine.bytes + theirs.bytes,
            sent: mine.sent + theirs.sent,
        });
    }

    /// Sending has ended: the counts the rates are taken over are these, and the timeline's
    /// later messages are the drain.
    pub fn end_sending(&mut self) {
        self.at_send_end = Some(self.counts());
        self.timeline.end_sending();
    }

    /// The counts now (taken when sending ends: see [`Stats::at_send_end`]).
    pub fn counts(&self) -> Counts {
        Counts {
            messages: self.messages,
            deliveries: self.deliveries,
            bytes: self.bytes,
            sent: self.sent,
        }
    }

    /// The counts when sending ended, or now if it has not (the run was cut short).
    pub fn counts_at_send_end(&self) -> Counts {
        self.at_send_end.unwrap_or_else(|| self.counts())
    }

    /// The sum of the counts that mean the server got something wrong: corrupt, out of order,
    /// duplicates, lost, disconnects.
    pub fn errors(&self) -> u64 {
        self.corrupt + self.out_of_order + self.duplicates + self.lost + self.disconnects
    }
}

/// How the run was set up, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// Server address.
    pub addr: String,
    /// `"echo"` or `"chat"`.
    pub scenario: &'static str,
    /// `"raw"`, `"packet"`, or `"websocket"` (packets over WebSocket).
    pub protocol: &'static str,
    /// Over TLS (`--tls`).
    pub tls: bool,
    /// Clients (connections).
    pub clients: usize,
    /// Chat: rooms the clients are spread over.
    pub rooms: Option<usize>,
    /// Bytes per message (raw), or per packet body (packet).
    pub size: usize,
    /// `"closed"` (inflight) or `"open"` (rate; chat is always open).
    pub mode: &'static str,
    /// Closed loop: messages each client keeps outstanding.
    pub inflight: Option<usize>,
    /// Open loop: total messages per second asked for.
    pub rate: Option<u64>,
    /// Open loop: how long a client held due messages to send them together (`--send-batch-ms`).
    pub send_batch_ms: Option<f64>,
    /// Event loops of the client.
    pub threads: usize,
    /// The client's I/O model.
    pub model: String,
    /// Seconds spent sending (the throughput denominator).
    pub duration_secs: f64,
    /// Seconds it took to connect every client (and, for chat, to get every one into its
    /// room).
    pub connect_secs: f64,
    /// Failed connect attempts that were retried (serialized once, as the report's own
    /// `connect_failures`).
    #[serde(skip)]
    pub connect_failures: u64,
    /// `--resume`: the clients hold seats (reported as the report's own `resume`).
    #[serde(skip)]
    pub resume: Option<ResumeInfo>,
}

/// How `--resume` was run, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumeInfo {
    /// `--chaos`: drops per second (0: none).
    pub chaos_per_sec: u64,
    /// `--allow-seat-loss`.
    pub allow_seat_loss: bool,
}

impl RunInfo {
    /// The protocol as the report's first line says it: `raw`, or `raw over TLS`.
    fn protocol_label(&self) -> String {
        match self.tls {
            true => format!("{} over TLS", self.protocol),
            false => self.protocol.to_string(),
        }
    }

    fn is_chat(&self) -> bool {
        self.rooms.is_some()
    }
}

/// The result of a run: throughput, latency percentiles and every error count. Serializes
/// to the one-line JSON of `--json`; `Display` is the human report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Verified messages: echoes, or chat broadcasts received intact and first.
    pub messages: u64,
    /// Messages sent (echo requests, or chats).
    pub sent: u64,
    /// Messages received, whatever their verdict (chat: every `CHAT_BROADCAST`).
    pub deliveries: u64,
    /// Verified messages per second of sending.
    pub msgs_per_sec: f64,
    /// Messages received per second of sending.
    pub deliveries_per_sec: f64,
    /// Messages sent per second of sending.
    pub sends_per_sec: f64,
    /// Verified bytes per second (one direction; raw: whole messages, packet: bodies), in
    /// 10^6 bytes.
    pub mb_per_sec: f64,
    /// Latency (send to receipt; chat: fan-out) percentiles and maximum, microseconds.
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
    /// corrupt + out_of_order + duplicates + lost + disconnects, and with `--resume` its
    /// violations and lost seats (unless `--allow-seat-loss`).
    pub errors: u64,
    /// See [`Stats::corrupt`].
    pub corrupt: u64,
    /// See [`Stats::out_of_order`].
    pub out_of_order: u64,
    /// See [`Stats::duplicates`].
    pub duplicates: u64,
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
    /// Each second of the run (recorded for `--plot` and `--json-out`; left out of the JSON
    /// when not recorded): see [`Timeline::points`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelinePoint>,
    /// See [`Stats::farewell`].
    #[serde(skip)]
    pub farewell: Option<Farewell>,
    /// `--resume`: see [`ResumeReport`] (left out of the JSON without `--resume`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<ResumeReport>,
}

impl Report {
    /// Summarizes merged `stats` of a run set up as `info`.
    pub fn new(stats: &Stats, info: RunInfo) -> Report {
        let secs = info.duration_secs.max(1e-9);
        let window = stats.counts_at_send_end();
        let h = &stats.latency_us;
        let empty = h.is_empty();
        let q = |quantile: f64| {
            if empty {
                0
            } else {
                h.value_at_quantile(quantile)
            }
        };
        let resume = info
            .resume
            .map(|r| ResumeReport::new(&stats.resume, r.chaos_per_sec, r.allow_seat_loss));
        let resume_errors = resume.as_ref().map_or(0, ResumeReport::errors);
        Report {
            messages: stats.messages,
            sent: stats.sent,
            deliveries: stats.deliveries,
            msgs_per_sec: window.messages as f64 / secs,
            deliveries_per_sec: window.deliveries as f64 / secs,
            sends_per_sec: window.sent as f64 / secs,
            mb_per_sec: window.bytes as f64 / secs / 1e6,
            p50_us: q(0.50),
            p90_us: q(0.90),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: if empty { 0 } else { h.max() },
            mean_us: if empty { 0.0 } else { h.mean() },
            errors: stats.errors() + resume_errors,
            corrupt: stats.corrupt,
            out_of_order: stats.out_of_order,
            duplicates: stats.duplicates,
            lost: stats.lost,
            disconnects: stats.disconnects,
            disconnect_reasons: stats.disconnect_reasons.clone(),
            connect_failures: info.connect_failures,
            late_sends: stats.late_sends,
            timeline: stats.timeline.points(info.duration_secs),
            farewell: stats.farewell,
            resume,
            info,
        }
    }

    /// What to change when a run failed for a reason the server named or that has a usual
    /// cause (printed after the failure line).
    pub fn hints(&self) -> Vec<String> {
        let mut hints = Vec::new();
        if let Some(farewell) = self.farewell {
            hints.push(farewell.hint());
        } else if self.messages == 0 && self.disconnects > 0 && self.corrupt == 0 {
            hints.push(format!(
                "the server closed the clients before answering anything: does it speak \
                 --protocol {}? (gameserver --protocol packet closes raw bytes as a bad packet; \
                 its WebSocket port wants --websocket)",
                self.info.protocol
            ));
        }
        hints
    }

    /// True if the run found no error and verified at least one message.
    pub fn passed(&self) -> bool {
        self.errors == 0 && self.messages > 0
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report serializes")
    }

    /// The first line: what was run against what.
    fn fmt_setup(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.info;
        match (i.rooms, i.inflight, i.rate) {
            (Some(rooms), _, rate) => writeln!(
                f,
                "dummyclient -> {}: chat, {} clients in {rooms} rooms, {}-byte bodies, \
                 {} chats/s per client ({} protocol)",
                i.addr,
                i.clients,
                i.size,
                rate.unwrap_or(0) / i.clients.max(1) as u64,
                i.protocol_label()
            ),
            (None, inflight, rate) => {
                let mode = match (inflight, rate) {
                    (_, Some(rate)) => format!("open loop, {rate} msgs/s in total"),
                    (Some(k), None) => format!("closed loop, {k} in flight per client"),
                    (None, None) => i.mode.to_string(),
                };
                writeln!(
                    f,
                    "dummyclient -> {}: echo, {} clients, {}-byte messages ({} protocol), {mode}",
                    i.addr,
                    i.clients,
                    i.size,
                    i.protocol_label()
                )
            }
        }
    }

    /// The counts line: what was sent and received, named after the scenario.
    fn fmt_counts(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.info;
        if i.is_chat() {
            writeln!(
                f,
                "  {} chats sent, {} broadcasts received ({} verified) in {:.2} s",
                self.sent, self.deliveries, self.messages, i.duration_secs
            )
        } else {
            writeln!(
                f,
                "  {} messages echoed and verified of {} sent in {:.2} s",
                self.messages, self.sent, i.duration_secs
            )
        }
    }

    /// The table's rows: (section, figure, value). Figure names are one word each (the
    /// error kinds as in the JSON), so a row splits on whitespace into section words, the
    /// figure and the value.
    pub fn rows(&self) -> Vec<(&'static str, &'static str, String)> {
        let latency = if self.info.is_chat() {
            "fan-out µs"
        } else {
            "latency µs"
        };
        let mut rows = vec![
            ("throughput", "msgs/s", format!("{:.1}", self.msgs_per_sec)),
            ("", "MB/s", format!("{:.3}", self.mb_per_sec)),
        ];
        if self.info.is_chat() {
            rows.push((
                "",
                "deliveries/s",
                format!("{:.1}", self.deliveries_per_sec),
            ));
            rows.push(("", "sends/s", format!("{:.1}", self.sends_per_sec)));
        }
        rows.extend([
            (latency, "p50", self.p50_us.to_string()),
            ("", "p90", self.p90_us.to_string()),
            ("", "p99", self.p99_us.to_string()),
            ("", "p99.9", self.p999_us.to_string()),
            ("", "max", self.max_us.to_string()),
            ("", "mean", format!("{:.1}", self.mean_us)),
            ("errors", "corrupt", self.corrupt.to_string()),
            ("", "out_of_order", self.out_of_order.to_string()),
            ("", "lost", self.lost.to_string()),
            ("", "duplicates", self.duplicates.to_string()),
            ("", "disconnects", self.disconnects.to_string()),
            ("", "total", self.errors.to_string()),
            (
                "not errors",
                "connect_failures",
                self.connect_failures.to_string(),
            ),
            ("", "late_sends", self.late_sends.to_string()),
        ]);
        if let Some(resume) = &self.resume {
            rows.extend(resume.rows());
        }
        rows
    }

    /// The table of [`Report::rows`], values right-aligned.
    fn fmt_table(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = self.rows();
        let width = rows
            .iter()
            .map(|(_, _, v)| v.len())
            .max()
            .unwrap_or(0)
            .max(5);
        writeln!(f, "  {:<12} {:<16} {:>width$}", "", "figure", "value")?;
        for (section, figure, value) in &rows {
            writeln!(f, "  {section:<12} {figure:<16} {value:>width$}")?;
        }
        Ok(())
    }

    /// Disconnect reasons, if any.
    fn fmt_reasons(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.disconnect_reasons.is_empty() {
            let reasons: Vec<String> = self
                .disconnect_reasons
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            writeln!(f, "  disconnects by reason: {}", reasons.join(", "))?;
        }
        if let Some(resume) = self.resume.as_ref().filter(|r| r.seats_lost > 0) {
            let allowed = match resume.seat_loss_allowed {
                true => " (allowed: --allow-seat-loss)",
                false => "",
            };
            writeln!(
                f,
                "  seats lost by reason: {}{allowed}",
                resume.reasons_line()
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.info;
        self.fmt_setup(f)?;
        writeln!(
            f,
            "  client: {} event loops ({}), ready in {:.2} s",
            i.threads, i.model, i.connect_secs
        )?;
        self.fmt_counts(f)?;
        writeln!(f)?;
        self.fmt_table(f)?;
        self.fmt_reasons(f)?;
        let verdict = if self.passed() {
            "PASS"
        } else if self.messages == 0 {
            "FAIL: no message was verified"
        } else {
            "FAIL: errors"
        };
        write!(f, "  result: {verdict}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RunInfo {
        RunInfo {
            addr: "127.0.0.1:7777".into(),
            scenario: "echo",
            protocol: "raw",
            tls: false,
            clients: 2,
            rooms: None,
            size: 64,
            mode: "closed",
            inflight: Some(1),
            rate: None,
            send_batch_ms: None,
            threads: 1,
            model: "epoll".into(),
            duration_secs: 2.0,
            connect_secs: 0.0,
            connect_failures: 0,
            resume: None,
        }
    }

    #[test]
    fn merge_adds_counts_and_latencies() {
        let mut a = Stats::new();
        a.record_message(64, 10_000);
        a.corrupt = 1;
        a.disconnect_reasons.insert("reset", 1);
        let mut b = Stats::new();
        b.record_message(64, 30_000);
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
    fn rates_count_only_what_arrived_while_sending() {
        // Loop a saw sending end after 3 messages and verified 2 more in the drain; loop b
        // never saw it (its counts so far stand).
        let mut a = Stats::new();
        for _ in 0..3 {
            a.record_message(64, 1_000);
        }
        a.at_send_end = Some(a.counts());
        for _ in 0..2 {
            a.record_message(64, 1_000);
        }
        let mut b = Stats::new();
        b.record_message(64, 1_000);
        let mut merged = Stats::new();
        merged.merge(&a);
        merged.merge(&b);
        assert_eq!(merged.messages, 6, "every verified message is counted");
        assert_eq!(merged.counts_at_send_end().messages, 4);
        let r = Report::new(&merged, info()); // 2 s of sending
        assert_eq!(r.messages, 6);
        assert_eq!(r.msgs_per_sec, 2.0);
    }

    #[test]
    fn report_rates_percentiles_and_json() {
        let mut s = Stats::new();
        for us in 1..=1000 {
            s.record_message(64, us * 1000);
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
