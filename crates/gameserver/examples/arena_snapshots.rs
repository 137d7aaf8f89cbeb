//! The arena's tick work without the network: N players at the benchmark's density (about 75
//! in each one's view), moving and turning, and each tick every player's snapshot written by
//! the server's own writer (grid query, view diff, encoding) into a buffer. Prints the time
//! per player per tick of the grid update and of the snapshots, and their average size.
//!
//! ```text
//! cargo run --release -p gameserver --example arena_snapshots -- 10000
//! ```

use std::time::{Duration, Instant};

use bytes::BytesMut;
use game_protocol::arena::{EntityState, Rules};
use gameserver::arena::{Frame, Player, World, Writer};
use rooms::interest::Grid;
use servercore::SessionId;

fn main() {
    let players: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let view_radius = 100.0;
    let side =
        (f64::from(players) * std::f64::consts::PI * view_radius * view_radius / 75.0).sqrt();
    let rules = Rules {
        tick_hz: 20,
        size: side.round().clamp(100.0, 8190.0) as u16,
        view_radius: view_radius as u16,
        max_speed: 120,
        tag_radius: 24,
        max_in_view: 256,
    };
    let extent = rules.extent();
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    let mut random = |n: i32| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as i32
    };
    let mut world = World::default();
    let mut grid: Grid<EntityState> = Grid::new(extent, extent, i32::from(rules.view_radius) * 8);
    for n in 0..players {
        let pos = (random(extent), random(extent));
        let mut player = Player::new(SessionId::from_parts(0, n, 0), pos);
        (player.heading, player.speed) = (random(256) as u8, 120);
        let id = world.add(player).expect("an id");
        grid.insert(u32::from(id), pos.0, pos.1, EntityState::default());
    }
    let mut writer = Writer::default();
    let mut out = BytesMut::with_capacity(64 * 1024);
    let (mut grid_time, mut write_time, mut bytes) = (Duration::ZERO, Duration::ZERO, 0);
    let ticks = 40;
    for tick in 1..=ticks {
        for (_, p) in world.iter_mut() {
            if random(20) == 0 {
                p.heading = random(256) as u8;
            }
            p.pos = rules.step(p.pos, rules.velocity(p.heading, p.speed));
        }
        let started = Instant::now();
        for (id, p) in world.iter() {
            grid.update(u32::from(id), p.pos.0, p.pos.1, p.state(tick));
        }
        grid_time += started.elapsed();
        let frame = Frame {
            tick: tick as u32,
            sent_at_us: 0,
            at: tick,
        };
        let started = Instant::now();
        for (id, p) in world.iter_mut() {
            out.clear();
            writer.write_into(&mut out, &rules, &grid, (id, p), frame);
            bytes += out.len();
        }
        write_time += started.elapsed();
    }
    let per = |d: Duration| d.as_nanos() as f64 / f64::from(players) / ticks as f64 / 1000.0;
    let in_view: usize = world.iter().map(|(_, p)| p.view.len()).sum();
    println!(
        "{players} players, arena {} units, {:.1} in view: grid {:.3} us, snapshots {:.3} us \
         per player per tick; {:.0} bytes a snapshot",
        rules.size,
        in_view as f64 / f64::from(players),
        per(grid_time),
        per(write_time),
        bytes as f64 / f64::from(players) / ticks as f64
    );
}
