//! [`LoginStats`]: how HELLOs ended, for `gameserver_logins_total{result}` (the exporter's
//! `metrics.rs` encodes them, with the players signed in).

use std::sync::atomic::{AtomicU64, Ordering};

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
