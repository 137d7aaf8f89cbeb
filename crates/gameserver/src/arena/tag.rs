//! The game: tag. Some players are "it" (about one in [`PLAYERS_PER_IT`], at least one); "it"
//! tags the nearest player within the tag radius who is not "it" and not cooling down
//! (ARENA_INPUT's tag action): that player becomes "it" and cools down (cannot tag back, cannot
//! be tagged) for two seconds, the tagger is no longer "it" and scores a point. A joiner
//! becomes "it" while there are too few; when "it" leaves, the lowest-id player not "it" is.

use game_protocol::arena::Rules;
use rooms::interest::Grid;

use crate::arena::world::World;

/// About one "it" per this many players.
pub const PLAYERS_PER_IT: usize = 20;

/// How many should be "it" among `players`.
pub fn it_target(players: usize) -> usize {
    players
        .div_ceil(PLAYERS_PER_IT)
        .max(usize::from(players > 0))
}

/// Resolves the tag actions of `taggers` at `tick` (positions as in `grid`); returns the tags
/// made. A tagger that is not "it", or cools down, or has nobody in reach, tags nobody.
pub fn resolve<T: Copy>(
    world: &mut World,
    grid: &Grid<T>,
    rules: &Rules,
    taggers: &[u16],
    tick: u64,
    cooldown: u64,
) -> u64 {
    let mut tags = 0;
    for &tagger in taggers {
        let Some(p) = world
            .get(tagger)
            .filter(|p| p.it && tick >= p.cooldown_until)
        else {
            continue;
        };
        let mut nearest: Option<(i64, u16)> = None;
        grid.query(p.pos.0, p.pos.1, rules.tag_radius2(), |entry, d2| {
            let id = entry.id as u16;
            let taggable = world
                .get(id)
                .is_some_and(|q| !q.it && tick >= q.cooldown_until);
            if id != tagger && taggable && nearest.is_none_or(|(best, _)| d2 < best) {
                nearest = Some((d2, id));
            }
        });
        let Some((_, tagged)) = nearest else {
            continue;
        };
        if let Some(q) = world.get_mut(tagged) {
            q.it = true;
            q.cooldown_until = tick + cooldown;
        }
        if let Some(p) = world.get_mut(tagger) {
            p.it = false;
            p.score = p.score.saturating_add(1);
        }
        tags += 1;
    }
    tags
}

/// Makes players "it", lowest id first, until there are [`it_target`] of them.
pub fn balance(world: &mut World) {
    let target = it_target(world.len());
    let mut its = world.iter().filter(|(_, p)| p.it).count();
    for (_, p) in world.iter_mut() {
        if its >= target {
            return;
        }
        if !p.it {
            p.it = true;
            its += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arena::world::Player;
    use servercore::SessionId;

    fn add(world: &mut World, grid: &mut Grid, n: u32, pos: (i32, i32), it: bool) -> u16 {
        let mut player = Player::new(SessionId::from_parts(0, n, 0), pos);
        player.it = it;
        let id = world.add(player).unwrap();
        grid.insert(u32::from(id), pos.0, pos.1, ());
        id
    }

    #[test]
    fn it_tags_the_nearest_in_reach_who_then_cools_down() {
        let rules = Rules {
            tick_hz: 20,
            size: 100,
            view_radius: 50,
            max_speed: 100,
            tag_radius: 10,
            max_in_view: 16,
        };
        let (mut world, mut grid) = (World::default(), Grid::new(800, 800, 400));
        let it = add(&mut world, &mut grid, 1, (100, 100), true);
        let near = add(&mut world, &mut grid, 2, (150, 100), false);
        let nearer = add(&mut world, &mut grid, 3, (120, 100), false);
        let far = add(&mut world, &mut grid, 4, (400, 400), false);
        assert_eq!(resolve(&mut world, &grid, &rules, &[it], 5, 40), 1);
        assert!(world.get(nearer).unwrap().it && !world.get(it).unwrap().it);
        assert_eq!(world.get(it).unwrap().score, 1);
        assert!(!world.get(near).unwrap().it && !world.get(far).unwrap().it);
        // The tagged one cannot tag back while cooling down, nor be tagged.
        assert_eq!(resolve(&mut world, &grid, &rules, &[nearer], 6, 40), 0);
        assert_eq!(resolve(&mut world, &grid, &rules, &[nearer], 45, 40), 1);
        assert!(world.get(it).unwrap().it || world.get(near).unwrap().it);
        assert_eq!(
            resolve(&mut world, &grid, &rules, &[far], 45, 40),
            0,
            "not it"
        );
    }

    #[test]
    fn enough_players_are_it() {
        assert_eq!(
            (it_target(0), it_target(1), it_target(20), it_target(21)),
            (0, 1, 1, 2)
        );
        let (mut world, mut grid) = (World::default(), Grid::new(100, 100, 10));
        for n in 0..25 {
            add(&mut world, &mut grid, n, (0, 0), false);
        }
        balance(&mut world);
        assert_eq!(world.iter().filter(|(_, p)| p.it).count(), 2);
    }
}
