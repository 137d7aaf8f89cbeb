//! Writing one player's ARENA_SNAPSHOT: the entities within its view radius (a grid query
//! around it, the nearest `max_in_view` kept) against what it was last sent ([`View`]), every
//! difference encoded straight into one buffer from the loop's pool — one allocation-free pass
//! per player per tick.

use bytes::{Bytes, BytesMut};
use game_protocol::arena::{EntityState, Rules, SnapshotEncoder, SnapshotHeader};
use rooms::interest::{Grid, Interest, ViewSink};
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
    /// snapshot lists. `grid` holds every entity's position and state this tick.
    pub fn write(
        &mut self,
        core: &mut Context<'_>,
        rules: &Rules,
        grid: &Grid<EntityState>,
        player: (u16, &mut Player),
        frame: Frame,
    ) -> Bytes {
        let hint = self.prepare(rules, grid, (player.0, &*player.1));
        core.alloc(hint, |out| self.encode(out, rules, player, frame))
    }

    /// As [`Writer::write`], appending to `out` (a benchmark's buffer, or a test's).
    pub fn write_into(
        &mut self,
        out: &mut BytesMut,
        rules: &Rules,
        grid: &Grid<EntityState>,
        player: (u16, &mut Player),
        frame: Frame,
    ) {
        self.prepare(rules, grid, (player.0, &*player.1));
        self.encode(out, rules, player, frame);
    }

    /// The candidates around player `id`; returns a size hint for its snapshot.
    fn prepare(
        &mut self,
        rules: &Rules,
        grid: &Grid<EntityState>,
        (id, player): (u16, &Player),
    ) -> usize {
        let (x, y) = player.pos;
        let interest = &mut self.interest;
        interest.gather(grid, x, y, rules.view_radius2(), u32::from(id));
        // Every entry a move (4 bytes) plus room for a few more.
        64 + 6 * player.view.len().max(interest.candidates().len())
    }

    /// The diff of the candidates against the player's view, encoded into `out`.
    fn encode(
        &mut self,
        out: &mut BytesMut,
        rules: &Rules,
        (_, player): (u16, &mut Player),
        frame: Frame,
    ) {
        let header = SnapshotHeader {
            tick: frame.tick,
            base_tick: player.last_sent,
            sent_at_us: frame.sent_at_us,
            input_ack: player.input_ack,
            you: player.own(frame.at),
        };
        player.last_sent = frame.tick;
        self.encoder.begin(out, &header);
        let mut sink = Sink {
            encoder: &mut self.encoder,
            out: &mut *out,
        };
        self.interest
            .diff(&mut player.view, usize::from(rules.max_in_view), &mut sink);
        self.encoder.finish(out);
    }
}
