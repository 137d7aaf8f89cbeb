//! [`Sequences`]: what a receiving node remembers of each origin's stream per room, to tell
//! an in-order chat from a gap (chats lost on the way) or a duplicate.

use std::collections::HashMap;

/// What one received chat is, relative to what came before from the same stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The next one expected (or the first heard of this stream): deliver.
    InOrder,
    /// `missing` chats of this stream never arrived before this one: deliver it, count them.
    Gap { missing: u64 },
    /// Already delivered (or older): drop it.
    Duplicate,
}

/// Where one origin's stream for one room stands.
#[derive(Debug, Clone, Copy)]
struct Position {
    epoch: u32,
    /// The next `seq` expected.
    next: u64,
}

/// Per room, per origin node: the stream position. Kept across a reconnection to Redis (so
/// the chats lost while disconnected show up as a gap), forgotten when this node unsubscribes
/// from a room on purpose (its last local member left: what it then misses is not a loss).
#[derive(Debug, Default)]
pub struct Sequences {
    rooms: HashMap<u32, HashMap<String, Position>>,
}

impl Sequences {
    /// Records chat `(origin, epoch, seq)` of `room` and says what it is.
    pub fn check(&mut self, room: u32, origin: &str, epoch: u32, seq: u64) -> Verdict {
        let origins = self.rooms.entry(room).or_default();
        let Some(position) = origins.get_mut(origin) else {
            // First heard: whatever came before it was sent before this node listened.
            origins.insert(
                origin.to_string(),
                Position {
                    epoch,
                    next: seq + 1,
                },
            );
            return Verdict::InOrder;
        };
        if position.epoch != epoch {
            // The origin started a new stream for this room (its members left and came back):
            // the new stream starts at 0; anything before `seq` in it was lost.
            *position = Position {
                epoch,
                next: seq + 1,
            };
            return match seq {
                0 => Verdict::InOrder,
                missing => Verdict::Gap { missing },
            };
        }
        match seq.cmp(&position.next) {
            std::cmp::Ordering::Less => Verdict::Duplicate,
            std::cmp::Ordering::Equal => {
                position.next += 1;
                Verdict::InOrder
            }
            std::cmp::Ordering::Greater => {
                let missing = seq - position.next;
                position.next = seq + 1;
                Verdict::Gap { missing }
            }
        }
    }

    /// Forgets every stream of `room` (this node no longer listens to it).
    pub fn forget(&mut self, room: u32) {
        self.rooms.remove(&room);
    }

    /// Rooms with at least one stream remembered.
    pub fn rooms(&self) -> usize {
        self.rooms.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_gap_and_duplicate() {
        let mut s = Sequences::default();
        assert_eq!(s.check(1, "a", 0, 5), Verdict::InOrder, "first heard");
        assert_eq!(s.check(1, "a", 0, 6), Verdict::InOrder);
        assert_eq!(s.check(1, "a", 0, 9), Verdict::Gap { missing: 2 });
        assert_eq!(s.check(1, "a", 0, 9), Verdict::Duplicate);
        assert_eq!(s.check(1, "a", 0, 3), Verdict::Duplicate);
        assert_eq!(s.check(1, "a", 0, 10), Verdict::InOrder);
    }

    #[test]
    fn streams_are_per_origin_and_room() {
        let mut s = Sequences::default();
        assert_eq!(s.check(1, "a", 0, 0), Verdict::InOrder);
        assert_eq!(s.check(1, "b", 0, 0), Verdict::InOrder);
        assert_eq!(s.check(2, "a", 0, 0), Verdict::InOrder);
        assert_eq!(s.check(1, "a", 0, 1), Verdict::InOrder);
        assert_eq!(s.check(2, "a", 0, 2), Verdict::Gap { missing: 1 });
    }

    #[test]
    fn a_new_epoch_restarts_the_stream() {
        let mut s = Sequences::default();
        assert_eq!(s.check(1, "a", 0, 0), Verdict::InOrder);
        assert_eq!(s.check(1, "a", 0, 1), Verdict::InOrder);
        assert_eq!(s.check(1, "a", 1, 0), Verdict::InOrder);
        assert_eq!(s.check(1, "a", 2, 3), Verdict::Gap { missing: 3 });
    }

    #[test]
    fn forgetting_a_room_accepts_any_position_again() {
        let mut s = Sequences::default();
        assert_eq!(s.check(1, "a", 0, 4), Verdict::InOrder);
        assert_eq!(s.rooms(), 1);
        s.forget(1);
        assert_eq!(s.rooms(), 0);
        assert_eq!(s.check(1, "a", 0, 2), Verdict::InOrder);
    }
}
