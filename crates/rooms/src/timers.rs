//! [`Timers`]: a room's timers, fired on the room's loop (no thread, no lock): a min-heap of
//! deadlines and the payloads they carry. Bounded: a room holds at most
//! `RoomsConfig::max_timers`; cancelled entries are swept out of the heap once they are as
//! many as the live ones.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

/// Names a timer of one room (for [`Timers::cancel`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(u64);

/// `set` refused: the room already has its bound of timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyTimers {
    /// `RoomsConfig::max_timers`.
    pub max: usize,
}

impl std::fmt::Display for TooManyTimers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the room already has {} timers", self.max)
    }
}

impl std::error::Error for TooManyTimers {}

/// One room's timers carrying payloads of type `T`.
#[derive(Debug)]
pub struct Timers<T> {
    heap: BinaryHeap<Reverse<(Instant, TimerId)>>,
    live: HashMap<TimerId, (Instant, T)>,
    next: u64,
    max: usize,
}

impl<T> Timers<T> {
    /// No timers; at most `max` at once.
    pub fn new(max: usize) -> Timers<T> {
        Timers {
            heap: BinaryHeap::new(),
            live: HashMap::new(),
            next: 0,
            max,
        }
    }

    /// Live timers.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// True if none is set.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Fires `payload` at `due`.
    ///
    /// # Errors
    /// [`TooManyTimers`] at the bound.
    pub fn set(&mut self, due: Instant, payload: T) -> Result<TimerId, TooManyTimers> {
        if self.live.len() >= self.max {
            return Err(TooManyTimers { max: self.max });
        }
        let id = TimerId(self.next);
        self.next += 1;
        self.live.insert(id, (due, payload));
        self.heap.push(Reverse((due, id)));
        Ok(id)
    }

    /// Cancels `id`; false if it already fired or was cancelled.
    pub fn cancel(&mut self, id: TimerId) -> bool {
        let cancelled = self.live.remove(&id).is_some();
        if self.heap.len() > 2 * self.live.len() + 16 {
            self.heap = self
                .live
                .iter()
                .map(|(&id, &(due, _))| Reverse((due, id)))
                .collect();
        }
        cancelled
    }

    /// The payload of the earliest timer due at `now`, removed; `None` if none is due.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        while let Some(&Reverse((due, id))) = self.heap.peek() {
            if due > now {
                return None;
            }
            self.heap.pop();
            if let Some((_, payload)) = self.live.remove(&id) {
                return Some(payload);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fire_in_order_cancel_and_bound() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut timers = Timers::new(3);
        let a = timers.set(at(30), "a").unwrap();
        timers.set(at(10), "b").unwrap();
        timers.set(at(20), "c").unwrap();
        assert_eq!(timers.set(at(5), "d"), Err(TooManyTimers { max: 3 }));
        assert!(timers.cancel(a) && !timers.cancel(a));
        assert_eq!(timers.pop_due(at(5)), None);
        assert_eq!(timers.pop_due(at(25)), Some("b"));
        assert_eq!(timers.pop_due(at(25)), Some("c"));
        assert_eq!(timers.pop_due(at(99)), None, "a was cancelled");
        assert!(timers.is_empty());
    }

    #[test]
    fn cancelled_entries_do_not_pile_up() {
        let mut timers = Timers::new(10);
        let due = Instant::now() + Duration::from_secs(60);
        for _ in 0..1000 {
            let id = timers.set(due, ()).unwrap();
            timers.cancel(id);
        }
        assert!(timers.heap.len() <= 17, "{}", timers.heap.len());
    }
}
