//! [`SessionId`]: a slot index plus a generation, so a stale id never reaches a reused slot.

use std::fmt;

/// Names one session of one event loop for as long as it lives.
///
/// An id is a slot index in the loop's session table plus the *generation* the slot had when
/// the session was opened. When the session closes the slot's generation is bumped, so an id
/// kept by the application after the close (in a room list, a timer, a message from another
/// loop) no longer matches and every operation on it reports "no such session" instead of
/// touching whichever session reuses the slot. This is the same idea as mio's `Token`, with
/// the reuse check built in.
///
/// The loop index is part of the id, so a handler can tell which loop owns a session and
/// route a message to it (see [`Context::send`](crate::Context::send)).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId {
    loop_index: u16,
    generation: u16,
    slot: u32,
}

impl SessionId {
    /// Builds an id; only the session table hands these out.
    pub(crate) fn new(loop_index: usize, slot: usize, generation: u16) -> SessionId {
        SessionId {
            loop_index: u16::try_from(loop_index).expect("at most 65536 event loops"),
            generation,
            slot: u32::try_from(slot).expect("at most 2^32 sessions per loop"),
        }
    }

    /// An id made by hand, for tests of code that keys its data by session (a room list, a
    /// map of players): the loop makes every real id, and one made here names no session
    /// unless it happens to equal one.
    pub fn from_parts(loop_index: u16, slot: u32, generation: u16) -> SessionId {
        SessionId {
            loop_index,
            generation,
            slot,
        }
    }

    /// The index of the event loop that owns this session (0-based).
    pub fn loop_index(self) -> usize {
        usize::from(self.loop_index)
    }

    /// The slot in the owning loop's session table.
    pub(crate) fn slot(self) -> usize {
        self.slot as usize
    }

    /// The generation of the slot when this session was opened.
    pub(crate) fn generation(self) -> u16 {
        self.generation
    }

    /// Packs the id into 64 bits (the epoll driver's token).
    pub(crate) fn to_u64(self) -> u64 {
        (u64::from(self.loop_index) << 48)
            | (u64::from(self.generation) << 32)
            | u64::from(self.slot)
    }

    /// Unpacks an id made by [`SessionId::to_u64`].
    pub(crate) fn from_u64(raw: u64) -> SessionId {
        SessionId {
            loop_index: (raw >> 48) as u16,
            generation: (raw >> 32) as u16,
            slot: raw as u32,
        }
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}.{}", self.loop_index, self.slot, self.generation)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_unpacks() {
        let id = SessionId::new(3, 123_456, 65_535);
        assert_eq!(SessionId::from_u64(id.to_u64()), id);
        assert_eq!(id.loop_index(), 3);
        assert_eq!(id.slot(), 123_456);
        assert_eq!(id.generation(), 65_535);
        assert_eq!(id.to_string(), "#3.123456.65535");
    }

    #[test]
    fn generation_distinguishes_reused_slot() {
        assert_ne!(SessionId::new(0, 7, 1), SessionId::new(0, 7, 2));
    }
}
