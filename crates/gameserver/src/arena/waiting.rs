//! [`Waiting`]: one loop's joins waiting to learn who owns their arena (`--cluster`), by
//! arena. Bounded: past [`MAX_WAITING`] a join is answered ROOM_UNAVAILABLE at once.

use std::collections::HashMap;

use servercore::SessionId;

/// Most joins one loop keeps waiting.
pub const MAX_WAITING: usize = 4096;

/// The waiting joins.
#[derive(Debug, Default)]
pub struct Waiting {
    rooms: HashMap<u32, Vec<SessionId>>,
    count: usize,
}

/// `add` refused: the bound is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMany;

impl Waiting {
    /// `session` waits for `room`; true if it is the first for that room (ask about it).
    ///
    /// # Errors
    /// [`TooMany`] at [`MAX_WAITING`].
    pub fn add(&mut self, room: u32, session: SessionId) -> Result<bool, TooMany> {
        if self.count >= MAX_WAITING {
            return Err(TooMany);
        }
        let sessions = self.rooms.entry(room).or_default();
        sessions.push(session);
        self.count += 1;
        Ok(sessions.len() == 1)
    }

    /// The sessions waiting for `room`, no longer waiting.
    pub fn take(&mut self, room: u32) -> Vec<SessionId> {
        let sessions = self.rooms.remove(&room).unwrap_or_default();
        self.count -= sessions.len();
        sessions
    }

    /// `session` is gone.
    pub fn remove(&mut self, session: SessionId) {
        for sessions in self.rooms.values_mut() {
            let before = sessions.len();
            sessions.retain(|&s| s != session);
            self.count -= before - sessions.len();
        }
        self.rooms.retain(|_, sessions| !sessions.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_by_room_and_forgets_the_gone() {
        let s = |n| SessionId::from_parts(0, n, 0);
        let mut w = Waiting::default();
        assert_eq!(w.add(1, s(1)), Ok(true));
        assert_eq!(w.add(1, s(2)), Ok(false));
        assert_eq!(w.add(2, s(3)), Ok(true));
        w.remove(s(2));
        assert_eq!(w.take(1), vec![s(1)]);
        assert_eq!(w.take(1), vec![]);
        assert_eq!(w.count, 1);
        for n in 0..MAX_WAITING as u32 - 1 {
            w.add(9, s(100 + n)).unwrap();
        }
        assert_eq!(w.add(9, s(1)), Err(TooMany));
    }
}
