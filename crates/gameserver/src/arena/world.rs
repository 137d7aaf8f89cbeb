//! [`World`]: an arena's players, by entity id. Ids are `u16`, the lowest free one first; an
//! id freed in a tick is reused only after that tick's snapshots are written, so no member's
//! view ever sees an id leave and a new entity take it in the same snapshot as a "move".

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use game_protocol::arena::{EntityState, Own, FLAG_COOLDOWN, FLAG_IT};
use rooms::interest::View;
use servercore::SessionId;

/// One player.
#[derive(Debug)]
pub struct Player {
    /// Its session.
    pub member: SessionId,
    /// Position, in quanta.
    pub pos: (i32, i32),
    /// Its intent: heading (1/256 turns) and speed (units/s, clamped).
    pub heading: u8,
    pub speed: u16,
    /// The `seq` of the last input applied.
    pub input_ack: u16,
    /// "It" (the tagger).
    pub it: bool,
    /// Cannot tag, and cannot be tagged, before this tick.
    pub cooldown_until: u64,
    /// Tags made.
    pub score: u16,
    /// What this player was last sent.
    pub view: View<EntityState>,
    /// The tick of its last snapshot (the base of the next; 0: none yet).
    pub last_sent: u32,
}

impl Player {
    /// A player of session `member` at `pos` (quanta), standing still, not "it".
    pub fn new(member: SessionId, pos: (i32, i32)) -> Player {
        Player {
            member,
            pos,
            heading: 0,
            speed: 0,
            input_ack: 0,
            it: false,
            cooldown_until: 0,
            score: 0,
            view: View::default(),
            last_sent: 0,
        }
    }

    /// Its flags at `tick`.
    pub fn flags(&self, tick: u64) -> u8 {
        let it = if self.it { FLAG_IT } else { 0 };
        let cooling = if tick < self.cooldown_until {
            FLAG_COOLDOWN
        } else {
            0
        };
        it | cooling
    }

    /// What others see of it at `tick`.
    pub fn state(&self, tick: u64) -> EntityState {
        EntityState {
            x: quantum(self.pos.0),
            y: quantum(self.pos.1),
            flags: self.flags(tick),
        }
    }

    /// What it sees of itself at `tick`.
    pub fn own(&self, tick: u64) -> Own {
        Own {
            x: quantum(self.pos.0),
            y: quantum(self.pos.1),
            flags: self.flags(tick),
            score: self.score,
        }
    }
}

/// A position on the wire (positions are kept inside `0..extent`, which fits a `u16`).
fn quantum(v: i32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

/// A small deterministic generator (xorshift64*) for spawn points: no dependency, no lock.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded by `seed` (any value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((x >> 32) % u64::from(n.max(1))) as u32
    }
}

/// The players of one arena.
#[derive(Debug, Default)]
pub struct World {
    players: Vec<Option<Player>>,
    by_member: HashMap<SessionId, u16>,
    /// Ids free to take, lowest first.
    free: BinaryHeap<Reverse<u16>>,
    /// Ids freed this tick: free after its snapshots.
    released: Vec<u16>,
    len: usize,
}

impl World {
    /// Players now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The id of `member`'s entity.
    pub fn id_of(&self, member: SessionId) -> Option<u16> {
        self.by_member.get(&member).copied()
    }

    pub fn get(&self, id: u16) -> Option<&Player> {
        self.players.get(usize::from(id))?.as_ref()
    }

    pub fn get_mut(&mut self, id: u16) -> Option<&mut Player> {
        self.players.get_mut(usize::from(id))?.as_mut()
    }

    /// One past the highest id in use or held.
    pub fn id_bound(&self) -> usize {
        self.players.len()
    }

    /// Every (id, player).
    pub fn iter(&self) -> impl Iterator<Item = (u16, &Player)> {
        self.players
            .iter()
            .enumerate()
            .filter_map(|(id, p)| Some((id as u16, p.as_ref()?)))
    }

    /// Every (id, player), to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u16, &mut Player)> {
        self.players
            .iter_mut()
            .enumerate()
            .filter_map(|(id, p)| Some((id as u16, p.as_mut()?)))
    }

    /// Adds `player`; its id, or `None` if all 65,536 ids are taken.
    pub fn add(&mut self, player: Player) -> Option<u16> {
        let id = match self.free.pop() {
            Some(Reverse(id)) => id,
            None => u16::try_from(self.players.len()).ok()?,
        };
        let slot = usize::from(id);
        if self.players.len() <= slot {
            self.players.resize_with(slot + 1, || None);
        }
        self.by_member.insert(player.member, id);
        self.players[slot] = Some(player);
        self.len += 1;
        Some(id)
    }

    /// Removes `member`'s player; its id is free after this tick's snapshots.
    pub fn remove(&mut self, member: SessionId) -> Option<(u16, Player)> {
        let id = self.by_member.remove(&member)?;
        let player = self.players[usize::from(id)].take()?;
        self.released.push(id);
        self.len -= 1;
        Some((id, player))
    }

    /// The tick's snapshots are written: ids freed during it may be taken again.
    pub fn recycle(&mut self) {
        self.free.extend(self.released.drain(..).map(Reverse));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(n: u32) -> Player {
        Player::new(SessionId::from_parts(0, n, 0), (0, 0))
    }

    #[test]
    fn ids_are_reused_lowest_first_and_only_after_the_tick() {
        let mut w = World::default();
        assert_eq!(w.add(player(1)), Some(0));
        assert_eq!(w.add(player(2)), Some(1));
        assert_eq!(w.add(player(3)), Some(2));
        w.remove(SessionId::from_parts(0, 2, 0));
        w.remove(SessionId::from_parts(0, 1, 0));
        assert_eq!(w.add(player(4)), Some(3), "not in the same tick");
        w.recycle();
        assert_eq!(w.add(player(5)), Some(0));
        assert_eq!(w.add(player(6)), Some(1));
        assert_eq!(w.len(), 4);
        assert_eq!(w.id_of(SessionId::from_parts(0, 6, 0)), Some(1));
        assert!(w.get(2).is_some() && w.get(9).is_none());
    }

    #[test]
    fn flags_and_spawn_numbers() {
        let mut p = player(1);
        p.it = true;
        p.cooldown_until = 10;
        assert_eq!(p.flags(9), FLAG_IT | FLAG_COOLDOWN);
        assert_eq!(p.flags(10), FLAG_IT);
        let mut rng = Rng::new(7);
        assert!((0..1000).all(|_| rng.below(37) < 37));
        let (a, b) = (Rng::new(1).below(1000), Rng::new(2).below(1000));
        assert_ne!(a, b);
    }
}
