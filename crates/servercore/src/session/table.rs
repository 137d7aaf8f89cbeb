//! [`SessionTable`]: a loop's sessions in reusable slots, addressed by generational ids.

use super::{Session, SessionId};

/// One slot: a generation counter and maybe a session.
#[derive(Debug)]
struct Slot {
    generation: u16,
    session: Option<Session>,
}

/// The sessions of one event loop.
///
/// Slots are reused (a free list, like `slab`), and each reuse bumps the slot's generation,
/// so a [`SessionId`] taken before a close resolves to `None` afterwards instead of to the
/// slot's next occupant. The lecture kept `vector<Session>` indexed by event position and
/// left "todo: remove session"; here removal is O(1) and ids stay valid while their session
/// lives.
#[derive(Debug)]
pub(crate) struct SessionTable {
    loop_index: usize,
    slots: Vec<Slot>,
    free: Vec<usize>,
    live: usize,
}

impl SessionTable {
    pub(crate) fn new(loop_index: usize) -> SessionTable {
        SessionTable {
            loop_index,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }

    /// Number of sessions in the table.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Reserves a slot and returns the id the session in it will have.
    pub(crate) fn insert_with(&mut self, make: impl FnOnce(SessionId) -> Session) -> SessionId {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    session: None,
                });
                self.slots.len() - 1
            }
        };
        let id = SessionId::new(self.loop_index, slot, self.slots[slot].generation);
        debug_assert!(self.slots[slot].session.is_none());
        self.slots[slot].session = Some(make(id));
        self.live += 1;
        id
    }

    /// The live session named by `id`, or `None` if it closed (even if its slot was reused).
    pub(crate) fn get(&self, id: SessionId) -> Option<&Session> {
        self.slots
            .get(id.slot())
            .filter(|s| s.generation == id.generation() && id.loop_index() == self.loop_index)
            .and_then(|s| s.session.as_ref())
    }

    /// Mutable access, with the same staleness check as [`SessionTable::get`].
    pub(crate) fn get_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        let loop_index = self.loop_index;
        self.slots
            .get_mut(id.slot())
            .filter(|s| s.generation == id.generation() && id.loop_index() == loop_index)
            .and_then(|s| s.session.as_mut())
    }

    /// Removes the session and frees its slot for reuse under a new generation.
    pub(crate) fn remove(&mut self, id: SessionId) -> Option<Session> {
        let slot = self.slots.get_mut(id.slot())?;
        if slot.generation != id.generation() || id.loop_index() != self.loop_index {
            return None;
        }
        let session = slot.session.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.slot());
        self.live -= 1;
        Some(session)
    }

    /// Bytes owed to peers over all sessions (queued or in flight).
    pub(crate) fn queued_bytes(&self) -> usize {
        self.slots
            .iter()
            .filter_map(|s| s.session.as_ref())
            .map(|s| s.send.owed())
            .sum()
    }

    /// Ids of every live session (a snapshot, so the caller may close them while iterating).
    pub(crate) fn ids(&self) -> Vec<SessionId> {
        self.slots
            .iter()
            .filter_map(|s| s.session.as_ref().map(|s| s.id))
            .collect()
    }
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
