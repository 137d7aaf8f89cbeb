//! The arena's small messages: ARENA_JOIN, ARENA_WELCOME, ARENA_INPUT and REDIRECT, each a
//! struct with `encode` and `parse` (the snapshot has its own file). `parse` takes a body and
//! accepts exactly the schema's layout: a peer's packet is never trusted further than that.

use crate::arena::rules::{Rules, QUANTA};
use crate::text::cut;

/// Longest player name in ARENA_JOIN, in bytes.
pub const MAX_NAME: usize = 16;

/// ARENA_INPUT's action bit: tag the nearest player within the tag radius (if you are it).
pub const ACTION_TAG: u8 = 1;

/// Reads little-endian integers off the front of a body.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    /// A `str8` of `min..=max` bytes.
    fn str8(&mut self, min: usize, max: usize) -> Option<&'a str> {
        let len = usize::from(self.u8()?);
        if len < min || len > max {
            return None;
        }
        std::str::from_utf8(self.take(len)?).ok()
    }
    /// `value` if nothing is left.
    fn end<T>(self, value: T) -> Option<T> {
        self.0.is_empty().then_some(value)
    }
}

fn put_str8(out: &mut Vec<u8>, text: &str) {
    let len = text.len().min(255);
    out.push(len as u8); // at most 255
    out.extend_from_slice(&text.as_bytes()[..len]);
}

/// ARENA_JOIN: enter arena `room` as `name` (1 to 16 bytes of UTF-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Join<'a> {
    pub room: u32,
    pub name: &'a str,
}

impl<'a> Join<'a> {
    /// The body (a name over [`MAX_NAME`] bytes is cut on a character boundary).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.room.to_le_bytes().to_vec();
        put_str8(&mut out, cut(self.name, MAX_NAME));
        out
    }

    /// Reads a body; `None` unless it is exactly a room and a 1..=16-byte UTF-8 name.
    pub fn parse(body: &'a [u8]) -> Option<Join<'a>> {
        let mut r = Reader(body);
        let room = r.u32()?;
        let name = r.str8(1, MAX_NAME)?;
        r.end(Join { room, name })
    }
}

/// ARENA_WELCOME: you are entity `you` of arena `room`, under `rules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Welcome {
    pub room: u32,
    pub you: u16,
    pub rules: Rules,
}

impl Welcome {
    /// The body.
    pub fn encode(&self) -> Vec<u8> {
        let r = &self.rules;
        let mut out = self.room.to_le_bytes().to_vec();
        for value in [
            self.you,
            r.tick_hz,
            r.size,
            r.view_radius,
            r.max_speed,
            r.tag_radius,
            r.max_in_view,
        ] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.push(QUANTA);
        out
    }

    /// Reads a body; `None` unless it has the layout, with this crate's [`QUANTA`] and rules
    /// that pass [`Rules::check`].
    pub fn parse(body: &[u8]) -> Option<Welcome> {
        let mut r = Reader(body);
        let room = r.u32()?;
        let you = r.u16()?;
        let rules = Rules {
            tick_hz: r.u16()?,
            size: r.u16()?,
            view_radius: r.u16()?,
            max_speed: r.u16()?,
            tag_radius: r.u16()?,
            max_in_view: r.u16()?,
        };
        if r.u8()? != QUANTA || rules.check().is_err() {
            return None;
        }
        r.end(Welcome { room, you, rules })
    }
}

/// ARENA_INPUT: an intent. The server keeps the last one it applied until the next arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Input {
    /// The client's number for it (wrapping); snapshots acknowledge the last one applied.
    pub seq: u16,
    /// 1/256 turns, 0 = +x, 64 = +y.
    pub direction: u8,
    /// Units per second asked for (0: stand still); clamped to the rules' `max_speed`.
    pub speed: u16,
    /// Bit 0: [`ACTION_TAG`]; other bits are ignored.
    pub actions: u8,
}

/// Bytes of an ARENA_INPUT body.
pub const INPUT_LEN: usize = 6;

impl Input {
    /// The body.
    pub fn encode(&self) -> [u8; INPUT_LEN] {
        let mut out = [0; INPUT_LEN];
        out[..2].copy_from_slice(&self.seq.to_le_bytes());
        out[2] = self.direction;
        out[3..5].copy_from_slice(&self.speed.to_le_bytes());
        out[5] = self.actions;
        out
    }

    /// Reads a body; `None` unless it is exactly [`INPUT_LEN`] bytes.
    pub fn parse(body: &[u8]) -> Option<Input> {
        let mut r = Reader(body);
        let input = Input {
            seq: r.u16()?,
            direction: r.u8()?,
            speed: r.u16()?,
            actions: r.u8()?,
        };
        r.end(input)
    }
}

/// REDIRECT: arena `room` lives on another instance, reachable at `addr` (TCP `host:port`)
/// or `websocket` (a `ws://` URL); either may be empty if that instance has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirect<'a> {
    pub room: u32,
    pub addr: &'a str,
    pub websocket: &'a str,
}

impl<'a> Redirect<'a> {
    /// The body (each address cut to 255 bytes; operators' addresses are checked shorter).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.room.to_le_bytes().to_vec();
        put_str8(&mut out, self.addr);
        put_str8(&mut out, self.websocket);
        out
    }

    /// Reads a body.
    pub fn parse(body: &'a [u8]) -> Option<Redirect<'a>> {
        let mut r = Reader(body);
        let room = r.u32()?;
        let addr = r.str8(0, 255)?;
        let websocket = r.str8(0, 255)?;
        r.end(Redirect {
            room,
            addr,
            websocket,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_refuse_empty_long_and_trailing_names() {
        let join = Join {
            room: 9,
            name: "ann",
        };
        assert_eq!(Join::parse(&join.encode()), Some(join));
        assert_eq!(Join::parse(&[9, 0, 0, 0, 0]), None);
        let mut long = 9u32.to_le_bytes().to_vec();
        long.push(17);
        long.extend_from_slice(&[b'a'; 17]);
        assert_eq!(Join::parse(&long), None);
        let mut trailing = join.encode();
        trailing.push(0);
        assert_eq!(Join::parse(&trailing), None);
        let cut = Join {
            room: 1,
            name: "ééééééééé",
        }
        .encode(); // 18 bytes: cut to 16
        assert_eq!(Join::parse(&cut).map(|j| j.name), Some("éééééééé"));
    }

    #[test]
    fn inputs_welcomes_and_redirects_round_trip() {
        let input = Input {
            seq: 65535,
            direction: 200,
            speed: 40_000,
            actions: ACTION_TAG | 0x80,
        };
        assert_eq!(Input::parse(&input.encode()), Some(input));
        assert_eq!(Input::parse(&input.encode()[..5]), None);
        let welcome = Welcome {
            room: 3,
            you: 17,
            rules: Rules {
                tick_hz: 20,
                size: 500,
                view_radius: 80,
                max_speed: 100,
                tag_radius: 20,
                max_in_view: 64,
            },
        };
        assert_eq!(Welcome::parse(&welcome.encode()), Some(welcome));
        let mut zero_hz = welcome.encode();
        zero_hz[6] = 0;
        assert_eq!(Welcome::parse(&zero_hz), None);
        let redirect = Redirect {
            room: 5,
            addr: "10.0.0.2:7777",
            websocket: "",
        };
        assert_eq!(Redirect::parse(&redirect.encode()), Some(redirect));
    }
}
