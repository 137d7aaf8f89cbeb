//! [`ClientWorld`]: the arena as one player sees it, rebuilt from its snapshots, and every
//! check a client can make of what the server sends ([`Violation`]):
//!
//! - ticks only go forward, and each snapshot is a delta against the previous one
//!   (`base_tick`): never against a state the client never had;
//! - a delta names only entities the client has (moved, placed, flagged, left), and an
//!   entering entity is one it does not have (and never itself);
//! - nobody moves faster than the rules allow, nothing is outside the arena, nothing listed is
//!   outside the view radius, and no more than `max_in_view` are listed;
//! - its own position follows its own inputs: each tick it moves by exactly the velocity of
//!   the input the snapshot acknowledges (the rules' step, clamped speed and bounds included).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::arena::messages::Input;
use crate::arena::rules::Rules;
use crate::arena::snapshot::{EntityState, Snapshot};

/// What a client found wrong in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// The tick did not go forward.
    TickOrder { last: u32, got: u32 },
    /// A delta against a snapshot this client did not have last.
    Base { expected: u32, got: u32 },
    /// A delta (left, moved, placed, flagged) for an entity the client does not have.
    Unknown { id: u16 },
    /// An entity entered that the client already has, or the player itself.
    Entered { id: u16 },
    /// An entity moved more than the rules allow in one tick.
    TooFast { id: u16 },
    /// An entity listed farther than the view radius.
    OutsideView { id: u16 },
    /// A position outside the arena.
    OutOfBounds,
    /// More entities in view than `max_in_view`.
    TooMany { count: usize },
    /// The player's own position did not follow its acknowledged input.
    OwnMove {
        expected: (i32, i32),
        got: (i32, i32),
    },
    /// The snapshot acknowledges an input this client never sent (or sent too long ago).
    UnknownAck { seq: u16 },
}

impl Violation {
    /// The name a report counts it under.
    pub fn name(&self) -> &'static str {
        match self {
            Violation::TickOrder { .. } => "tick_order",
            Violation::Base { .. } => "unknown_base",
            Violation::Unknown { .. } => "delta_unknown_entity",
            Violation::Entered { .. } => "entered_twice",
            Violation::TooFast { .. } => "too_fast",
            Violation::OutsideView { .. } => "outside_view",
            Violation::OutOfBounds => "out_of_bounds",
            Violation::TooMany { .. } => "too_many_in_view",
            Violation::OwnMove { .. } => "own_move",
            Violation::UnknownAck { .. } => "unknown_ack",
        }
    }
}

/// Hashes an entity id by Fibonacci multiplication: small ids spread over the table, cheaply.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u16(&mut self, id: u16) {
        self.0 = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Entities by id, hashed with [`IdHasher`].
pub type IdMap<V> = HashMap<u16, V, BuildHasherDefault<IdHasher>>;

/// How many of its latest inputs a client remembers to check its own moves.
const INPUT_LOG: usize = 256;

/// One player's view of the arena.
#[derive(Debug, Clone)]
pub struct ClientWorld {
    rules: Rules,
    you: u16,
    known: IdMap<EntityState>,
    /// The last tick received (0: none yet).
    last_tick: u32,
    /// Own position in the last snapshot.
    own: Option<(i32, i32)>,
    /// Inputs sent, by `seq % INPUT_LOG`.
    inputs: Vec<Option<Input>>,
}

impl ClientWorld {
    /// The world of player `you` under `rules` (from ARENA_WELCOME).
    pub fn new(rules: Rules, you: u16) -> ClientWorld {
        ClientWorld {
            rules,
            you,
            known: IdMap::default(),
            last_tick: 0,
            own: None,
            inputs: vec![None; INPUT_LOG],
        }
    }

    /// The rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The player's entity id.
    pub fn you(&self) -> u16 {
        self.you
    }

    /// The last tick received (0: none yet).
    pub fn last_tick(&self) -> u32 {
        self.last_tick
    }

    /// Own position (quanta), once a snapshot came.
    pub fn own(&self) -> Option<(i32, i32)> {
        self.own
    }

    /// The entities in view, by id.
    pub fn known(&self) -> &IdMap<EntityState> {
        &self.known
    }

    /// Remembers an input sent, for checking the moves that follow it.
    pub fn sent(&mut self, input: Input) {
        self.inputs[usize::from(input.seq) % INPUT_LOG] = Some(input);
    }

    /// Applies `snap`, appending what is wrong with it to `violations`.
    pub fn apply(&mut self, snap: &Snapshot<'_>, violations: &mut Vec<Violation>) {
        let header = snap.header;
        if self.last_tick != 0 && header.tick <= self.last_tick {
            violations.push(Violation::TickOrder {
                last: self.last_tick,
                got: header.tick,
            });
        }
        if header.base_tick != self.last_tick {
            violations.push(Violation::Base {
                expected: self.last_tick,
                got: header.base_tick,
            });
        }
        self.last_tick = header.tick;
        self.apply_lists(snap, violations);
        let own = (i32::from(header.you.x), i32::from(header.you.y));
        self.check_own_move(own, header.input_ack, violations);
        self.own = Some(own);
        self.check_view(own, violations);
    }

    fn apply_lists(&mut self, snap: &Snapshot<'_>, violations: &mut Vec<Violation>) {
        let max_step = self.rules.max_step();
        for id in snap.left() {
            if self.known.remove(&id).is_none() {
                violations.push(Violation::Unknown { id });
            }
        }
        for (id, dx, dy) in snap.moved() {
            let Some(e) = self.known.get_mut(&id) else {
                violations.push(Violation::Unknown { id });
                continue;
            };
            if i32::from(dx).abs() > max_step || i32::from(dy).abs() > max_step {
                violations.push(Violation::TooFast { id });
            }
            e.x = e.x.wrapping_add_signed(dx.into());
            e.y = e.y.wrapping_add_signed(dy.into());
        }
        for (id, state) in snap.entered() {
            if id == self.you || self.known.insert(id, state).is_some() {
                violations.push(Violation::Entered { id });
            }
        }
        for (id, x, y) in snap.placed() {
            let Some(e) = self.known.get_mut(&id) else {
                violations.push(Violation::Unknown { id });
                continue;
            };
            let far = |a: u16, b: u16| (i32::from(a) - i32::from(b)).abs() > max_step;
            if far(e.x, x) || far(e.y, y) {
                violations.push(Violation::TooFast { id });
            }
            (e.x, e.y) = (x, y);
        }
        for (id, flags) in snap.flagged() {
            match self.known.get_mut(&id) {
                Some(e) => e.flags = flags,
                None => violations.push(Violation::Unknown { id }),
            }
        }
    }

    /// Own move: the step of the acknowledged input's velocity from the last position (the
    /// intent before any input is to stand still).
    fn check_own_move(&self, own: (i32, i32), ack: u16, violations: &mut Vec<Violation>) {
        let Some(before) = self.own else {
            return;
        };
        let velocity = match ack {
            0 => (0, 0),
            seq => match self.inputs[usize::from(seq) % INPUT_LOG].filter(|i| i.seq == seq) {
                Some(input) => self.rules.velocity(input.direction, input.speed),
                None => return violations.push(Violation::UnknownAck { seq }),
            },
        };
        let expected = self.rules.step(before, velocity);
        if expected != own {
            violations.push(Violation::OwnMove { expected, got: own });
        }
    }

    /// Everything listed is inside the arena and the view radius, and not too many.
    fn check_view(&self, own: (i32, i32), violations: &mut Vec<Violation>) {
        let extent = self.rules.extent();
        let inside = |(x, y): (i32, i32)| x < extent && y < extent;
        if !inside(own) {
            violations.push(Violation::OutOfBounds);
        }
        for (&id, e) in &self.known {
            let at = (i32::from(e.x), i32::from(e.y));
            if !inside(at) {
                violations.push(Violation::OutOfBounds);
            }
            if !self.rules.in_view(own, at) {
                violations.push(Violation::OutsideView { id });
            }
        }
        if self.known.len() > usize::from(self.rules.max_in_view) {
            violations.push(Violation::TooMany {
                count: self.known.len(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arena::snapshot::{Own, SnapshotEncoder, SnapshotHeader};
    use bytes::BytesMut;

    fn rules() -> Rules {
        Rules {
            tick_hz: 20,
            size: 100,
            view_radius: 10,
            max_speed: 120,
            tag_radius: 4,
            max_in_view: 2,
        }
    }

    /// A snapshot body: header at `tick`/`base`, own position, then `write` adds the lists.
    fn body(
        tick: u32,
        base: u32,
        ack: u16,
        own: (u16, u16),
        write: impl FnOnce(&mut SnapshotEncoder, &mut BytesMut),
    ) -> Vec<u8> {
        let mut enc = SnapshotEncoder::default();
        let mut out = BytesMut::new();
        let header = SnapshotHeader {
            tick,
            base_tick: base,
            sent_at_us: 0,
            input_ack: ack,
            you: Own {
                x: own.0,
                y: own.1,
                flags: 0,
                score: 0,
            },
        };
        enc.begin(&mut out, &header);
        write(&mut enc, &mut out);
        enc.finish(&mut out);
        out[4..].to_vec()
    }

    fn apply(world: &mut ClientWorld, body: &[u8]) -> Vec<&'static str> {
        let mut v = Vec::new();
        world.apply(&Snapshot::parse(body).unwrap(), &mut v);
        v.iter().map(Violation::name).collect()
    }

    #[test]
    fn an_honest_sequence_passes() {
        let mut w = ClientWorld::new(rules(), 1);
        let near = EntityState {
            x: 400,
            y: 400,
            flags: 0,
        };
        let b = body(1, 0, 0, (400, 420), |e, _| e.entered(2, &near));
        assert!(apply(&mut w, &b).is_empty());
        w.sent(Input {
            seq: 1,
            direction: 0,
            speed: 120,
            actions: 0,
        });
        let moved = EntityState { x: 410, ..near };
        let b = body(2, 1, 1, (448, 420), |e, o| e.update(o, 2, &near, &moved));
        assert!(apply(&mut w, &b).is_empty());
        let b = body(3, 2, 1, (496, 420), |e, o| e.left(o, 2));
        assert!(apply(&mut w, &b).is_empty());
        assert!(w.known().is_empty());
    }

    #[test]
    fn every_violation_is_caught() {
        let mut w = ClientWorld::new(rules(), 1);
        let near = EntityState {
            x: 400,
            y: 400,
            flags: 0,
        };
        let far = EntityState {
            x: 0,
            y: 0,
            flags: 0,
        };
        let b = body(5, 3, 0, (400, 400), |e, o| {
            e.left(o, 9);
            e.entered(1, &near);
            e.entered(2, &near);
            e.entered(3, &near);
            e.entered(4, &far);
        });
        let got = apply(&mut w, &b);
        for name in [
            "unknown_base",
            "delta_unknown_entity",
            "entered_twice",
            "outside_view",
            "too_many_in_view",
        ] {
            assert!(got.contains(&name), "{name} in {got:?}");
        }
        let fast = EntityState { x: 300, ..near };
        let b = body(5, 5, 7, (401, 400), |e, o| e.update(o, 2, &near, &fast));
        let got = apply(&mut w, &b);
        for name in ["tick_order", "too_fast", "unknown_ack"] {
            assert!(got.contains(&name), "{name} in {got:?}");
        }
        let b = body(6, 5, 0, (402, 400), |_, _| {});
        assert!(apply(&mut w, &b).contains(&"own_move"));
    }
}
