//! [`Rooms`]: chat rooms shared by every event loop.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use servercore::{Context, SessionId};

/// Every room and its members. Members may live on any loop: a broadcast queues the one
/// serialized packet on local members directly and on other loops' members through their
/// mailboxes (batched per loop per iteration), never copying the payload (a member that is
/// behind gets a copy in its own queue: see `servercore::SendQueue::push`).
///
/// One lock guards the map; it is held only to look up or change membership and to queue
/// the shared buffer (a `Bytes` clone: a reference-count increment), never during I/O.
///
/// Rooms have a capacity: one chat costs a queued reference (and, on another loop, a mailbox
/// command) per member, so the member count bounds what one chat can make the server hold.
///
/// With [`Rooms::with_peers`] a room spans instances (`--cluster`, see `cluster`): the member
/// count and the capacity then include the members the [`Peers`] know of elsewhere.
#[derive(Debug)]
pub struct Rooms {
    rooms: Mutex<HashMap<u32, Vec<SessionId>>>,
    capacity: usize,
    peers: Option<Arc<dyn Peers>>,
}

/// The other instances sharing the rooms, as `Rooms` sees them. Neither call may block (no
/// I/O): they read a cache or note a change; `local_members_changed` is called with the rooms
/// lock held, so the changes of one room reach the peers in the order they happened.
pub trait Peers: Send + Sync + fmt::Debug {
    /// Members of `room` on other instances, as last known.
    fn members_elsewhere(&self, room: u32) -> usize;
    /// This instance's member count of `room` is now `members` (0: none left).
    fn local_members_changed(&self, room: u32, members: usize);
}

/// Default most members of one room (`gameserver --max-room-members`).
pub const DEFAULT_ROOM_CAPACITY: usize = 1000;

/// `join` refused: the room already has `capacity` members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomFull {
    pub capacity: usize,
}

impl Default for Rooms {
    fn default() -> Self {
        Rooms::new(DEFAULT_ROOM_CAPACITY)
    }
}

impl Rooms {
    /// No rooms yet; each may hold up to `capacity` members.
    pub fn new(capacity: usize) -> Rooms {
        Rooms {
            rooms: Mutex::default(),
            capacity,
            peers: None,
        }
    }

    /// As [`Rooms::new`], for rooms shared with other instances through `peers`.
    pub fn with_peers(capacity: usize, peers: Arc<dyn Peers>) -> Rooms {
        Rooms {
            peers: Some(peers),
            ..Rooms::new(capacity)
        }
    }

    fn elsewhere(&self, room: u32) -> usize {
        self.peers.as_ref().map_or(0, |p| p.members_elsewhere(room))
    }

    fn changed(&self, room: u32, members: usize) {
        if let Some(peers) = &self.peers {
            peers.local_members_changed(room, members);
        }
    }

    /// Adds `id` to `room`; returns the member count after the join (unchanged if `id` was
    /// a member already), members on other instances included.
    ///
    /// # Errors
    /// [`RoomFull`] if the room already has its capacity of members (on all instances).
    pub fn join(&self, room: u32, id: SessionId) -> Result<usize, RoomFull> {
        let elsewhere = self.elsewhere(room);
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let members = rooms.entry(room).or_default();
        if !members.contains(&id) {
            if members.len() + elsewhere >= self.capacity {
                let capacity = self.capacity;
                if members.is_empty() {
                    rooms.remove(&room); // capacity 0: do not keep an empty room
                }
                return Err(RoomFull { capacity });
            }
            members.push(id);
            self.changed(room, members.len());
        }
        Ok(members.len() + elsewhere)
    }

    /// Removes `id` from `room`; an emptied room is dropped.
    pub fn leave(&self, room: u32, id: SessionId) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(members) = rooms.get_mut(&room) {
            let before = members.len();
            members.retain(|&m| m != id);
            let after = members.len();
            if after == 0 {
                rooms.remove(&room);
            }
            if after != before {
                self.changed(room, after);
            }
        }
    }

    /// Queues `packet` on every member of `room` (the sender included); returns how many
    /// members it was queued for. A member over its send-queue cap is disconnected by the
    /// session layer as a slow consumer; the others are not held up.
    pub fn broadcast(&self, ctx: &mut Context<'_>, room: u32, packet: &Bytes) -> usize {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let Some(members) = rooms.get(&room) else {
            return 0;
        };
        for &member in members {
            let _ = ctx.send(member, packet.clone());
        }
        members.len()
    }

    /// True if `id` is a member of `room`.
    pub fn contains(&self, room: u32, id: SessionId) -> bool {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms.get(&room).is_some_and(|m| m.contains(&id))
    }

    /// Members of `room` on every instance (this one's, plus those its peers know of).
    pub fn count(&self, room: u32) -> usize {
        self.members(room) + self.elsewhere(room)
    }

    /// Number of members of `room` on this instance.
    pub fn members(&self, room: u32) -> usize {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms.get(&room).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;

    /// Peers with a fixed count elsewhere, recording what they are told.
    #[derive(Debug, Default)]
    struct FakePeers {
        elsewhere: usize,
        told: StdMutex<Vec<(u32, usize)>>,
    }

    impl Peers for FakePeers {
        fn members_elsewhere(&self, _room: u32) -> usize {
            self.elsewhere
        }
        fn local_members_changed(&self, room: u32, members: usize) {
            self.told.lock().unwrap().push((room, members));
        }
    }

    #[test]
    fn counts_and_capacity_include_members_elsewhere() {
        let peers = Arc::new(FakePeers {
            elsewhere: 3,
            ..Default::default()
        });
        let rooms = Rooms::with_peers(5, peers.clone());
        let (a, b, c) = (
            SessionId::from_parts(0, 1, 0),
            SessionId::from_parts(0, 2, 0),
            SessionId::from_parts(0, 3, 0),
        );
        assert_eq!(rooms.join(9, a), Ok(4));
        assert_eq!(rooms.join(9, b), Ok(5));
        assert_eq!(rooms.join(9, c), Err(RoomFull { capacity: 5 }));
        assert_eq!(rooms.join(9, a), Ok(5), "a member again: unchanged");
        assert_eq!(rooms.count(9), 5);
        assert!(rooms.contains(9, b) && !rooms.contains(9, c));
        rooms.leave(9, a);
        rooms.leave(9, a); // not a member: nothing to tell
        rooms.leave(9, b);
        assert_eq!(
            *peers.told.lock().unwrap(),
            vec![(9, 1), (9, 2), (9, 1), (9, 0)]
        );
    }
}
