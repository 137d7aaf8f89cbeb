//! [`LoginStats`]: how HELLOs and RESUMEs ended and why seats were lost, for
//! `gameserver_logins_total{result}`, `gameserver_resumes_total{result}`,
//! `gameserver_seats_lost_total{reason}` and `gameserver_seats_held` (the exporter's
//! `metrics.rs` encodes them, with the players signed in).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

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

/// Every result a RESUME can have.
pub const RESUME_RESULTS: [&str; 6] = [
    "ok",
    "malformed",
    "off",
    "no_seat",
    "bad_ticket",
    "bad_position",
];

/// Every reason a seat can be lost for.
pub const SEAT_LOSSES: [&str; 5] = ["expired", "overflow", "replaced", "closed", "bad_position"];

/// Counters by name, one per name of a fixed list.
#[derive(Debug)]
pub struct Tally {
    names: &'static [&'static str],
    values: Box<[AtomicU64]>,
}

impl Tally {
    /// A counter per name of `names`, at zero.
    pub fn new(names: &'static [&'static str]) -> Tally {
        Tally {
            names,
            values: names.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Counts one `name` (a name of the list).
    pub fn count(&self, name: &str) {
        let index = self
            .names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| unreachable!("{name} is listed"));
        self.values[index].fetch_add(1, Ordering::Relaxed);
    }

    /// The count of `name` (0 for a name not listed).
    pub fn get(&self, name: &str) -> u64 {
        self.names
            .iter()
            .position(|n| *n == name)
            .map_or(0, |i| self.values[i].load(Ordering::Relaxed))
    }

    /// (name, count) for every name, in order.
    pub fn all(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.names.iter().map(|&n| (n, self.get(n)))
    }
}

/// The login and resume counters of an instance.
#[derive(Debug)]
pub struct LoginStats {
    /// HELLOs by result ([`RESULTS`]).
    pub logins: Tally,
    /// RESUMEs by result ([`RESUME_RESULTS`]).
    pub resumes: Tally,
    /// Seats lost by reason ([`SEAT_LOSSES`]).
    pub seats_lost: Tally,
    /// Seats whose connection is gone and not yet resumed.
    held: AtomicI64,
}

impl Default for LoginStats {
    fn default() -> LoginStats {
        LoginStats {
            logins: Tally::new(&RESULTS),
            resumes: Tally::new(&RESUME_RESULTS),
            seats_lost: Tally::new(&SEAT_LOSSES),
            held: AtomicI64::new(0),
        }
    }
}

impl LoginStats {
    /// Counts one login ending with `result` (a name of [`RESULTS`]).
    pub fn count(&self, result: &str) {
        self.logins.count(result);
    }

    /// Logins that ended with `result`.
    pub fn get(&self, result: &str) -> u64 {
        self.logins.get(result)
    }

    /// A seat's connection went (+1) or came back or the seat ended (-1).
    pub fn held(&self, change: i64) {
        self.held.fetch_add(change, Ordering::Relaxed);
    }

    /// Seats held now, without a connection.
    pub fn seats_held(&self) -> u64 {
        self.held.load(Ordering::Relaxed).max(0) as u64
    }
}
