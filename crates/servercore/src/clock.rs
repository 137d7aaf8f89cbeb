//! [`Clock`]: where an event loop reads the time. The loop asks it once per iteration (and
//! when it computes how long to sleep), never `Instant::now()` itself, so its policies —
//! timeouts, lingering, the drain deadline, the send tick, rate limits — run in simulated
//! time in tests (quinn-proto's `handle_timeout(now)`): [`ManualClock`] moves only when told.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A source of "now" for an event loop.
pub(crate) trait Clock: Send + fmt::Debug {
    /// The current time.
    fn now(&self) -> Instant;
}

/// The real clock: `Instant::now()` (`CLOCK_MONOTONIC`).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that stands still until [`ManualClock::advance`]; clones share the time.
#[derive(Debug, Clone)]
#[cfg_attr(
    not(test),
    allow(dead_code, reason = "the loop's policy tests drive it")
)]
pub(crate) struct ManualClock(Arc<Mutex<Instant>>);

#[cfg_attr(
    not(test),
    allow(dead_code, reason = "the loop's policy tests drive it")
)]
impl ManualClock {
    /// A clock at the real time now.
    pub(crate) fn new() -> ManualClock {
        ManualClock(Arc::new(Mutex::new(Instant::now())))
    }

    /// Moves the time forward by `by`.
    pub(crate) fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
