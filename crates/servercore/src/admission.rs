//! [`Admission`]: who may open a session — the service-wide and per-source-IP caps.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Why an accepted connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The service already holds `max_sessions` sessions.
    ServiceFull {
        /// The cap.
        max: usize,
    },
    /// This source address already holds `max_sessions_per_ip` sessions.
    IpFull {
        /// The source address.
        ip: IpAddr,
        /// The cap.
        max: usize,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::ServiceFull { max } => write!(f, "server full ({max} sessions)"),
            Refusal::IpFull { ip, max } => write!(f, "too many sessions from {ip} (max {max})"),
        }
    }
}

/// The session caps, shared by every loop of a service. Checked once per accepted connection
/// (never per message): an atomic count for the service, a locked map for source addresses.
/// Sessions the application adopts ([`Service::adopt`](crate::Service::adopt)) are not subject
/// to it: they are not accepted from the network.
#[derive(Debug)]
pub(crate) struct Admission {
    max_sessions: usize,
    max_per_ip: usize,
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl Admission {
    pub(crate) fn new(max_sessions: usize, max_per_ip: usize) -> Admission {
        Admission {
            max_sessions,
            max_per_ip,
            total: AtomicUsize::new(0),
            per_ip: Mutex::default(),
        }
    }

    /// Admits one session from `ip`, or says why not. Every `Ok` must be matched by one
    /// [`Admission::release`] when the session closes.
    pub(crate) fn admit(&self, ip: IpAddr) -> Result<(), Refusal> {
        let max = self.max_sessions;
        if self.total.fetch_add(1, Ordering::AcqRel) >= max {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::ServiceFull { max });
        }
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= self.max_per_ip {
            drop(per_ip);
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::IpFull {
                ip,
                max: self.max_per_ip,
            });
        }
        *count += 1;
        Ok(())
    }

    /// Gives back what [`Admission::admit`] took for `ip`.
    pub(crate) fn release(&self, ip: IpAddr) {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = per_ip.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&ip);
            }
            self.total.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn per_ip_cap_is_per_address() {
        let a = Admission::new(100, 2);
        assert!(a.admit(ip(1)).is_ok());
        assert!(a.admit(ip(1)).is_ok());
        assert_eq!(a.admit(ip(1)), Err(Refusal::IpFull { ip: ip(1), max: 2 }));
        assert!(a.admit(ip(2)).is_ok(), "another address is not affected");
        a.release(ip(1));
        assert!(a.admit(ip(1)).is_ok(), "a released slot can be taken again");
    }

    #[test]
    fn service_cap_counts_every_address_and_refusals_take_nothing() {
        let a = Admission::new(3, 10);
        for last in 1..=3 {
            assert!(a.admit(ip(last)).is_ok());
        }
        assert_eq!(a.admit(ip(4)), Err(Refusal::ServiceFull { max: 3 }));
        assert_eq!(a.admit(ip(4)), Err(Refusal::ServiceFull { max: 3 }));
        a.release(ip(2));
        assert!(a.admit(ip(4)).is_ok());
        assert_eq!(a.total.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn releasing_an_unknown_address_changes_nothing() {
        let a = Admission::new(1, 1);
        a.release(ip(9));
        assert!(a.admit(ip(1)).is_ok());
        assert!(a.admit(ip(2)).is_err());
    }
}
