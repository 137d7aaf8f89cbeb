//! [`ArenaArgs`]: the `--game arena` flags (the arena's rules and bounds), and the
//! [`ArenaConfig`] they make.

use std::time::Duration;

use game_protocol::arena::{Rules, MAX_IN_VIEW, MAX_SIZE};
use rooms::RoomsConfig;

/// Most players one arena holds: entity ids are `u16`.
pub const MAX_CAPACITY: u64 = u16::MAX as u64;

/// The arena's flags (`gameserver --protocol packet --game arena`).
#[derive(Debug, Clone, clap::Args)]
pub struct ArenaArgs {
    /// Arena: the side of the square arena, in units (1 to 8190; positions are sent in 1/8
    /// units).
    #[arg(long, value_name = "UNITS", default_value_t = 1000,
          value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_SIZE)))]
    pub arena_size: u16,
    /// Arena: players see each other within this distance (units; at least 1).
    #[arg(long, value_name = "UNITS", default_value_t = 100,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub view_radius: u16,
    /// Arena: simulation steps (and snapshots to each player) per second (1 to 1000).
    #[arg(long, value_name = "HZ", default_value_t = 20,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub tick_hz: u16,
    /// Arena: the fastest a player moves, in units per second; faster inputs are clamped and
    /// counted (at least 1).
    #[arg(long, value_name = "UNITS_PER_SEC", default_value_t = 120,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub max_speed: u16,
    /// Arena: how close "it" must be to tag another player (units; at least 1).
    #[arg(long, value_name = "UNITS", default_value_t = 24,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub tag_radius: u16,
    /// Arena: the most players one snapshot lists (the nearest, when more are in view; 1 to
    /// 4096).
    #[arg(long, value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_IN_VIEW)))]
    pub max_in_view: u16,
    /// Arena: the most players in one arena (1 to 65535); more are answered ROOM_FULL.
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=MAX_CAPACITY))]
    pub arena_capacity: u64,
    /// Arena with --cluster: where players reach this instance over TCP (HOST:PORT), sent in
    /// REDIRECT to players who join one of its arenas on another instance. Required with
    /// --cluster.
    #[arg(long, value_name = "HOST:PORT", value_parser = public_address)]
    pub public_addr: Option<String>,
    /// Arena with --cluster: where browsers reach this instance (a ws:// or wss:// URL, e.g.
    /// ws://203.0.113.7:7778/), sent in REDIRECT beside --public-addr.
    #[arg(long, value_name = "URL", value_parser = public_address)]
    pub public_websocket: Option<String>,
}

/// `--public-addr` / `--public-websocket`: 1 to 255 bytes without white space (they are
/// stored space-separated in the lease and sent in a `str8`).
///
/// # Errors
/// An empty, long or spaced address.
pub fn public_address(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > 255 || text.contains(char::is_whitespace) || text == "-" {
        return Err("an address of 1 to 255 bytes without spaces".into());
    }
    Ok(text.to_string())
}

/// What the arena rooms of a server are made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArenaConfig {
    /// The rules every player is told (ARENA_WELCOME).
    pub rules: Rules,
    /// Most players per arena.
    pub capacity: usize,
}

/// Inputs one player's input may apply in one tick: more are dropped (counted by the rooms).
pub const MAX_INPUTS_PER_TICK: u16 = 4;

impl ArenaArgs {
    /// The config the flags make.
    pub fn config(&self) -> ArenaConfig {
        ArenaConfig {
            rules: Rules {
                tick_hz: self.tick_hz,
                size: self.arena_size,
                view_radius: self.view_radius,
                max_speed: self.max_speed,
                tag_radius: self.tag_radius,
                max_in_view: self.max_in_view,
            },
            capacity: usize::try_from(self.arena_capacity).unwrap_or(usize::MAX),
        }
    }
}

impl Default for ArenaConfig {
    fn default() -> Self {
        ArenaConfig {
            rules: Rules {
                tick_hz: 20,
                size: 1000,
                view_radius: 100,
                max_speed: 120,
                tag_radius: 24,
                max_in_view: 256,
            },
            capacity: 10_000,
        }
    }
}

impl ArenaConfig {
    /// The rooms' config: a tick at `tick_hz`, the capacity, and inputs bounded per player
    /// and tick.
    pub fn rooms(&self) -> RoomsConfig {
        RoomsConfig {
            capacity: self.capacity,
            tick_hz: Some(u32::from(self.rules.tick_hz)),
            max_inputs_per_tick: MAX_INPUTS_PER_TICK,
            max_queued_inputs: self.capacity * usize::from(MAX_INPUTS_PER_TICK) * 2,
            ..RoomsConfig::default()
        }
    }

    /// How long "it" cannot tag, and cannot be tagged back, after a tag.
    pub fn cooldown(&self) -> Duration {
        Duration::from_secs(2)
    }

    /// The cooldown in ticks.
    pub fn cooldown_ticks(&self) -> u64 {
        (self.cooldown().as_millis() as u64 * u64::from(self.rules.tick_hz)).div_ceil(1000)
    }
}
