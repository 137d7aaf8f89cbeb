//! [`SessionTable`]: a loop's sessions in reusable slots, addressed by generational ids.

use super::{Session, SessionId};
use crate::slots::{Key, Slots};

/// The sessions of one event loop.
///
/// Slots are reused ([`Slots`]), and each reuse bumps the slot's generation, so a
/// [`SessionId`] taken before a close resolves to `None` afterwards instead of to the slot's
/// next occupant. The lecture kept `vector<Session>` indexed by event position and left
/// "todo: remove session"; here removal is O(log n) and ids stay valid while their session
/// lives. A closed burst leaves no table behind ([`SessionTable::shrink`]).
#[derive(Debug)]
pub(crate) struct SessionTable {
    loop_index: usize,
    slots: Slots<Session>,
}

impl SessionTable {
    pub(crate) fn new(loop_index: usize) -> SessionTable {
        SessionTable {
            loop_index,
            slots: Slots::default(),
        }
    }

    /// Number of sessions in the table.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Reserves a slot and returns the id the session in it will have.
    pub(crate) fn insert_with(&mut self, make: impl FnOnce(SessionId) -> Session) -> SessionId {
        let loop_index = self.loop_index;
        let key = self.slots.insert_with(|key| make(id(loop_index, key)));
        id(loop_index, key)
    }

    /// The live session named by `id`, or `None` if it closed (even if its slot was reused).
    pub(crate) fn get(&self, id: SessionId) -> Option<&Session> {
        self.slots.get(self.key(id)?)
    }

    /// Mutable access, with the same staleness check as [`SessionTable::get`].
    pub(crate) fn get_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        let key = self.key(id)?;
        self.slots.get_mut(key)
    }

    /// Removes the session and frees its slot for reuse under a new generation.
    pub(crate) fn remove(&mut self, id: SessionId) -> Option<Session> {
        let key = self.key(id)?;
        self.slots.remove(key)
    }

    /// Gives back what a closed burst of sessions left (see [`Slots::shrink`]).
    pub(crate) fn shrink(&mut self) {
        self.slots.shrink();
    }

    /// Bytes owed to peers over all sessions (queued or in flight).
    pub(crate) fn queued_bytes(&self) -> usize {
        self.slots.values().map(|s| s.send.owed()).sum()
    }

    /// Ids of every live session (a snapshot, so the caller may close them while iterating).
    pub(crate) fn ids(&self) -> Vec<SessionId> {
        self.slots.values().map(|s| s.id).collect()
    }

    /// Slots in the table, live or free (for tests of the shrink).
    #[cfg(test)]
    pub(crate) fn slots(&self) -> usize {
        self.slots.slots()
    }

    /// The slot key of `id`, if it is one of this loop's.
    fn key(&self, id: SessionId) -> Option<Key> {
        (id.loop_index() == self.loop_index).then(|| Key {
            index: id.slot() as u32,
            generation: id.generation(),
        })
    }
}

/// The id of the session in slot `key` of loop `loop_index`.
fn id(loop_index: usize, key: Key) -> SessionId {
    SessionId::new(loop_index, key.index as usize, key.generation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn open(table: &mut SessionTable) -> SessionId {
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        table.insert_with(|id| Session::new(id, peer, 64, std::time::Instant::now()))
    }

    #[test]
    fn stale_id_never_reaches_a_reused_slot() {
        let mut t = SessionTable::new(0);
        let a = open(&mut t);
        assert!(t.remove(a).is_some());
        let b = open(&mut t);
        assert_eq!(a.slot(), b.slot(), "slot reused");
        assert_ne!(a, b);
        assert!(t.get(a).is_none());
        assert!(t.get_mut(a).is_none());
        assert!(t.remove(a).is_none());
        assert_eq!(t.get(b).map(|s| s.id), Some(b));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn ids_from_another_loop_are_rejected() {
        let mut t0 = SessionTable::new(0);
        let mut t1 = SessionTable::new(1);
        let a = open(&mut t0);
        let _ = open(&mut t1);
        assert!(t1.get(a).is_none());
    }

    #[test]
    fn counts_and_lists_live_sessions() {
        let mut t = SessionTable::new(0);
        let ids: Vec<_> = (0..5).map(|_| open(&mut t)).collect();
        t.remove(ids[2]);
        assert_eq!(t.len(), 4);
        let mut listed = t.ids();
        listed.sort();
        let mut expected: Vec<_> = ids.iter().copied().filter(|&i| i != ids[2]).collect();
        expected.sort();
        assert_eq!(listed, expected);
    }
}
