//! ARENA_SNAPSHOT: what one player is sent each tick, written by the server's
//! [`SnapshotEncoder`] straight into a send buffer and read by clients with
//! [`Snapshot::parse`].
//!
//! ```text
//!  header   tick u32 | base_tick u32 | sent_at_us u32 | input_ack u16        (14 bytes)
//!  you      x u16 | y u16 | flags u8 | score u16                             (7 bytes)
//!  left     count u16, then  id u16                                          (left the view)
//!  moved    count u16, then  id u16 | dx i8 | dy i8                          (moved a little)
//!  entered  count u16, then  id u16 | x u16 | y u16 | flags u8               (came into view)
//!  placed   count u16, then  id u16 | x u16 | y u16                          (moved far)
//!  flagged  count u16, then  id u16 | flags u8                               (flags changed)
//! ```
//!
//! Every list is a delta against what this player was sent in the snapshot of `base_tick`
//! (the previous one; 0 for the first after a join): over TCP or WebSocket nothing is lost, so
//! no acknowledgement is needed. `left` comes first, so an id that leaves and is reused by a
//! new entity in the same tick is never ambiguous. An entity that did not change is not
//! listed.

use bytes::{BufMut, BytesMut};

use crate::arena::rules::MAX_IN_VIEW;
use crate::ids::ARENA_SNAPSHOT;

/// Bytes of the header and the own state.
pub const FIXED_LEN: usize = 14 + 7;
/// Bytes of the five list counts.
const COUNTS_LEN: usize = 5 * 2;
/// The most bytes one entity in view can take (placed + flagged), and one that left.
const PER_ENTITY: usize = 6 + 3;
const PER_LEFT: usize = 2;

/// The longest snapshot packet (header included) listing at most `max_in_view` entities:
/// what left, at most as many as were in view, plus what is in view.
pub const fn max_len(max_in_view: u16) -> usize {
    let k = max_in_view as usize;
    4 + FIXED_LEN + COUNTS_LEN + k * (PER_ENTITY + PER_LEFT)
}

// The 16-bit packet size holds any snapshot the rules allow.
const _: () = assert!(max_len(MAX_IN_VIEW) <= u16::MAX as usize);

/// An entity as a snapshot shows it: position (quanta) and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntityState {
    pub x: u16,
    pub y: u16,
    pub flags: u8,
}

/// The player's own state, sent whole in every snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Own {
    pub x: u16,
    pub y: u16,
    pub flags: u8,
    pub score: u16,
}

/// The fixed part of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SnapshotHeader {
    /// This tick's number (1, 2, ...: one per simulation step).
    pub tick: u32,
    /// The tick of the snapshot this one is a delta against (0: none; everything is new).
    pub base_tick: u32,
    /// The server's wall clock when the tick began, µs since the Unix epoch, low 32 bits.
    pub sent_at_us: u32,
    /// The `seq` of the last ARENA_INPUT applied for this player (0 before any).
    pub input_ack: u16,
    /// The player's own state.
    pub you: Own,
}

/// Which list the encoder is writing into the packet itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Left,
    Moved,
}

/// Writes one snapshot into a send buffer: `left` entries first, then `update`s and
/// `entered`s in any order; `finish` completes the packet. `moved` entries go straight into
/// the buffer; `entered`, `placed` and `flagged` wait in scratch buffers kept across
/// snapshots (no allocation per snapshot once warm).
#[derive(Debug, Default)]
pub struct SnapshotEncoder {
    entered: Vec<u8>,
    placed: Vec<u8>,
    flagged: Vec<u8>,
    counts: [u16; 3],
    open: Option<Open>,
    /// Where the open list's count goes, and its count so far.
    count_at: usize,
    count: u16,
    /// Where the packet starts in the buffer.
    start: usize,
}

impl SnapshotEncoder {
    /// Starts a snapshot packet at the end of `out`.
    pub fn begin(&mut self, out: &mut BytesMut, header: &SnapshotHeader) {
        self.start = out.len();
        out.put_u16_le(0); // size, patched by `finish`
        out.put_u16_le(ARENA_SNAPSHOT);
        out.put_u32_le(header.tick);
        out.put_u32_le(header.base_tick);
        out.put_u32_le(header.sent_at_us);
        out.put_u16_le(header.input_ack);
        let you = header.you;
        out.put_u16_le(you.x);
        out.put_u16_le(you.y);
        out.put_u8(you.flags);
        out.put_u16_le(you.score);
        self.entered.clear();
        self.placed.clear();
        self.flagged.clear();
        self.counts = [0; 3];
        self.open_list(out, Open::Left);
    }

    fn open_list(&mut self, out: &mut BytesMut, list: Open) {
        self.open = Some(list);
        self.count_at = out.len();
        self.count = 0;
        out.put_u16_le(0);
    }

    fn close_list(&mut self, out: &mut BytesMut) {
        out[self.count_at..self.count_at + 2].copy_from_slice(&self.count.to_le_bytes());
    }

    /// `id` left this player's view.
    pub fn left(&mut self, out: &mut BytesMut, id: u16) {
        debug_assert_eq!(self.open, Some(Open::Left), "left before any update");
        out.put_u16_le(id);
        self.count += 1;
    }

    fn moving(&mut self, out: &mut BytesMut) {
        if self.open == Some(Open::Left) {
            self.close_list(out);
            self.open_list(out, Open::Moved);
        }
    }

    /// `id`, in view before and now, went from `old` to `new`: a `moved` entry when each axis
    /// changed by at most 127 quanta, else `placed`; a `flagged` entry if the flags changed.
    pub fn update(&mut self, out: &mut BytesMut, id: u16, old: &EntityState, new: &EntityState) {
        self.moving(out);
        if (old.x, old.y) != (new.x, new.y) {
            let dx = i32::from(new.x) - i32::from(old.x);
            let dy = i32::from(new.y) - i32::from(old.y);
            match (i8::try_from(dx), i8::try_from(dy)) {
                (Ok(dx), Ok(dy)) => {
                    let [lo, hi] = id.to_le_bytes();
                    out.extend_from_slice(&[lo, hi, dx as u8, dy as u8]); // one bound check
                    self.count += 1;
                }
                _ => {
                    self.placed.put_u16_le(id);
                    self.placed.put_u16_le(new.x);
                    self.placed.put_u16_le(new.y);
                    self.counts[1] += 1;
                }
            }
        }
        if old.flags != new.flags {
            self.flagged.put_u16_le(id);
            self.flagged.put_u8(new.flags);
            self.counts[2] += 1;
        }
    }

    /// `id` came into view in `state`.
    pub fn entered(&mut self, id: u16, state: &EntityState) {
        self.entered.put_u16_le(id);
        self.entered.put_u16_le(state.x);
        self.entered.put_u16_le(state.y);
        self.entered.put_u8(state.flags);
        self.counts[0] += 1;
    }

    /// Completes the packet; returns its length. A snapshot listing at most
    /// [`MAX_IN_VIEW`] entities (and as many that left) always fits ([`max_len`]).
    pub fn finish(&mut self, out: &mut BytesMut) -> usize {
        self.moving(out);
        self.close_list(out);
        self.open = None;
        for (count, list) in
            self.counts
                .into_iter()
                .zip([&self.entered, &self.placed, &self.flagged])
        {
            out.put_u16_le(count);
            out.extend_from_slice(list);
        }
        let len = out.len() - self.start;
        let size = u16::try_from(len).expect("a snapshot within max_len fits its size field");
        out[self.start..self.start + 2].copy_from_slice(&size.to_le_bytes());
        len
    }
}

/// Why a snapshot body cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("malformed ARENA_SNAPSHOT body")
    }
}

impl std::error::Error for Malformed {}

/// A snapshot as received: the header and the five lists, borrowed from the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot<'a> {
    pub header: SnapshotHeader,
    left: &'a [u8],
    moved: &'a [u8],
    entered: &'a [u8],
    placed: &'a [u8],
    flagged: &'a [u8],
}

/// Splits one counted list of `width`-byte entries off the front of `rest`.
fn list<'a>(rest: &mut &'a [u8], width: usize) -> Result<&'a [u8], Malformed> {
    let count = rest.get(..2).ok_or(Malformed)?;
    let len = usize::from(u16::from_le_bytes([count[0], count[1]])) * width;
    let entries = rest.get(2..2 + len).ok_or(Malformed)?;
    *rest = &rest[2 + len..];
    Ok(entries)
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

impl<'a> Snapshot<'a> {
    /// Reads a body (after the packet header).
    ///
    /// # Errors
    /// [`Malformed`] unless the body is exactly the layout above.
    pub fn parse(body: &'a [u8]) -> Result<Snapshot<'a>, Malformed> {
        let fixed = body.get(..FIXED_LEN).ok_or(Malformed)?;
        let header = SnapshotHeader {
            tick: u32_at(fixed, 0),
            base_tick: u32_at(fixed, 4),
            sent_at_us: u32_at(fixed, 8),
            input_ack: u16_at(fixed, 12),
            you: Own {
                x: u16_at(fixed, 14),
                y: u16_at(fixed, 16),
                flags: fixed[18],
                score: u16_at(fixed, 19),
            },
        };
        let mut rest = &body[FIXED_LEN..];
        let snapshot = Snapshot {
            header,
            left: list(&mut rest, 2)?,
            moved: list(&mut rest, 4)?,
            entered: list(&mut rest, 7)?,
            placed: list(&mut rest, 6)?,
            flagged: list(&mut rest, 3)?,
        };
        if !rest.is_empty() {
            return Err(Malformed);
        }
        Ok(snapshot)
    }

    /// Ids that left the view.
    pub fn left(&self) -> impl Iterator<Item = u16> + 'a {
        self.left.chunks_exact(2).map(|e| u16_at(e, 0))
    }

    /// (id, dx, dy) of entities that moved a little.
    pub fn moved(&self) -> impl Iterator<Item = (u16, i8, i8)> + 'a {
        self.moved
            .chunks_exact(4)
            .map(|e| (u16_at(e, 0), e[2] as i8, e[3] as i8))
    }

    /// (id, state) of entities that came into view.
    pub fn entered(&self) -> impl Iterator<Item = (u16, EntityState)> + 'a {
        self.entered.chunks_exact(7).map(|e| {
            let state = EntityState {
                x: u16_at(e, 2),
                y: u16_at(e, 4),
                flags: e[6],
            };
            (u16_at(e, 0), state)
        })
    }

    /// (id, x, y) of entities that moved far.
    pub fn placed(&self) -> impl Iterator<Item = (u16, u16, u16)> + 'a {
        self.placed
            .chunks_exact(6)
            .map(|e| (u16_at(e, 0), u16_at(e, 2), u16_at(e, 4)))
    }

    /// (id, flags) of entities whose flags changed.
    pub fn flagged(&self) -> impl Iterator<Item = (u16, u8)> + 'a {
        self.flagged.chunks_exact(3).map(|e| (u16_at(e, 0), e[2]))
    }

    /// Entries in the five lists.
    pub fn entries(&self) -> usize {
        (self.left.len() / 2)
            + (self.moved.len() / 4)
            + (self.entered.len() / 7)
            + (self.placed.len() / 6)
            + (self.flagged.len() / 3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids;

    fn header() -> SnapshotHeader {
        SnapshotHeader {
            tick: 9,
            base_tick: 8,
            sent_at_us: 123_456,
            input_ack: 4,
            you: Own {
                x: 100,
                y: 200,
                flags: 1,
                score: 3,
            },
        }
    }

    #[test]
    fn writes_what_it_reads() {
        let mut enc = SnapshotEncoder::default();
        let mut out = BytesMut::from(&b"xyz"[..]); // a packet may follow others in a chunk
        enc.begin(&mut out, &header());
        enc.left(&mut out, 7);
        let old = EntityState {
            x: 10,
            y: 10,
            flags: 0,
        };
        enc.entered(
            5,
            &EntityState {
                x: 1,
                y: 2,
                flags: 1,
            },
        );
        enc.update(
            &mut out,
            3,
            &old,
            &EntityState {
                x: 11,
                y: 8,
                flags: 0,
            },
        );
        enc.update(
            &mut out,
            4,
            &old,
            &EntityState {
                x: 500,
                y: 10,
                flags: 2,
            },
        );
        enc.update(&mut out, 6, &old, &old);
        let len = enc.finish(&mut out);
        let packet = &out[3..];
        assert_eq!(packet.len(), len);
        assert_eq!(u16_at(packet, 0) as usize, len);
        assert_eq!(u16_at(packet, 2), ids::ARENA_SNAPSHOT);
        let snap = Snapshot::parse(&packet[4..]).unwrap();
        assert_eq!(snap.header, header());
        assert_eq!(snap.left().collect::<Vec<_>>(), [7]);
        assert_eq!(snap.moved().collect::<Vec<_>>(), [(3, 1, -2)]);
        assert_eq!(
            snap.entered().collect::<Vec<_>>(),
            [(
                5,
                EntityState {
                    x: 1,
                    y: 2,
                    flags: 1
                }
            )]
        );
        assert_eq!(snap.placed().collect::<Vec<_>>(), [(4, 500, 10)]);
        assert_eq!(snap.flagged().collect::<Vec<_>>(), [(4, 2)]);
        assert_eq!(snap.entries(), 5);
        assert_eq!(Snapshot::parse(&packet[4..len - 1]), Err(Malformed));
        let mut trailing = packet[4..].to_vec();
        trailing.push(0);
        assert_eq!(Snapshot::parse(&trailing), Err(Malformed));
    }

    #[test]
    fn an_empty_snapshot_and_the_bound() {
        let mut enc = SnapshotEncoder::default();
        let mut out = BytesMut::new();
        enc.begin(&mut out, &header());
        assert_eq!(enc.finish(&mut out), 4 + FIXED_LEN + COUNTS_LEN);
        let mut out = BytesMut::new();
        enc.begin(&mut out, &header());
        let far = EntityState {
            x: 1000,
            y: 1000,
            flags: 1,
        };
        for id in 0..MAX_IN_VIEW {
            enc.left(&mut out, id);
        }
        for id in 0..MAX_IN_VIEW {
            enc.update(&mut out, id, &EntityState::default(), &far);
        }
        assert_eq!(enc.finish(&mut out), max_len(MAX_IN_VIEW));
    }
}
