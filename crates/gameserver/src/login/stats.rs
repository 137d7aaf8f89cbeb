//! [`LoginStats`]: how HELLOs ended, for `gameserver_logins_total{result}` and the players
//! signed in (`gameserver_players_online`).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::login::Players;

/// Every result a login can have, in the counters' order.
pub const RESULTS: [&str; 11] = [
    "ok",
    "replaced",
    "malformed",
    "bad_signature",
    "expired",
    "bad_player",
    "wrong_audience",
    "no_hello",
    "not_hello_first",
    "signed_in",
    "too_many_logins",
];

/// Counters of login results (index: [`RESULTS`]).
#[derive(Debug, Default)]
pub struct LoginStats {
    results: [AtomicU64; RESULTS.len()],
}

impl LoginStats {
    /// Counts one login ending with `result` (a name of [`RESULTS`]).
    pub fn count(&self, result: &str) {
        let index = RESULTS
            .iter()
            .position(|r| *r == result)
            .unwrap_or_else(|| unreachable!("{result} is listed"));
        self.results[index].fetch_add(1, Ordering::Relaxed);
    }

    /// Logins that ended with `result`.
    pub fn get(&self, result: &str) -> u64 {
        RESULTS
            .iter()
            .position(|r| *r == result)
            .map_or(0, |i| self.results[i].load(Ordering::Relaxed))
    }
}

/// The login series as of now (registered per scrape by the exporter).
#[derive(Debug)]
pub struct LoginSnapshot(pub Arc<LoginStats>, pub Arc<Players>);

impl Collector for LoginSnapshot {
    fn encode(&self, mut out: DescriptorEncoder) -> Result<(), fmt::Error> {
        let mut logins = out.encode_descriptor(
            "logins",
            "HELLOs (connect tokens) by result: ok or refused (by reason); replaced counts the ok logins that replaced a session (also in ok).",
            None,
            ConstCounter::new(0u64).metric_type(),
        )?;
        for result in RESULTS {
            ConstCounter::new(self.0.get(result))
                .encode(logins.encode_family(&[("result", result)])?)?;
        }
        let online = i64::try_from(self.1.online()).unwrap_or(i64::MAX);
        ConstGauge::new(online).encode(out.encode_descriptor(
            "players_online",
            "Players signed in on this instance.",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?)
    }
}
