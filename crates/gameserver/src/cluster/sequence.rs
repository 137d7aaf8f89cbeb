//! [`Sequences`]: what a receiving node remembers of each origin's stream per room, to tell
//! an in-order chat from a gap (chats lost on the way), a duplicate, or a replay.
//!
//! Bounded whatever is published: at most `MAX_ORIGINS` (64) streams per room, a room's streams
//! are forgotten when this node stops listening to it, and an origin the presence data does
//! not know as a live member of the room is forgotten once it has been silent for a while
//! ([`Sequences::purge`]). When a room is full, a new origin the presence data knows takes the
//! place of the stalest unknown one; an unknown one is refused.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Most origins' streams kept per room: far more instances than a room spans.
pub const MAX_ORIGINS: usize = 64;
/// Epochs of an origin remembered after it started a newer one, so a replayed chat of an
/// ended stream is not taken for a new one.
const RETIRED: usize = 4;

/// What one received chat is, relative to what came before from the same stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The next one expected (or the first heard of this stream): deliver.
    InOrder,
    /// `missing` chats of this stream never arrived before this one: deliver it, count them.
    Gap { missing: u64 },
    /// Already delivered, older, or of a stream that ended: drop it.
    Duplicate,
    /// It would start a stream but is not fresh (a replay of a recorded chat): drop it.
    Stale,
    /// It would start a stream in a room that has `MAX_ORIGINS` (64) already: drop it.
    Full,
}

/// One received chat, as far as ordering goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heard<'a> {
    pub room: u32,
    pub origin: &'a str,
    pub epoch: u32,
    pub seq: u64,
    /// Sent recently enough (by the origin's clock) to start a stream.
    pub fresh: bool,
}

/// Where one origin's stream for one room stands.
#[derive(Debug, Clone, Copy)]
struct Position {
    epoch: u32,
    /// The next `seq` expected.
    next: u64,
    /// The origin's previous epochs in this room, newest first.
    retired: [Option<u32>; RETIRED],
    /// When a chat of it last arrived.
    heard: Instant,
}

/// Per room, per origin node: the stream position. Kept across a reconnection to Redis (so
/// the chats lost while disconnected show up as a gap), forgotten when this node unsubscribes
/// from a room on purpose (its last local member left: what it then misses is not a loss).
#[derive(Debug, Default)]
pub struct Sequences {
    rooms: HashMap<u32, HashMap<String, Position>>,
    /// Streams over all rooms (kept as they change: read after every chat).
    tracked: usize,
}

impl Sequences {
    /// Records `chat` and says what it is. `known` says whether the presence data names an
    /// origin as a live member of the room (it decides who may take a full room's place).
    pub fn check(
        &mut self,
        chat: Heard<'_>,
        now: Instant,
        known: impl Fn(&str) -> bool,
    ) -> Verdict {
        let origins = self.rooms.entry(chat.room).or_default();
        let Some(position) = origins.get_mut(chat.origin) else {
            let before = origins.len();
            let verdict = first_heard(origins, chat, now, known);
            self.tracked = self.tracked + origins.len() - before;
            return verdict;
        };
        position.heard = now;
        if position.epoch != chat.epoch {
            if position.retired.contains(&Some(chat.epoch)) {
                return Verdict::Duplicate; // a chat of a stream that already ended
            }
            if !chat.fresh {
                return Verdict::Stale;
            }
            // The origin started a new stream for this room (its members left and came back):
            // the new stream starts at 0; anything before `seq` in it was lost.
            position.retired.rotate_right(1);
            position.retired[0] = Some(position.epoch);
            position.epoch = chat.epoch;
            position.next = chat.seq + 1;
            return match chat.seq {
                0 => Verdict::InOrder,
                missing => Verdict::Gap { missing },
            };
        }
        match chat.seq.cmp(&position.next) {
            std::cmp::Ordering::Less => Verdict::Duplicate,
            std::cmp::Ordering::Equal => {
                position.next += 1;
                Verdict::InOrder
            }
            std::cmp::Ordering::Greater => {
                let missing = chat.seq - position.next;
                position.next = chat.seq + 1;
                Verdict::Gap { missing }
            }
        }
    }

    /// Forgets every stream of `room` (this node no longer listens to it).
    pub fn forget(&mut self, room: u32) {
        if let Some(origins) = self.rooms.remove(&room) {
            self.tracked -= origins.len();
        }
    }

    /// Forgets the origins that `known` does not name as live members of their room and that
    /// have been silent for `silent` or longer.
    pub fn purge(&mut self, now: Instant, silent: Duration, known: impl Fn(u32, &str) -> bool) {
        for (&room, origins) in &mut self.rooms {
            origins.retain(|origin, p| now.duration_since(p.heard) < silent || known(room, origin));
        }
        self.rooms.retain(|_, origins| !origins.is_empty());
        self.tracked = self.rooms.values().map(HashMap::len).sum();
    }

    /// Rooms with at least one stream remembered.
    pub fn rooms(&self) -> usize {
        self.rooms.len()
    }

    /// Streams remembered, over all rooms.
    pub fn origins(&self) -> usize {
        self.tracked
    }
}

/// The first chat heard of `chat.origin` in its room: whatever came before it was sent before
/// this node listened. It starts a stream if it is fresh and the room has room for it.
fn first_heard(
    origins: &mut HashMap<String, Position>,
    chat: Heard<'_>,
    now: Instant,
    known: impl Fn(&str) -> bool,
) -> Verdict {
    if !chat.fresh {
        return Verdict::Stale;
    }
    if origins.len() >= MAX_ORIGINS {
        if !known(chat.origin) {
            return Verdict::Full;
        }
        let stalest_unknown = origins
            .iter()
            .filter(|(origin, _)| !known(origin))
            .min_by_key(|(_, p)| p.heard)
            .map(|(origin, _)| origin.clone());
        match stalest_unknown {
            Some(origin) => origins.remove(&origin),
            None => return Verdict::Full,
        };
    }
    origins.insert(
        chat.origin.to_string(),
        Position {
            epoch: chat.epoch,
            next: chat.seq + 1,
            retired: [None; RETIRED],
            heard: now,
        },
    );
    Verdict::InOrder
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(room: u32, origin: &str, epoch: u32, seq: u64) -> Heard<'_> {
        Heard {
            room,
            origin,
            epoch,
            seq,
            fresh: true,
        }
    }

    fn check(s: &mut Sequences, room: u32, origin: &str, epoch: u32, seq: u64) -> Verdict {
        s.check(heard(room, origin, epoch, seq), Instant::now(), |_| false)
    }

    #[test]
    fn in_order_gap_and_duplicate() {
        let mut s = Sequences::default();
        assert_eq!(check(&mut s, 1, "a", 0, 5), Verdict::InOrder, "first heard");
        assert_eq!(check(&mut s, 1, "a", 0, 6), Verdict::InOrder);
        assert_eq!(check(&mut s, 1, "a", 0, 9), Verdict::Gap { missing: 2 });
        assert_eq!(check(&mut s, 1, "a", 0, 9), Verdict::Duplicate);
        assert_eq!(check(&mut s, 1, "a", 0, 3), Verdict::Duplicate);
        assert_eq!(check(&mut s, 1, "a", 0, 10), Verdict::InOrder);
    }

    #[test]
    fn streams_are_per_origin_and_room() {
        let mut s = Sequences::default();
        assert_eq!(check(&mut s, 1, "a", 0, 0), Verdict::InOrder);
        assert_eq!(check(&mut s, 1, "b", 0, 0), Verdict::InOrder);
        assert_eq!(check(&mut s, 2, "a", 0, 0), Verdict::InOrder);
        assert_eq!(check(&mut s, 1, "a", 0, 1), Verdict::InOrder);
        assert_eq!(check(&mut s, 2, "a", 0, 2), Verdict::Gap { missing: 1 });
    }

    #[test]
    fn a_new_epoch_restarts_the_stream_and_an_ended_one_stays_ended() {
        let mut s = Sequences::default();
        assert_eq!(check(&mut s, 1, "a", 0, 0), Verdict::InOrder);
        assert_eq!(check(&mut s, 1, "a", 0, 1), Verdict::InOrder);
        assert_eq!(check(&mut s, 1, "a", 1, 0), Verdict::InOrder);
        assert_eq!(check(&mut s, 1, "a", 2, 3), Verdict::Gap { missing: 3 });
        assert_eq!(
            check(&mut s, 1, "a", 0, 7),
            Verdict::Duplicate,
            "a replay of epoch 0 does not restart it"
        );
        assert_eq!(check(&mut s, 1, "a", 2, 4), Verdict::InOrder);
    }

    #[test]
    fn only_a_fresh_chat_starts_a_stream() {
        let mut s = Sequences::default();
        let stale = Heard {
            fresh: false,
            ..heard(1, "a", 0, 0)
        };
        assert_eq!(s.check(stale, Instant::now(), |_| true), Verdict::Stale);
        assert_eq!(s.origins(), 0);
        assert_eq!(check(&mut s, 1, "a", 0, 0), Verdict::InOrder);
        let old_epoch = Heard {
            fresh: false,
            ..heard(1, "a", 9, 0)
        };
        assert_eq!(s.check(old_epoch, Instant::now(), |_| true), Verdict::Stale);
        assert_eq!(
            check(&mut s, 1, "a", 0, 1),
            Verdict::InOrder,
            "the stream went on"
        );
    }

    #[test]
    fn a_room_keeps_at_most_max_origins_and_known_ones_displace_unknown_ones() {
        let mut s = Sequences::default();
        let now = Instant::now();
        for i in 0..MAX_ORIGINS {
            let origin = format!("invented-{i}");
            assert_eq!(
                s.check(heard(1, &origin, 0, 0), now, |_| false),
                Verdict::InOrder
            );
        }
        assert_eq!(
            s.check(heard(1, "one-more", 0, 0), now, |_| false),
            Verdict::Full
        );
        assert_eq!(s.origins(), MAX_ORIGINS);
        let real = |o: &str| o == "real";
        assert_eq!(s.check(heard(1, "real", 0, 0), now, real), Verdict::InOrder);
        assert_eq!(s.origins(), MAX_ORIGINS, "an unknown one made way");
        assert_eq!(s.check(heard(1, "real", 0, 1), now, real), Verdict::InOrder);
    }

    #[test]
    fn purge_keeps_known_and_recent_origins() {
        let mut s = Sequences::default();
        let start = Instant::now();
        s.check(heard(1, "known", 0, 0), start, |_| false);
        s.check(heard(1, "silent", 0, 0), start, |_| false);
        s.check(heard(2, "other", 0, 0), start, |_| false);
        let later = start + Duration::from_secs(10);
        s.check(heard(2, "other", 0, 1), later, |_| false);
        s.purge(later, Duration::from_secs(5), |_, o| o == "known");
        assert_eq!(s.origins(), 2, "the silent unknown origin is gone");
        assert_eq!(check(&mut s, 1, "known", 0, 1), Verdict::InOrder);
        assert_eq!(check(&mut s, 2, "other", 0, 2), Verdict::InOrder);
    }

    #[test]
    fn forgetting_a_room_accepts_any_position_again() {
        let mut s = Sequences::default();
        assert_eq!(check(&mut s, 1, "a", 0, 4), Verdict::InOrder);
        assert_eq!(s.rooms(), 1);
        s.forget(1);
        assert_eq!(s.rooms(), 0);
        assert_eq!(check(&mut s, 1, "a", 0, 2), Verdict::InOrder);
    }
}
