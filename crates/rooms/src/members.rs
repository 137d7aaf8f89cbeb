//! [`Members`]: who is in a room, with O(1) membership tests, adds and removals, and a
//! per-member count of the inputs applied in the current tick (the input rate rule).

use std::collections::HashMap;

use servercore::SessionId;

/// A room's members, in no particular order (a removal moves the last member into the gap).
#[derive(Debug, Default)]
pub struct Members {
    list: Vec<SessionId>,
    index: HashMap<SessionId, usize>,
    /// Inputs applied this tick, parallel to `list`.
    inputs: Vec<u16>,
}

impl Members {
    /// The members, as a slice (what a broadcast goes over).
    pub fn as_slice(&self) -> &[SessionId] {
        &self.list
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// True if `id` is a member.
    pub fn contains(&self, id: SessionId) -> bool {
        self.index.contains_key(&id)
    }

    /// Adds `id`; false if it was a member already.
    pub(crate) fn insert(&mut self, id: SessionId) -> bool {
        if self.contains(id) {
            return false;
        }
        self.index.insert(id, self.list.len());
        self.list.push(id);
        self.inputs.push(0);
        true
    }

    /// Removes `id`; false if it was not a member.
    pub(crate) fn remove(&mut self, id: SessionId) -> bool {
        let Some(at) = self.index.remove(&id) else {
            return false;
        };
        self.list.swap_remove(at);
        self.inputs.swap_remove(at);
        if let Some(&moved) = self.list.get(at) {
            self.index.insert(moved, at);
        }
        true
    }

    /// Counts one more input of `id` this tick; returns the count (0: not a member).
    pub(crate) fn count_input(&mut self, id: SessionId) -> u16 {
        match self.index.get(&id) {
            Some(&at) => {
                self.inputs[at] = self.inputs[at].saturating_add(1);
                self.inputs[at]
            }
            None => 0,
        }
    }

    /// A new tick: every count back to 0.
    pub(crate) fn reset_inputs(&mut self) {
        self.inputs.iter_mut().for_each(|n| *n = 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> SessionId {
        SessionId::from_parts(0, n, 0)
    }

    #[test]
    fn adds_removes_and_counts() {
        let mut m = Members::default();
        assert!(m.insert(id(1)) && m.insert(id(2)) && m.insert(id(3)));
        assert!(!m.insert(id(2)));
        assert_eq!(m.count_input(id(3)), 1);
        assert_eq!(m.count_input(id(3)), 2);
        assert!(m.remove(id(1)));
        assert!(!m.remove(id(1)));
        assert_eq!(m.len(), 2);
        assert!(m.contains(id(3)) && !m.contains(id(1)));
        assert_eq!(m.count_input(id(3)), 3, "the count moved with the member");
        assert_eq!(m.count_input(id(9)), 0);
        m.reset_inputs();
        assert_eq!(m.count_input(id(3)), 1);
        assert!(m.remove(id(3)) && m.remove(id(2)) && m.is_empty());
    }
}
