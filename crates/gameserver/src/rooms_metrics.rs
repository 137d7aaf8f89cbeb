//! [`RoomsMetrics`]: the rooms' series (packet mode) and the arena's (`--game arena`), for the
//! exporter: read once per scrape from the `rooms` facility's counters
//! (`RoomsHub::stats`) and [`ArenaStats`].
//!
//! | metric (prefixed `gameserver_`)                    | type    | meaning |
//! |----------------------------------------------------|---------|---------|
//! | `rooms{game}`, `room_members`                      | gauge   | rooms and their members (as last published, ~1 s) |
//! | `room_joins_total`, `room_joins_refused_total`     | counter | joins let in, and refused (full, or by the room) |
//! | `room_inputs_total`                                | counter | inputs applied (chats, arena intents) |
//! | `room_inputs_dropped_total{reason}`                | counter | busy, queue, rate, stale, held (`rooms::Dropped`) |
//! | `room_undelivered_total`                           | counter | room sends to a loop `max_posted_bytes` behind |
//! | `room_ticks_total`, `room_tick_periods_skipped_total` | counter | ticks run; periods skipped by a room behind |
//! | `room_tick_microseconds{quantile}`                 | gauge   | tick work (inputs + `Room::tick`): 0.5, 0.9, 0.99, 0.999, 1 |
//! | `room_tick_microseconds_bucket{le}`                | counter | ticks that took at most `le` µs (cumulative; `+Inf`: all) |
//! | `arena_players`                                    | gauge   | players in arenas |
//! | `arena_tags_total`                                 | counter | tags made |
//! | `arena_inputs_clamped_total{rule}`                 | counter | inputs over the rules: `speed` clamped, `actions` ignored |
//! | `arena_snapshots_total`, `arena_snapshot_bytes_total` | counter | snapshots sent and their bytes |
//! | `arena_in_view_total`, `arena_player_ticks_total`  | counter | entities listed, player-ticks (their ratio: entities in view) |
//! | `arena_tick_phase_microseconds_total{phase}`       | counter | tick time by phase: inputs, simulation, grid, encode, send |
//! | `arena_lease_up`                                   | gauge   | `--cluster`: 1 while the lease keeper's Redis connection is up |
//! | `arena_leases_taken_total`, `arena_leases_lost_total` | counter | arenas this node took; taken from it by another |
//! | `arena_lease_answers_total{answer}`                | counter | joins answered `redirect` or `unavailable` |
//! | `arena_leases_rejected_total`                      | counter | leases in Redis not believed (signature, stale) |

use std::fmt;
use std::sync::Arc;

use gameserver::arena::{ArenaStats, Clamped, Phase};
use gameserver::cluster::{LeaseStats, Leases};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use rooms::{Dropped, RoomsSnapshot};

use crate::metrics::{counter, gauge, labelled_counter, labelled_gauge, Extra};

/// The quantiles of the tick-time series.
const QUANTILES: [f64; 5] = [0.5, 0.9, 0.99, 0.999, 1.0];

/// Upper bounds (µs) of the tick-time buckets: 0.1 ms steps to 2 ms, 0.5 ms to 10 ms, then
/// coarser. Cumulative counts per bucket let a reader take the quantiles of any window (two
/// scrapes' difference): the benchmark's tick p99 while the bots move.
const BUCKETS_US: [u64; 46] = [
    100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200, 1300, 1400, 1500, 1600, 1700,
    1800, 1900, 2000, 2500, 3000, 3500, 4000, 4500, 5000, 5500, 6000, 6500, 7000, 7500, 8000, 8500,
    9000, 9500, 10_000, 12_000, 14_000, 16_000, 18_000, 20_000, 30_000, 50_000, 100_000, 250_000,
    1_000_000,
];

/// The arena's counters, and its leases' with `--cluster`.
pub(crate) type ArenaSources = (Arc<ArenaStats>, Option<Arc<Leases>>);

/// One scrape's room figures.
#[derive(Debug)]
pub(crate) struct RoomsMetrics {
    game: &'static str,
    rooms: RoomsSnapshot,
    arena: Option<ArenaSources>,
}

/// The rooms' series of game `game`, read with `stats`, and the arena's from `arena`.
pub(crate) fn rooms_extra(
    game: &'static str,
    stats: impl Fn() -> RoomsSnapshot + Send + Sync + 'static,
    arena: Option<ArenaSources>,
) -> Extra {
    Box::new(move || {
        Box::new(RoomsMetrics {
            game,
            rooms: stats(),
            arena: arena.clone(),
        })
    })
}

impl Collector for RoomsMetrics {
    fn encode(&self, mut out: DescriptorEncoder) -> Result<(), fmt::Error> {
        let r = &self.rooms;
        labelled_gauge(
            &mut out,
            "rooms",
            "Rooms open, by game.",
            "game",
            [(self.game.to_string(), r.rooms)].into_iter(),
        )?;
        gauge(
            &mut out,
            "room_members",
            "Members of the open rooms.",
            None,
            r.members,
        )?;
        counter(
            &mut out,
            "room_joins",
            "Joins let into a room.",
            None,
            r.joins,
        )?;
        counter(
            &mut out,
            "room_joins_refused",
            "Joins refused (the room full, or by the room).",
            None,
            r.refused,
        )?;
        counter(
            &mut out,
            "room_inputs",
            "Inputs applied by rooms (chats, arena intents).",
            None,
            r.inputs,
        )?;
        labelled_counter(
            &mut out,
            "room_inputs_dropped",
            "Inputs not applied, by reason (busy: the room's loop far behind; queue: the room's queue full; rate: over the per-tick rule; stale: not a member any more; held: too many while joining).",
            "reason",
            Dropped::ALL.iter().map(|&d| (d.name().to_string(), r.dropped(d))),
        )?;
        counter(
            &mut out,
            "room_undelivered",
            "Room sends to members of a loop that far behind, dropped.",
            None,
            r.undelivered,
        )?;
        counter(&mut out, "room_ticks", "Room ticks run.", None, r.ticks)?;
        counter(
            &mut out,
            "room_tick_periods_skipped",
            "Tick periods skipped by rooms that fell behind.",
            None,
            r.skipped,
        )?;
        labelled_gauge(
            &mut out,
            "room_tick_microseconds",
            "Tick work (inputs applied and the room's tick), by quantile, since start.",
            "quantile",
            QUANTILES
                .iter()
                .map(|&q| (q.to_string(), r.tick_us.value_at_quantile(q))),
        )?;
        labelled_counter(
            &mut out,
            "room_tick_microseconds_bucket",
            "Ticks whose work took at most `le` microseconds (cumulative), since start.",
            "le",
            BUCKETS_US
                .iter()
                .map(|&le| (le.to_string(), r.ticks_within(le)))
                .chain(std::iter::once(("+Inf".to_string(), r.tick_us.len()))),
        )?;
        if let Some((arena, leases)) = &self.arena {
            encode_arena(&mut out, arena)?;
            if let Some(leases) = leases {
                encode_leases(&mut out, &leases.stats)?;
            }
        }
        Ok(())
    }
}

fn encode_arena(out: &mut DescriptorEncoder<'_>, a: &ArenaStats) -> Result<(), fmt::Error> {
    let get = ArenaStats::get;
    gauge(
        out,
        "arena_players",
        "Players in arenas.",
        None,
        get(&a.players),
    )?;
    counter(out, "arena_tags", "Tags made.", None, get(&a.tags))?;
    labelled_counter(
        out,
        "arena_inputs_clamped",
        "Inputs over the rules, never trusted: speed clamped to max_speed, unknown action bits ignored.",
        "rule",
        [(Clamped::Speed, &a.clamped_speed), (Clamped::Actions, &a.ignored_actions)]
            .into_iter()
            .map(|(rule, n)| (format!("{rule:?}").to_lowercase(), get(n))),
    )?;
    counter(
        out,
        "arena_snapshots",
        "Snapshots sent.",
        None,
        get(&a.snapshots),
    )?;
    counter(
        out,
        "arena_snapshot_bytes",
        "Bytes of snapshots sent (headers included).",
        None,
        get(&a.snapshot_bytes),
    )?;
    counter(
        out,
        "arena_in_view",
        "Entities listed in snapshots (divide by player ticks: entities in view).",
        None,
        get(&a.in_view),
    )?;
    counter(
        out,
        "arena_player_ticks",
        "Players times ticks.",
        None,
        get(&a.player_ticks),
    )?;
    labelled_counter(
        out,
        "arena_tick_phase_microseconds",
        "Tick time by phase.",
        "phase",
        Phase::ALL
            .iter()
            .map(|&p| (p.name().to_string(), a.phase_total(p).as_micros() as u64)),
    )
}

fn encode_leases(out: &mut DescriptorEncoder<'_>, l: &LeaseStats) -> Result<(), fmt::Error> {
    let get = LeaseStats::get;
    gauge(
        out,
        "arena_lease_up",
        "1 while the lease keeper's Redis connection is up.",
        None,
        get(&l.up),
    )?;
    counter(
        out,
        "arena_leases_taken",
        "Arena leases this node took (a free arena, or one whose owner died).",
        None,
        get(&l.taken),
    )?;
    counter(
        out,
        "arena_leases_lost",
        "Arena leases another node took from this one (its players were redirected).",
        None,
        get(&l.lost),
    )?;
    labelled_counter(
        out,
        "arena_lease_answers",
        "Joins answered by another instance's lease: redirect (REDIRECT), or unavailable (ROOM_UNAVAILABLE).",
        "answer",
        [("redirect", &l.redirects), ("unavailable", &l.unavailable)]
            .into_iter()
            .map(|(name, n)| (name.to_string(), get(n))),
    )?;
    counter(
        out,
        "arena_leases_rejected",
        "Arena leases in Redis not believed (bad signature, stale, malformed).",
        None,
        get(&l.rejected),
    )
}
