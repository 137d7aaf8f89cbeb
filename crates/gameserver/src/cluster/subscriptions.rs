//! [`Subscriptions`]: which rooms this node is listening to on Redis right now, and the
//! members waiting for that before they get their `ROOM_JOINED`.
//!
//! A member that joins a room whose channel this node does not listen to yet would miss what
//! other instances say until the subscription is active. So its `ROOM_JOINED` waits: the
//! member is in the room at once (local chats reach it), and the answer comes when the
//! subscriber has the channel — from then on it hears every instance. A client that speaks
//! after `ROOM_JOINED` (as the dummyclient's barrier does) therefore loses nothing. While the
//! subscriber is disconnected nobody waits: the answer comes at once (cross-instance chats are
//! lost then anyway, and counted).

use std::collections::{HashMap, HashSet};

use servercore::SessionId;

/// A member waiting for its `ROOM_JOINED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiter {
    pub session: SessionId,
    pub room: u32,
    /// The loop the session lives on (the one to answer it).
    pub loop_index: usize,
}

/// Active subscriptions and waiting members; behind `Link`'s mutex.
#[derive(Debug, Default)]
pub struct Subscriptions {
    /// The subscriber is connected.
    listening: bool,
    active: HashSet<u32>,
    waiting: HashMap<u32, Vec<Waiter>>,
    /// Answers due, per loop.
    ready: Vec<Vec<Waiter>>,
}

impl Subscriptions {
    /// `waiter` joined: true if it may be answered now; otherwise it waits.
    pub fn answer_now(&mut self, waiter: Waiter) -> bool {
        if !self.listening || self.active.contains(&waiter.room) {
            return true;
        }
        self.waiting.entry(waiter.room).or_default().push(waiter);
        false
    }

    /// The channel of `room` is now active; returns the loops that have answers due.
    pub fn subscribed(&mut self, room: u32) -> Vec<usize> {
        self.active.insert(room);
        let waiters = self.waiting.remove(&room).unwrap_or_default();
        self.make_ready(waiters)
    }

    /// This node stopped listening to `room`.
    pub fn unsubscribed(&mut self, room: u32) {
        self.active.remove(&room);
    }

    /// `room` has no local member left: nobody waits for it.
    pub fn emptied(&mut self, room: u32) {
        self.waiting.remove(&room);
    }

    /// The subscriber connected (`true`: nothing is active yet) or lost its connection
    /// (`false`: everyone waiting is answered now). Returns the loops with answers due.
    pub fn listening(&mut self, listening: bool) -> Vec<usize> {
        self.listening = listening;
        self.active.clear();
        if listening {
            return Vec::new();
        }
        let waiters: Vec<Waiter> = self.waiting.drain().flat_map(|(_, w)| w).collect();
        self.make_ready(waiters)
    }

    /// Takes the answers due on loop `index`.
    pub fn take_ready(&mut self, index: usize) -> Vec<Waiter> {
        self.ready
            .get_mut(index)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn make_ready(&mut self, waiters: Vec<Waiter>) -> Vec<usize> {
        let mut loops = Vec::new();
        for waiter in waiters {
            let index = waiter.loop_index;
            if self.ready.len() <= index {
                self.ready.resize_with(index + 1, Vec::new);
            }
            self.ready[index].push(waiter);
            if !loops.contains(&index) {
                loops.push(index);
            }
        }
        loops
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(n: u64, room: u32, loop_index: usize) -> Waiter {
        Waiter {
            session: SessionId::from_parts(loop_index as u16, n as u32, 0),
            room,
            loop_index,
        }
    }

    #[test]
    fn answers_at_once_unless_listening_without_the_room() {
        let mut s = Subscriptions::default();
        assert!(s.answer_now(waiter(1, 7, 0)), "not listening: no wait");
        assert!(s.listening(true).is_empty());
        assert!(!s.answer_now(waiter(2, 7, 1)));
        assert!(!s.answer_now(waiter(3, 7, 0)));
        assert_eq!(s.subscribed(7), vec![1, 0]);
        assert_eq!(s.take_ready(1), vec![waiter(2, 7, 1)]);
        assert_eq!(s.take_ready(0), vec![waiter(3, 7, 0)]);
        assert!(s.take_ready(0).is_empty());
        assert!(s.answer_now(waiter(4, 7, 0)), "active: no wait");
        s.unsubscribed(7);
        assert!(!s.answer_now(waiter(5, 7, 0)));
    }

    #[test]
    fn losing_the_connection_answers_everyone_and_emptied_rooms_forget() {
        let mut s = Subscriptions::default();
        s.listening(true);
        assert!(!s.answer_now(waiter(1, 1, 0)));
        assert!(!s.answer_now(waiter(2, 2, 3)));
        s.emptied(1);
        assert_eq!(s.listening(false), vec![3]);
        assert_eq!(s.take_ready(3), vec![waiter(2, 2, 3)]);
        assert!(s.take_ready(0).is_empty());
        assert!(s.answer_now(waiter(3, 9, 0)));
    }
}
