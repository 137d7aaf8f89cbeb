//! [`Rooms`]: chat rooms shared by every event loop.

use std::collections::HashMap;
use std::sync::Mutex;

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
#[derive(Debug)]
pub struct Rooms {
    rooms: Mutex<HashMap<u32, Vec<SessionId>>>,
    capacity: usize,
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
        }
    }

    /// Adds `id` to `room`; returns the member count after the join (unchanged if `id` was
    /// a member already).
    ///
    /// # Errors
    /// [`RoomFull`] if the room already has its capacity of members.
    pub fn join(&self, room: u32, id: SessionId) -> Result<usize, RoomFull> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let members = rooms.entry(room).or_default();
        if !members.contains(&id) {
            if members.len() >= self.capacity {
                let capacity = self.capacity;
                if members.is_empty() {
                    rooms.remove(&room); // capacity 0: do not keep an empty room
                }
                return Err(RoomFull { capacity });
            }
            members.push(id);
        }
        Ok(members.len())
    }

    /// Removes `id` from `room`; an emptied room is dropped.
    pub fn leave(&self, room: u32, id: SessionId) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(members) = rooms.get_mut(&room) {
            members.retain(|&m| m != id);
            if members.is_empty() {
                rooms.remove(&room);
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

    /// Number of members of `room`.
    pub fn members(&self, room: u32) -> usize {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms.get(&room).map_or(0, Vec::len)
    }
}
