//! [`Slots`]: values in reusable slots named by an index and a generation — the one arena
//! behind the session table and the completion driver's connection records.
//!
//! ```text
//!   entries  [ g3:A | g1:· | g7:B | g2:· ]     free (min-heap): {1, 3}      floor: 5
//!   key (index 2, generation 7) -> B;   key (2, 6) -> none: B's slot was reused
//! ```
//!
//! Each removal bumps its slot's generation, so a key taken before the removal resolves to
//! nothing afterwards instead of to the slot's next value (mio's `Token` with the reuse check
//! built in). The lowest free slot is reused first, so after a burst the live values gather at
//! the front and [`Slots::shrink`] can drop the free slots past the last live one and give
//! their memory back; a slot made again later starts at `floor`, above the generation of
//! every slot dropped, so a key of a dropped slot never names a new value. Generations are 16
//! bits: a slot must be reused 65,536 times while an old key is kept before the two could be
//! confused.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Names one value for as long as it is in its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) index: u32,
    pub(crate) generation: u16,
}

/// One slot: its generation and maybe a value.
#[derive(Debug)]
struct Entry<T> {
    generation: u16,
    value: Option<T>,
}

/// Values in reusable, generation-checked slots.
#[derive(Debug)]
pub(crate) struct Slots<T> {
    entries: Vec<Entry<T>>,
    free: BinaryHeap<Reverse<u32>>,
    live: usize,
    /// The generation a new slot starts at: above every generation a dropped slot had.
    floor: u16,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            entries: Vec::new(),
            free: BinaryHeap::new(),
            live: 0,
            floor: 0,
        }
    }
}

impl<T> Slots<T> {
    /// Number of values.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Stores the value `make` builds from its key (the lowest free slot, or a new one).
    ///
    /// # Panics
    /// Past 2^32 slots.
    pub(crate) fn insert_with(&mut self, make: impl FnOnce(Key) -> T) -> Key {
        let index = match self.free.pop() {
            Some(Reverse(index)) => index,
            None => {
                self.entries.push(Entry {
                    generation: self.floor,
                    value: None,
                });
                u32::try_from(self.entries.len() - 1).expect("at most 2^32 slots")
            }
        };
        let entry = &mut self.entries[index as usize];
        debug_assert!(entry.value.is_none());
        let key = Key {
            index,
            generation: entry.generation,
        };
        entry.value = Some(make(key));
        self.live += 1;
        key
    }

    /// The value named by `key`, or `None` if it was removed (even if its slot was reused).
    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        self.entries
            .get(key.index as usize)
            .filter(|e| e.generation == key.generation)
            .and_then(|e| e.value.as_ref())
    }

    /// Mutable access, with the same check as [`Slots::get`].
    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        self.entries
            .get_mut(key.index as usize)
            .filter(|e| e.generation == key.generation)
            .and_then(|e| e.value.as_mut())
    }

    /// Takes the value out and frees its slot for reuse under a new generation.
    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let entry = self
            .entries
            .get_mut(key.index as usize)
            .filter(|e| e.generation == key.generation)?;
        let value = entry.value.take()?;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(Reverse(key.index));
        self.live -= 1;
        Some(value)
    }

    /// Every value, in slot order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().filter_map(|e| e.value.as_ref())
    }

    /// Drops the free slots past the last live one, and gives back the memory of a table (and
    /// free list) much larger than what is live: after a burst has been removed.
    pub(crate) fn shrink(&mut self) {
        while self.entries.last().is_some_and(|e| e.value.is_none()) {
            if let Some(entry) = self.entries.pop() {
                self.floor = self.floor.max(entry.generation);
            }
        }
        let len = self.entries.len();
        if self
            .free
            .iter()
            .any(|&Reverse(index)| index as usize >= len)
        {
            self.free.retain(|&Reverse(index)| (index as usize) < len);
        }
        if self.entries.capacity() > 2 * len + 64 {
            self.entries.shrink_to(len + len / 4);
            self.free.shrink_to(len / 4);
        }
    }

    /// Slots in the table now, live or free (for tests of the shrink).
    #[cfg(test)]
    pub(crate) fn slots(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_key_never_reaches_the_slots_next_value() {
        let mut s = Slots::default();
        let a = s.insert_with(|_| "a");
        assert_eq!(s.remove(a), Some("a"));
        let b = s.insert_with(|_| "b");
        assert_eq!(a.index, b.index, "slot reused");
        assert_ne!(a, b);
        assert_eq!(s.get(a), None);
        assert_eq!(s.remove(a), None);
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_removed_burst_leaves_no_table_and_no_old_key_names_a_new_value() {
        let mut s = Slots::default();
        let burst: Vec<Key> = (0..1000).map(|i| s.insert_with(|_| i)).collect();
        let keep = burst[3];
        for &key in &burst {
            if key != keep {
                s.remove(key);
            }
        }
        s.shrink();
        assert_eq!(s.slots(), 4, "cut after the last live slot");
        assert!(s.entries.capacity() < 64 + 8, "memory given back");
        let again: Vec<Key> = (0..10).map(|i| s.insert_with(|_| 2000 + i)).collect();
        let indexes: Vec<u32> = again.iter().map(|k| k.index).collect();
        assert_eq!(
            indexes,
            [0, 1, 2, 4, 5, 6, 7, 8, 9, 10],
            "lowest free slots first"
        );
        for old in burst.iter().filter(|&&k| k != keep) {
            assert_eq!(s.get(*old), None, "{old:?} names nothing");
        }
        assert!(again.iter().all(|k| !burst.contains(k)));
        assert_eq!(s.values().count(), 11);
    }
}
