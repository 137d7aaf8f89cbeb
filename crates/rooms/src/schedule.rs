//! [`Schedule`]: a room's fixed tick. Ticks are due every `period` from the room's start, not
//! from when the last one ran, so a late tick does not shift the ones after it; a room that
//! fell more than [`MAX_BEHIND`] periods behind (its loop was stalled) skips to now and counts
//! the periods it skipped, rather than running a burst of ticks back to back.

use std::time::{Duration, Instant};

/// Periods a room may be behind before it skips instead of catching up.
pub const MAX_BEHIND: u32 = 4;

/// When a room's ticks are due.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    period: Duration,
    next: Instant,
}

/// A tick that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// How long after its due time it runs.
    pub late: Duration,
    /// Periods skipped to get back on time (0 normally).
    pub skipped: u64,
}

impl Schedule {
    /// Ticks every `period`, the first one `period` after `now`.
    pub fn new(period: Duration, now: Instant) -> Schedule {
        Schedule {
            period,
            next: now + period,
        }
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// When the next tick is due.
    pub fn next(&self) -> Instant {
        self.next
    }

    /// A tick, if one is due at `now` (then the next is scheduled).
    pub fn poll(&mut self, now: Instant) -> Option<Due> {
        if now < self.next {
            return None;
        }
        let late = now - self.next;
        if late > self.period * MAX_BEHIND {
            let skipped = (late.as_nanos() / self.period.as_nanos().max(1)) as u64;
            self.next = now + self.period;
            return Some(Due { late, skipped });
        }
        self.next += self.period;
        Some(Due { late, skipped: 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_every_period_late_ticks_keep_the_grid_and_a_stall_skips() {
        let t0 = Instant::now();
        let ms = |n| Duration::from_millis(n);
        let mut s = Schedule::new(ms(50), t0);
        assert_eq!(s.poll(t0 + ms(49)), None);
        assert_eq!(
            s.poll(t0 + ms(53)),
            Some(Due {
                late: ms(3),
                skipped: 0
            })
        );
        assert_eq!(s.next(), t0 + ms(100), "the grid, not 53 + 50");
        assert_eq!(s.poll(t0 + ms(99)), None);
        assert_eq!(s.poll(t0 + ms(100)).map(|d| d.skipped), Some(0));
        let due = s.poll(t0 + ms(1000)).unwrap();
        assert_eq!(due.skipped, 17);
        assert_eq!(s.next(), t0 + ms(1050));
    }
}
