//! Writing one player's ARENA_SNAPSHOT: the entities within its view radius (a grid query
//! around it, the nearest `max_in_view` kept) against what it was last sent ([`View`]), every
//! difference encoded straight into one buffer from the loop's pool — one allocation-free pass
//! per player per tick.

use bytes::{Bytes, BytesMut};
use game_protocol::arena::{EntityState, Rules, SnapshotEncoder, SnapshotHeader};
use rooms::interest::{Candidate, Grid, Interest, ViewSink};
use servercore::Context;

use crate::arena::world::Player;

/// What every snapshot of one tick shares.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// The tick's number.
    pub tick: u32,
    /// The server's wall clock when the tick began (µs, low 32 bits).
    pub sent_at_us: u32,
    /// The tick number the players' flags are taken at.
    pub at: u64,
}

/// The scratch a room keeps across players and ticks.
#[derive(Debug, Default)]
pub struct Writer {
    interest: Interest<EntityState>,
    encoder: SnapshotEncoder,
}

/// The encoder as the interest diff's sink.
struct Sink<'a> {
    encoder: &'a mut SnapshotEncoder,
    out: &'a mut BytesMut,
}

impl ViewSink<EntityState> for Sink<'_> {
    fn left(&mut self, id: u32) {
        self.encoder.left(self.out, id as u16);
    }
    fn entered(&mut self, id: u32, state: &EntityState) {
        self.encoder.entered(id as u16, state);
    }
    fn changed(&mut self, id: u32, old: &EntityState, new: &EntityState) {
        self.encoder.update(self.out, id as u16, old, new);
    }
}

impl Writer {
    /// Player `id`'s snapshot for `frame`, in one pooled buffer; its view becomes what the
    /// snapshot lists. `states` holds every entity's state this tick, by id.
    pub fn write(
        &mut self,
        core: &mut Context<'_>,
        rules: &Rules,
        grid: &Grid,
        states: &[EntityState],
        (id, player): (u16, &mut Player),
        frame: Frame,
    ) -> Bytes {
        let header = SnapshotHeader {
            tick: frame.tick,
            base_tick: player.last_sent,
            sent_at_us: frame.sent_at_us,
            input_ack: player.input_ack,
            you: player.own(frame.at),
        };
        player.last_sent = frame.tick;
        let interest = &mut self.interest;
        grid.query(
            player.pos.0,
            player.pos.1,
            rules.view_radius2(),
            |entry, dist2| {
                if entry.id != u32::from(id) {
                    let state = states[entry.id as usize];
                    interest.push(Candidate {
                        id: entry.id,
                        dist2,
                        state,
                    });
                }
            },
        );
        // A hint for the pool: every entry a move (4 bytes) plus room for a few more.
        let hint = 64 + 6 * player.view.len().max(interest.candidates().len());
        let encoder = &mut self.encoder;
        let view = &mut player.view;
        let max = usize::from(rules.max_in_view);
        core.alloc(hint, |out| {
            encoder.begin(out, &header);
            let mut sink = Sink {
                encoder: &mut *encoder,
                out: &mut *out,
            };
            interest.diff(view, max, &mut sink);
            encoder.finish(out);
        })
    }
}
