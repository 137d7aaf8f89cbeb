//! `--chaos RATE`: the load generator drops its own clients' connections, RATE a second over
//! the whole run, while it sends; each dropped client then resumes its seat (`--resume`).
//!
//! The drops follow a schedule like the open loop's sends: the run-wide schedule has one
//! slot every `1 / RATE` seconds, and loop `l` of `L` owns slots `l`, `l + L`, ... On each
//! tick a loop drops as many clients as its slots say are due, each one picked at random
//! (from `--seed` and the loop's index, so a run repeats) among its clients that can be
//! dropped: open and seated, live or in the middle of a resume (a RESUME sent, its RESUMED
//! not yet arrived: the client tries again with the ticket it has). A drop is an abort
//! ([`servercore::Context::abort`]): the socket is closed at once, what was queued for it is
//! dropped, and the server sees an EOF or a reset, as when a phone loses its network.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::handler::scheduled_by;

/// One loop's share of the drops.
#[derive(Debug)]
pub struct Chaos {
    /// Drops per second over the whole run.
    rate: u64,
    loop_index: u64,
    loops: u64,
    /// Drops made or skipped so far.
    done: u64,
    rng: SmallRng,
}

impl Chaos {
    /// Loop `loop_index` of `loops`' share of `rate` drops a second, its choices seeded from
    /// `seed`.
    pub fn new(rate: u64, seed: u64, loop_index: usize, loops: usize) -> Chaos {
        Chaos {
            rate,
            loop_index: loop_index as u64,
            loops: loops.max(1) as u64,
            done: 0,
            rng: SmallRng::seed_from_u64(seed ^ (loop_index as u64).wrapping_mul(0x9e37_79b9)),
        }
    }

    /// Drops due `elapsed` nanoseconds into sending, not yet made: each is counted done.
    pub fn due(&mut self, elapsed: u64) -> u64 {
        let total = scheduled_by(elapsed, self.rate, self.loop_index, self.loops);
        let due = total.saturating_sub(self.done);
        self.done = total.max(self.done);
        due
    }

    /// Picks one of `candidates` (at random), if there is any.
    pub fn pick<T: Copy>(&mut self, candidates: &[T]) -> Option<T> {
        (!candidates.is_empty()).then(|| candidates[self.rng.gen_range(0..candidates.len())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loops_share_the_rate() {
        let mut loops: Vec<Chaos> = (0..2).map(|l| Chaos::new(20, 1, l, 2)).collect();
        let second = 1_000_000_000;
        let first: u64 = loops.iter_mut().map(|c| c.due(second / 2)).sum();
        assert_eq!(first, 11, "slots 0 ..= 10 of 50 ms each");
        let rest: u64 = loops.iter_mut().map(|c| c.due(second - 1)).sum();
        assert_eq!(first + rest, 20);
        assert_eq!(loops[0].due(second - 1), 0, "each drop once");
    }

    #[test]
    fn picks_repeat_with_the_seed() {
        let picks = |seed| {
            let mut chaos = Chaos::new(1, seed, 0, 1);
            (0..8)
                .map(|_| chaos.pick(&[1, 2, 3, 4, 5]).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(picks(7), picks(7));
        assert_eq!(Chaos::new(1, 0, 0, 1).pick::<u8>(&[]), None);
    }
}
