//! `--metrics ADDR`: the Prometheus exporter, `http://ADDR/metrics` in the text format 0.0.4.
//!
//! The event loops never see a scrape. Each loop counts into plain fields of its own and
//! publishes a copy about every 100 ms ([`LoopStats`]); a scrape reads those copies with
//! `Service::stats`, on the exporter's thread, and encodes them with `prometheus-client`.
//! Nothing is shared per message: the hot path has no atomic and no lock for metrics.
//!
//! | metric (all prefixed `gameserver_`)               | type    | from [`LoopStats`]       |
//! |---------------------------------------------------|---------|--------------------------|
//! | `sessions_live`                                   | gauge   | `sessions_live`          |
//! | `sessions_accepted_total`                         | counter | `accepted`               |
//! | `sessions_refused_total`                          | counter | `refused`                |
//! | `sessions_closed_total{reason}`                   | counter | `closed` (`CloseReason::NAMES`) |
//! | `received_bytes_total`, `sent_bytes_total`        | counter | `bytes_in`, `bytes_out`  |
//! | `discarded_bytes_total`                           | counter | `bytes_discarded`        |
//! | `packets_received_total`, `packets_sent_total`    | counter | `packets_in`, `packets_out` |
//! | `send_queue_bytes`                                | gauge   | `send_queue_bytes`       |
//! | `send_queue_high_water_bytes`                     | gauge   | `send_queue_high_water`  |
//! | `accept_pauses_total`                             | counter | `accept_pauses`          |
//! | `mailbox_refused_total`                           | counter | `mailbox_refused`        |
//! | `event_loop_iterations_total{loop}`               | counter | `iterations`, per loop   |
//!
//! All but the last are merged over the loops ([`LoopStats::merge`]: sums, and the largest
//! high-water mark). The session counters balance: every session counted in
//! `sessions_accepted_total` (a game client, but also a WebSocket upgrade, an HTTP request for
//! the chat page, a connection behind a PROXY header) is closed exactly once under one reason,
//! so `sessions_accepted_total == sessions_live + sum(sessions_closed_total)`. A connection
//! the session caps refuse at accept never becomes a session: it is in
//! `sessions_refused_total` only. With `--cluster`, the backplane's `gameserver_cluster_*` series follow
//! (listed in `gameserver::cluster::ClusterStats`'s module); in packet mode the rooms'
//! `gameserver_room*` and, with `--game arena`, the arena's `gameserver_arena_*` series
//! (`rooms_metrics.rs`); with `--auth-secret`, `gameserver_logins_total{result}` (the results
//! of HELLOs: `gameserver::login::RESULTS`) and `gameserver_players_online`.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::sync::Arc;

use gameserver::cluster::{ClusterSnapshot, ClusterStats};
use gameserver::login::{Login, LoginStats, Players};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use servercore::LoopStats;

/// A collector beside the loops' stats (the backplane's, the rooms'), made fresh for each
/// scrape from what it reads.
pub(crate) type Extra = Box<dyn Fn() -> Box<dyn Collector> + Send + Sync>;

/// The backplane's series (`--cluster`).
pub(crate) fn cluster_extra(stats: Arc<ClusterStats>) -> Extra {
    Box::new(move || Box::new(ClusterSnapshot(stats.clone())))
}

/// The connect tokens' series (`--auth-secret`).
pub(crate) fn login_extra(login: &Login) -> Extra {
    let (stats, players) = (login.stats(), login.players());
    Box::new(move || Box::new(LoginMetrics(stats.clone(), players.clone())))
}

/// The login results and the players signed in, as of a scrape.
#[derive(Debug)]
struct LoginMetrics(Arc<LoginStats>, Arc<Players>);

impl Collector for LoginMetrics {
    fn encode(&self, mut out: DescriptorEncoder) -> Result<(), fmt::Error> {
        labelled_counter(
            &mut out,
            "logins",
            "HELLOs (connect tokens) by result: ok or refused (by reason); replaced counts the ok logins that replaced a session (also in ok).",
            "result",
            self.0.logins.all().map(|(r, n)| (r.to_string(), n)),
        )?;
        labelled_counter(
            &mut out,
            "resumes",
            "RESUMEs by result: ok (the seat taken back, the tail replayed) or refused (by reason).",
            "result",
            self.0.resumes.all().map(|(r, n)| (r.to_string(), n)),
        )?;
        labelled_counter(
            &mut out,
            "seats_lost",
            "Held seats released without a resume, by reason (the client is told SEAT_LOST).",
            "reason",
            self.0.seats_lost.all().map(|(r, n)| (r.to_string(), n)),
        )?;
        gauge(
            &mut out,
            "seats_held",
            "Seats whose connection dropped, held for a RESUME (--resume-window).",
            None,
            self.0.seats_held(),
        )?;
        gauge(
            &mut out,
            "players_online",
            "Players signed in on this instance.",
            None,
            self.1.online() as u64,
        )
    }
}

/// Prefix of every metric name.
const PREFIX: &str = "gameserver";
/// The one path served.
const PATH: &str = "/metrics";

/// The exporter's HTTP server: answers `GET /metrics` on the thread that calls
/// [`MetricsServer::serve`] (HTTP parsing runs on `tiny_http`'s own threads), until
/// [`MetricsServer::stop`].
pub(crate) struct MetricsServer {
    http: tiny_http::Server,
    addr: SocketAddr,
    stopping: AtomicBool,
}

impl fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MetricsServer {
    /// Listens on `addr` (port 0 picks a free port; see [`MetricsServer::url`]).
    ///
    /// # Errors
    /// The address cannot be bound (in use, not local, no permission).
    pub(crate) fn bind(addr: SocketAddr) -> anyhow::Result<MetricsServer> {
        let http = tiny_http::Server::http(addr)
            .map_err(|err| anyhow::anyhow!("cannot serve metrics on {addr}: {err}"))?;
        let addr = http.server_addr().to_ip().unwrap_or(addr);
        Ok(MetricsServer {
            http,
            addr,
            stopping: AtomicBool::new(false),
        })
    }

    /// Where to scrape: `http://ADDR/metrics`, with the bound port.
    pub(crate) fn url(&self) -> String {
        format!("http://{}{PATH}", self.addr)
    }

    /// Answers requests until [`MetricsServer::stop`]; `stats` and each of `extras` are
    /// called once per scrape.
    pub(crate) fn serve(&self, stats: impl Fn() -> Vec<LoopStats>, extras: &[Extra]) {
        loop {
            match self.http.recv() {
                Ok(request) => answer(request, &stats, extras),
                Err(_) if self.stopping.load(Ordering::Acquire) => return,
                Err(err) => {
                    // An accept error (e.g. out of file descriptors): not fatal, do not spin.
                    tracing::warn!("metrics server: {err}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// Makes [`MetricsServer::serve`] return (at once if it is waiting, or as soon as it is
    /// called).
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.http.unblock();
    }
}

/// Serves one request: the metrics for `GET`/`HEAD /metrics`, 404 or 405 otherwise.
fn answer(request: tiny_http::Request, stats: &impl Fn() -> Vec<LoopStats>, extras: &[Extra]) {
    use tiny_http::{Header, Method, Response};

    let path = request.url().split('?').next().unwrap_or_default();
    let response = if path != PATH {
        Response::from_string(format!("not found: try {PATH}\n")).with_status_code(404)
    } else if !matches!(request.method(), Method::Get | Method::Head) {
        Response::from_string("only GET and HEAD\n").with_status_code(405)
    } else {
        match encode(stats(), extras) {
            Ok(body) => {
                let content_type =
                    Header::from_bytes("Content-Type", prometheus_text::CONTENT_TYPE)
                        .unwrap_or_else(|()| unreachable!("a constant, valid header"));
                Response::from_string(body).with_header(content_type)
            }
            Err(fmt::Error) => {
                Response::from_string("cannot encode metrics\n").with_status_code(500)
            }
        }
    };
    if let Err(err) = request.respond(response) {
        tracing::debug!("metrics response: {err}"); // the scraper went away
    }
}

/// Encodes one snapshot of every loop's stats (and of the `extras`: the backplane's, the
/// rooms') in the Prometheus text format.
///
/// # Errors
/// Only if a metric cannot be written (writing to a `String` does not fail).
pub(crate) fn encode(loops: Vec<LoopStats>, extras: &[Extra]) -> Result<String, fmt::Error> {
    let mut registry = Registry::with_prefix(PREFIX);
    registry.register_collector(Box::new(Snapshot::new(loops)));
    for extra in extras {
        registry.register_collector(extra());
    }
    let mut out = String::new();
    prometheus_text::encode(&mut out, &registry)?;
    Ok(out)
}

/// One scrape's figures: read once, encoded once (a collector, since the values are
/// absolute totals kept by the loops, not increments made here).
#[derive(Debug)]
struct Snapshot {
    loops: Vec<LoopStats>,
    total: LoopStats,
}

impl Snapshot {
    fn new(loops: Vec<LoopStats>) -> Snapshot {
        let mut total = LoopStats::default();
        for stats in &loops {
            total.merge(stats);
        }
        Snapshot { loops, total }
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut out: DescriptorEncoder) -> Result<(), fmt::Error> {
        let t = &self.total;
        let bytes = Unit::Bytes;
        gauge(
            &mut out,
            "sessions_live",
            "Sessions open now.",
            None,
            t.sessions_live,
        )?;
        counter(
            &mut out,
            "sessions_accepted",
            "Sessions taken on since start, whether or not they reached the game (WebSocket \
             upgrades and page requests too); each is closed once: accepted = live + closed.",
            None,
            t.accepted,
        )?;
        counter(
            &mut out,
            "sessions_refused",
            "Connections refused by the session caps (at accept: never sessions).",
            None,
            t.refused,
        )?;
        labelled_counter(
            &mut out,
            "sessions_closed",
            "Sessions closed since start, by close reason.",
            "reason",
            t.closed_by_reason()
                .map(|(reason, n)| (reason.to_string(), n)),
        )?;
        counter(
            &mut out,
            "received",
            "Bytes received.",
            Some(&bytes),
            t.bytes_in,
        )?;
        counter(
            &mut out,
            "discarded",
            "Bytes received after a session began closing, read and thrown away (lingering close).",
            Some(&bytes),
            t.bytes_discarded,
        )?;
        counter(
            &mut out,
            "sent",
            "Bytes the kernel accepted for sending.",
            Some(&bytes),
            t.bytes_out,
        )?;
        counter(
            &mut out,
            "packets_received",
            "Whole packets decoded (packet protocol).",
            None,
            t.packets_in,
        )?;
        counter(
            &mut out,
            "packets_sent",
            "Packets serialized; a room broadcast counts once.",
            None,
            t.packets_out,
        )?;
        gauge(
            &mut out,
            "send_queue",
            "Bytes queued for sending over all sessions now.",
            Some(&bytes),
            t.send_queue_bytes,
        )?;
        gauge(
            &mut out,
            "send_queue_high_water",
            "Largest send queue any one session has had.",
            Some(&bytes),
            t.send_queue_high_water,
        )?;
        counter(
            &mut out,
            "accept_pauses",
            "Times accepting paused because accept failed (out of descriptors or memory).",
            None,
            t.accept_pauses,
        )?;
        counter(
            &mut out,
            "mailbox_refused",
            "Sends to another loop's session dropped: that loop's inbox was over its limit.",
            None,
            t.mailbox_refused,
        )?;
        labelled_counter(
            &mut out,
            "event_loop_iterations",
            "Event loop iterations (kernel waits) since start, by loop.",
            "loop",
            self.loops
                .iter()
                .enumerate()
                .map(|(i, l)| (i.to_string(), l.iterations)),
        )?;
        Ok(())
    }
}

pub(crate) fn counter(
    out: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: u64,
) -> Result<(), fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(out.encode_descriptor(name, help, unit, metric.metric_type())?)
}

/// One counter family with a sample per `(label value, count)`.
pub(crate) fn labelled_counter(
    out: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &str,
    samples: impl Iterator<Item = (String, u64)>,
) -> Result<(), fmt::Error> {
    labelled(out, (name, help, label), samples, ConstCounter::new)
}

/// One family of the metrics `make` makes, with a sample per `(label value, value)`.
fn labelled<M: EncodeMetric>(
    out: &mut DescriptorEncoder<'_>,
    (name, help, label): (&str, &str, &str),
    samples: impl Iterator<Item = (String, u64)>,
    make: impl Fn(u64) -> M,
) -> Result<(), fmt::Error> {
    let mut family = out.encode_descriptor(name, help, None, make(0).metric_type())?;
    for (value, n) in samples {
        make(n).encode(family.encode_family(&[(label, value.as_str())])?)?;
    }
    Ok(())
}

pub(crate) fn gauge(
    out: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: u64,
) -> Result<(), fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(out.encode_descriptor(name, help, unit, metric.metric_type())?)
}

/// One gauge family with a sample per `(label value, value)`.
pub(crate) fn labelled_gauge(
    out: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &str,
    samples: impl Iterator<Item = (String, u64)>,
) -> Result<(), fmt::Error> {
    labelled(out, (name, help, label), samples, ConstGauge::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use servercore::CloseReason;

    /// The sample line of `series` (`name` or `name{labels}`), as a number.
    fn sample(text: &str, series: &str) -> Option<u64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|value| value.parse().ok())
    }

    fn two_loops() -> Vec<LoopStats> {
        let mut a = LoopStats {
            sessions_live: 2,
            accepted: 5,
            bytes_in: 100,
            bytes_out: 90,
            send_queue_bytes: 10,
            send_queue_high_water: 64,
            iterations: 7,
            ..Default::default()
        };
        a.closed[CloseReason::Reset.index()] = 1;
        let mut b = LoopStats {
            sessions_live: 1,
            accepted: 2,
            refused: 1,
            bytes_in: 11,
            packets_in: 3,
            packets_out: 4,
            send_queue_high_water: 128,
            accept_pauses: 1,
            mailbox_refused: 5,
            iterations: 9,
            ..Default::default()
        };
        b.closed[CloseReason::Reset.index()] = 2;
        b.closed[CloseReason::PeerClosed.index()] = 4;
        vec![a, b]
    }

    #[test]
    fn merges_loops_and_names_every_series() {
        let text = encode(two_loops(), &[]).unwrap();
        let want = [
            ("gameserver_sessions_live", 3),
            ("gameserver_sessions_accepted_total", 7),
            ("gameserver_sessions_refused_total", 1),
            ("gameserver_sessions_closed_total{reason=\"reset\"}", 3),
            (
                "gameserver_sessions_closed_total{reason=\"peer_closed\"}",
                4,
            ),
            ("gameserver_sessions_closed_total{reason=\"shutdown\"}", 0),
            ("gameserver_received_bytes_total", 111),
            ("gameserver_sent_bytes_total", 90),
            ("gameserver_packets_received_total", 3),
            ("gameserver_packets_sent_total", 4),
            ("gameserver_send_queue_bytes", 10),
            ("gameserver_send_queue_high_water_bytes", 128),
            ("gameserver_accept_pauses_total", 1),
            ("gameserver_mailbox_refused_total", 5),
            ("gameserver_event_loop_iterations_total{loop=\"0\"}", 7),
            ("gameserver_event_loop_iterations_total{loop=\"1\"}", 9),
        ];
        for (series, value) in want {
            assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
        }
    }

    #[test]
    fn every_close_reason_is_a_series_with_help_and_type() {
        let text = encode(vec![LoopStats::default()], &[]).unwrap();
        for reason in CloseReason::NAMES {
            let series = format!("gameserver_sessions_closed_total{{reason=\"{reason}\"}}");
            assert_eq!(sample(&text, &series), Some(0), "{series}");
        }
        assert!(text.contains("# TYPE gameserver_sessions_closed_total counter\n"));
        assert!(text.contains("# TYPE gameserver_sessions_live gauge\n"));
        assert!(text.contains("# HELP gameserver_sent_bytes_total "));
    }

    #[test]
    fn cluster_series_follow_when_clustered() {
        let cluster = Arc::new(ClusterStats::new("node-7"));
        let text = encode(vec![LoopStats::default()], &[cluster_extra(cluster)]).unwrap();
        let want = [
            ("gameserver_cluster_node_info{node=\"node-7\"}", 1),
            ("gameserver_cluster_backplane_up", 0),
            ("gameserver_cluster_connection_up{role=\"subscriber\"}", 0),
            ("gameserver_cluster_published_total", 0),
            (
                "gameserver_cluster_publish_dropped_total{reason=\"queue_full\"}",
                0,
            ),
            ("gameserver_cluster_gaps_total", 0),
            ("gameserver_cluster_deliver_latency_seconds_count", 0),
        ];
        for (series, value) in want {
            assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
        }
        assert!(text.contains("# TYPE gameserver_cluster_deliver_latency_seconds histogram\n"));
        let alone = encode(vec![LoopStats::default()], &[]).unwrap();
        assert!(
            !alone.contains("cluster"),
            "no cluster series without --cluster"
        );
    }

    #[test]
    fn serves_metrics_and_refuses_other_paths() {
        use std::io::{Read, Write};

        let server = MetricsServer::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        assert!(server.url().ends_with("/metrics"));
        let get = |path: &str| {
            let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
            write!(
                stream,
                "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            response
        };
        std::thread::scope(|s| {
            s.spawn(|| server.serve(two_loops, &[]));
            let ok = get("/metrics");
            assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
            assert!(ok.contains("version=0.0.4"), "{ok}");
            assert!(ok.contains("gameserver_sessions_live 3\n"), "{ok}");
            let missing = get("/");
            assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
            server.stop();
        });
    }
}
