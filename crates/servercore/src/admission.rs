//! [`Admission`]: who may open a session — the service-wide and per-source-IP caps.

use crate::AddressList;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why an accepted connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The service already holds `max_sessions` sessions.
    ServiceFull {
        /// The cap.
        max: usize,
    },
    /// This source already holds `max_sessions_per_ip` sessions.
    IpFull {
        /// The source: an IPv4 address, or an IPv6 /64 prefix.
        ip: IpAddr,
        /// The cap.
        max: usize,
    },
    /// This source opens sessions faster than `connect_rate_per_ip` allows.
    IpTooFast {
        /// The source: an IPv4 address, or an IPv6 /64 prefix.
        ip: IpAddr,
        /// New sessions a second it may open on average.
        per_sec: u32,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::ServiceFull { max } => write!(f, "server full ({max} sessions)"),
            Refusal::IpFull { ip, max } => write!(f, "too many sessions from {ip} (max {max})"),
            Refusal::IpTooFast { ip, per_sec } => {
                write!(f, "{ip} connects too fast (max {per_sec}/s)")
            }
        }
    }
}

/// The source a connection counts against: its IPv4 address (also when it arrives as an
/// IPv4-mapped IPv6 address), or the /64 prefix of its IPv6 address (one host or site
/// usually holds a whole /64, so counting single IPv6 addresses would cap nothing).
pub(crate) fn source_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// One source's sessions and its connect-rate bucket.
#[derive(Debug)]
struct Source {
    sessions: usize,
    /// New sessions it may still open at once (refilled at `connect_rate_per_ip` a second up
    /// to `max_sessions_per_ip`).
    tokens: f64,
    refilled: Instant,
}

/// The session caps, shared by every loop of a service. Checked once per accepted connection
/// (never per message): an atomic count for the service, a locked map of sources (see
/// [`source_of`]) with each one's session count and connect-rate bucket. Sessions the
/// application adopts ([`Service::adopt`](crate::Service::adopt)) are not subject to it: they
/// are not accepted from the network.
///
/// A source stays in the map while it has sessions or its bucket is refilling, so closing
/// and reconnecting does not reset its rate; the map is pruned once a second.
#[derive(Debug)]
pub(crate) struct Admission {
    max_sessions: usize,
    max_per_ip: usize,
    /// New sessions a second per source; 0: no limit.
    connect_rate: u32,
    total: AtomicUsize,
    sources: Mutex<Sources>,
    /// Sources exempt from the per-source cap and rate (`ServiceConfig::trusted_sources`).
    trusted: AddressList,
}

#[derive(Debug, Default)]
struct Sources {
    map: HashMap<IpAddr, Source>,
    next_prune: Option<Instant>,
}

impl Admission {
    /// The caps `config` sets, with its trusted sources.
    pub(crate) fn for_config(config: &crate::ServiceConfig) -> Admission {
        Admission::new(
            config.max_sessions,
            config.max_sessions_per_ip,
            config.connect_rate_per_ip,
        )
        .with_trusted(config.trusted_sources.clone())
    }

    pub(crate) fn new(max_sessions: usize, max_per_ip: usize, connect_rate: u32) -> Admission {
        Admission {
            max_sessions,
            max_per_ip,
            connect_rate,
            total: AtomicUsize::new(0),
            sources: Mutex::default(),
            trusted: AddressList::empty(),
        }
    }

    /// Exempts `trusted` from the per-source cap and rate (the service cap still applies).
    pub(crate) fn with_trusted(mut self, trusted: AddressList) -> Admission {
        self.trusted = trusted;
        self
    }

    /// Admits one session from `ip` at `now`, or says why not. Every `Ok` must be matched by
    /// one [`Admission::release`] when the session closes.
    pub(crate) fn admit(&self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        let max = self.max_sessions;
        if self.total.fetch_add(1, Ordering::AcqRel) >= max {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::ServiceFull { max });
        }
        if self.trusted.contains(ip) {
            return Ok(());
        }
        let result = self.admit_source(source_of(ip), now);
        if result.is_err() {
            self.total.fetch_sub(1, Ordering::AcqRel);
        }
        result
    }

    fn admit_source(&self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        let burst = self.max_per_ip as f64;
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        self.prune(&mut sources, now);
        let source = sources.map.entry(ip).or_insert(Source {
            sessions: 0,
            tokens: burst,
            refilled: now,
        });
        if source.sessions >= self.max_per_ip {
            return Err(Refusal::IpFull {
                ip,
                max: self.max_per_ip,
            });
        }
        if self.connect_rate > 0 {
            let elapsed = now.saturating_duration_since(source.refilled).as_secs_f64();
            source.tokens = (source.tokens + elapsed * f64::from(self.connect_rate)).min(burst);
            source.refilled = now;
            if source.tokens < 1.0 {
                return Err(Refusal::IpTooFast {
                    ip,
                    per_sec: self.connect_rate,
                });
            }
            source.tokens -= 1.0;
        }
        source.sessions += 1;
        Ok(())
    }

    /// Gives back what [`Admission::admit`] took for `ip`.
    pub(crate) fn release(&self, ip: IpAddr) {
        if self.trusted.contains(ip) {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let ip = source_of(ip);
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(source) = sources.map.get_mut(&ip) {
            if source.sessions == 0 {
                return; // not admitted here (e.g. refused), nothing to give back
            }
            source.sessions -= 1;
            if source.sessions == 0 && self.connect_rate == 0 {
                sources.map.remove(&ip);
            }
            self.total.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Drops sources with no session whose bucket has refilled (at most once a second).
    fn prune(&self, sources: &mut Sources, now: Instant) {
        if sources.next_prune.is_some_and(|at| now < at) {
            return;
        }
        sources.next_prune = Some(now + Duration::from_secs(1));
        let (rate, burst) = (f64::from(self.connect_rate), self.max_per_ip as f64);
        sources.map.retain(|_, s| {
            let elapsed = now.saturating_duration_since(s.refilled).as_secs_f64();
            s.sessions > 0 || s.tokens + elapsed * rate < burst
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn trusted_sources_skip_the_per_source_limits_but_not_the_service_cap() {
        let now = Instant::now();
        let trusted: AddressList = "127.0.0.0/8".parse().unwrap();
        let admission = Admission::new(5, 1, 1).with_trusted(trusted);
        for _ in 0..5 {
            admission.admit(ip(1), now).unwrap(); // five from one source, no rate either
        }
        assert!(matches!(
            admission.admit(ip(2), now),
            Err(Refusal::ServiceFull { max: 5 })
        ));
        admission.release(ip(1));
        admission.admit(ip(3), now).unwrap();
        let other = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..5 {
            admission.release(ip(1));
        }
        admission.admit(other, now).unwrap();
        assert!(matches!(
            admission.admit(other, now),
            Err(Refusal::IpFull { max: 1, .. })
        ));
    }

    impl Admission {
        fn admit_now(&self, ip: IpAddr) -> Result<(), Refusal> {
            self.admit(ip, Instant::now())
        }
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(source_of(a), source_of(b));
        assert_ne!(source_of(a), source_of(c));
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(source_of(mapped), IpAddr::from([10, 1, 2, 3]));
        let adm = Admission::new(100, 1, 0);
        assert!(adm.admit_now(a).is_ok());
        assert!(matches!(adm.admit_now(b), Err(Refusal::IpFull { .. })));
        assert!(adm.admit_now(c).is_ok());
    }

    #[test]
    fn reconnecting_does_not_reset_the_connect_rate() {
        let adm = Admission::new(100, 4, 2); // burst 4, then 2 a second
        let t0 = Instant::now();
        for _ in 0..4 {
            assert!(adm.admit(ip(1), t0).is_ok());
            adm.release(ip(1));
        }
        assert_eq!(
            adm.admit(ip(1), t0),
            Err(Refusal::IpTooFast {
                ip: ip(1),
                per_sec: 2
            }),
            "closing its sessions gave the source no new tokens"
        );
        assert_eq!(adm.total.load(Ordering::Relaxed), 0);
        assert!(
            adm.admit(ip(2), t0).is_ok(),
            "other sources are not affected"
        );
        let later = t0 + Duration::from_millis(500); // one token back
        assert!(adm.admit(ip(1), later).is_ok());
        assert!(adm.admit(ip(1), later).is_err());
    }

    #[test]
    fn idle_sources_with_full_buckets_are_pruned() {
        let adm = Admission::new(100, 4, 2);
        let t0 = Instant::now();
        for _ in 0..4 {
            adm.admit(ip(1), t0).unwrap(); // its whole burst
        }
        for _ in 0..4 {
            adm.release(ip(1));
        }
        adm.admit(ip(2), t0 + Duration::from_secs(1)).unwrap(); // prunes: ip(1) not full yet
        assert_eq!(adm.sources.lock().unwrap().map.len(), 2);
        adm.admit(ip(3), t0 + Duration::from_secs(3)).unwrap(); // ip(1) refilled: pruned
        let sources = adm.sources.lock().unwrap();
        assert!(!sources.map.contains_key(&ip(1)));
        assert!(sources.map.contains_key(&ip(2)), "it still has a session");
    }

    #[test]
    fn per_ip_cap_is_per_address() {
        let a = Admission::new(100, 2, 0);
        assert!(a.admit_now(ip(1)).is_ok());
        assert!(a.admit_now(ip(1)).is_ok());
        assert_eq!(
            a.admit_now(ip(1)),
            Err(Refusal::IpFull { ip: ip(1), max: 2 })
        );
        assert!(
            a.admit_now(ip(2)).is_ok(),
            "another address is not affected"
        );
        a.release(ip(1));
        assert!(
            a.admit_now(ip(1)).is_ok(),
            "a released slot can be taken again"
        );
    }

    #[test]
    fn service_cap_counts_every_address_and_refusals_take_nothing() {
        let a = Admission::new(3, 10, 0);
        for last in 1..=3 {
            assert!(a.admit_now(ip(last)).is_ok());
        }
        assert_eq!(a.admit_now(ip(4)), Err(Refusal::ServiceFull { max: 3 }));
        assert_eq!(a.admit_now(ip(4)), Err(Refusal::ServiceFull { max: 3 }));
        a.release(ip(2));
        assert!(a.admit_now(ip(4)).is_ok());
        assert_eq!(a.total.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn releasing_an_unknown_address_changes_nothing() {
        let a = Admission::new(1, 1, 0);
        a.release(ip(9));
        assert!(a.admit_now(ip(1)).is_ok());
        assert!(a.admit_now(ip(2)).is_err());
    }
}
