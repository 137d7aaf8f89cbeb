//! [`RateLimit`] and [`TokenBucket`]: how many packets per second a session may send.

use std::time::{Duration, Instant};

/// A per-session packet rate limit: a sustained `per_sec` with bursts up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Packets per second a session may send on average.
    pub per_sec: u32,
    /// Packets a session may send at once after being quiet (the bucket's size).
    pub burst: u32,
}

impl Default for RateLimit {
    /// 200 packets/s with bursts of 400: generous for a game client, fatal for a flood.
    fn default() -> Self {
        RateLimit {
            per_sec: 200,
            burst: 400,
        }
    }
}

/// A token bucket: starts full (`burst` tokens), refills at `per_sec`, each packet takes one.
///
/// Time comes from the loop's cached clock, and tokens are kept in millionths so refills
/// need no floating point: checking costs a subtraction and a multiplication per packet.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    micro_tokens: u64,
    last: Instant,
}

const MICRO: u64 = 1_000_000;

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(limit: RateLimit, now: Instant) -> TokenBucket {
        TokenBucket {
            micro_tokens: u64::from(limit.burst) * MICRO,
            last: now,
        }
    }

    /// Takes one token at `now`; false if the bucket is empty (the packet is over the limit).
    pub fn take(&mut self, limit: RateLimit, now: Instant) -> bool {
        let elapsed = now
            .saturating_duration_since(self.last)
            .min(Duration::from_secs(3600));
        self.last = now;
        let refill = elapsed.as_micros() as u64 * u64::from(limit.per_sec);
        self.micro_tokens = (self.micro_tokens + refill).min(u64::from(limit.burst) * MICRO);
        if self.micro_tokens < MICRO {
            return false;
        }
        self.micro_tokens -= MICRO;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: RateLimit = RateLimit {
        per_sec: 10,
        burst: 5,
    };

    #[test]
    fn a_full_bucket_allows_the_burst_then_refuses() {
        let now = Instant::now();
        let mut bucket = TokenBucket::new(LIMIT, now);
        for i in 0..5 {
            assert!(bucket.take(LIMIT, now), "packet {i} of the burst");
        }
        assert!(!bucket.take(LIMIT, now));
    }

    #[test]
    fn refills_at_the_rate_and_never_beyond_the_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(LIMIT, start);
        for _ in 0..5 {
            bucket.take(LIMIT, start);
        }
        // 10/s: one token per 100 ms.
        assert!(!bucket.take(LIMIT, start + Duration::from_millis(50)));
        assert!(bucket.take(LIMIT, start + Duration::from_millis(150)));
        assert!(!bucket.take(LIMIT, start + Duration::from_millis(160)));
        // A long pause refills only up to the burst.
        let later = start + Duration::from_secs(60);
        let allowed = (0..20).filter(|_| bucket.take(LIMIT, later)).count();
        assert_eq!(allowed, 5);
    }

    #[test]
    fn sustained_rate_is_what_is_allowed() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(LIMIT, start);
        // One packet every 50 ms (20/s, twice the limit) for 10 s.
        let allowed = (0..200)
            .filter(|i| bucket.take(LIMIT, start + Duration::from_millis(50 * i)))
            .count();
        // The burst plus 10/s over ~10 s.
        assert!((100..=106).contains(&allowed), "{allowed}");
    }
}
