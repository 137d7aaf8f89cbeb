//! [`UserData`]: what the application keeps on a session, by type.

use std::any::{Any, TypeId};

/// Values attached to one session, at most one per type, dropped with the session. A tiny type
/// map (a session usually holds one or two values: the game's player state, a framing layer's
/// rate-limit bucket), so each layer keeps its own state on the session without a
/// `HashMap<SessionId, _>` of its own and without clashing with the others.
#[derive(Default)]
pub(crate) struct UserData {
    values: Vec<(TypeId, Box<dyn Any + Send>)>,
}

impl UserData {
    /// Stores `value`, returning the value of the same type it replaces.
    pub(crate) fn insert<T: Any + Send>(&mut self, value: T) -> Option<T> {
        let old = self.remove::<T>();
        self.values.push((TypeId::of::<T>(), Box::new(value)));
        old
    }

    pub(crate) fn get<T: Any + Send>(&self) -> Option<&T> {
        self.values
            .iter()
            .find(|(t, _)| *t == TypeId::of::<T>())
            .and_then(|(_, v)| v.downcast_ref())
    }

    pub(crate) fn get_mut<T: Any + Send>(&mut self) -> Option<&mut T> {
        self.values
            .iter_mut()
            .find(|(t, _)| *t == TypeId::of::<T>())
            .and_then(|(_, v)| v.downcast_mut())
    }

    pub(crate) fn remove<T: Any + Send>(&mut self) -> Option<T> {
        self.remove_boxed().map(|b| *b)
    }

    /// Takes the value of type `T` out in its box (no allocation).
    pub(crate) fn remove_boxed<T: Any + Send>(&mut self) -> Option<Box<T>> {
        let at = self
            .values
            .iter()
            .position(|(t, _)| *t == TypeId::of::<T>())?;
        let (_, value) = self.values.swap_remove(at);
        value.downcast().ok()
    }
}

impl std::fmt::Debug for UserData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserData")
            .field("values", &self.values.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_type() {
        let mut data = UserData::default();
        assert_eq!(data.insert(1u32), None);
        assert_eq!(data.insert("room"), None);
        assert_eq!(data.insert(2u32), Some(1));
        *data.get_mut::<u32>().unwrap() += 1;
        assert_eq!(data.get::<u32>(), Some(&3));
        assert_eq!(data.get::<&str>(), Some(&"room"));
        assert_eq!(data.remove::<u32>(), Some(3));
        assert_eq!(data.get::<u32>(), None);
        assert_eq!(data.get::<u64>(), None);
        assert_eq!(data.remove::<&str>(), Some("room"));
        assert!(data.get::<&str>().is_none());
    }
}
