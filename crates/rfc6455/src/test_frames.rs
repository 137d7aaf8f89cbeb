//! Test support: raw frames written by hand (independent of the code under test), and a
//! receive loop that feeds a reader the way a session's receive path does.

use super::reader::{FrameEvent, MessageReader};
use super::WsError;

/// A mask used by the tests' client frames.
pub(crate) const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One frame: `fin`, `opcode`, `payload`, masked with `mask` if given; any RSV bits in `rsv`.
pub(crate) fn raw_frame(
    fin: bool,
    rsv: u8,
    opcode: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=65535 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(mask) => {
            out.extend_from_slice(&mask);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A masked client frame.
pub(crate) fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(fin, 0, opcode, payload, Some(MASK))
}

/// An owned [`FrameEvent`], for comparing runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Got {
    Message(Vec<u8>),
    Ping(Vec<u8>),
    Close(Option<u16>, String),
}

impl From<FrameEvent<'_>> for Got {
    fn from(event: FrameEvent<'_>) -> Got {
        match event {
            FrameEvent::Message(m) => Got::Message(m.to_vec()),
            FrameEvent::Ping(p) => Got::Ping(p.to_vec()),
            FrameEvent::Close { code, reason } => Got::Close(code, reason.to_string()),
        }
    }
}

/// Replays `stream` cut at `cuts` (offsets, any order) into a receive buffer that keeps
/// what was not consumed: after each piece arrives, `consume(buffer)` is called; it returns
/// the bytes it consumed (dropped from the buffer) and whether to call it again (false: more
/// bytes are needed), or an error, which ends the replay. `check(buffer)` sees what is kept
/// after each piece. Returns the first error, if any.
pub(crate) fn replay<E>(
    stream: &[u8],
    cuts: &[usize],
    mut consume: impl FnMut(&[u8]) -> Result<(usize, bool), E>,
    mut check: impl FnMut(&[u8]),
) -> Option<E> {
    let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(stream.len())).collect();
    bounds.push(stream.len());
    bounds.sort_unstable();
    let (mut buffer, mut start) = (Vec::new(), 0);
    for end in bounds {
        buffer.extend_from_slice(&stream[start..end]);
        start = end;
        loop {
            match consume(&buffer) {
                Ok((used, again)) => {
                    buffer.drain(..used);
                    if !again {
                        break;
                    }
                }
                Err(err) => return Some(err),
            }
        }
        check(&buffer);
    }
    None
}

/// Feeds `stream` to `reader` in pieces cut at `cuts` ([`replay`]); returns every event, and
/// the first error if any. Checks that at most a partial header is ever kept.
pub(crate) fn feed(
    reader: &mut MessageReader,
    stream: &[u8],
    cuts: &[usize],
) -> (Vec<Got>, Option<WsError>) {
    let mut events = Vec::new();
    let err = replay(
        stream,
        cuts,
        |buffer| {
            let (used, event) = reader.read(buffer)?;
            let again = event.is_some();
            events.extend(event.map(Got::from));
            Ok((used, again))
        },
        // With no event, everything but a partial header was consumed.
        |buffer| assert!(buffer.len() < 14, "kept {} bytes", buffer.len()),
    );
    (events, err)
}
