//! [`ProxyPrelude`]: the PROXY header as the first stage of a session's pipeline.
//!
//! ```text
//!   Header ─(bytes: read_proxy_header over what arrived so far)─┬─ Incomplete: keep them
//!     │                                                         ├─ bad: Abort(ProxyHeader)
//!     │                                                         └─ whole: Source(client)
//!   Passing ─(the bytes right behind the header, if any)─> Up ─> Done: steps aside
//! ```
//!
//! No syscall and no copy once the header is read: the bytes that came with it go up from
//! the stage's own buffer, and then the stage leaves the pipeline.

use super::header::{read_proxy_header, ProxyHeaderRead};
use crate::session::pipeline::{Emit, Signal, Step};
use crate::CloseReason;

/// Where the prelude is.
#[derive(Debug)]
enum Phase {
    /// Reading the header: what arrived so far (at most one header's worth is ever kept:
    /// the reader decides within [`MAX_HEADER_LEN`](super::MAX_HEADER_LEN) bytes).
    Header(Vec<u8>),
    /// The header named its source; `rest` came right behind it, for the stage above (`sent`
    /// once it went up).
    Passing { rest: Vec<u8>, sent: bool },
    /// The header is read and passed on (or refused): nothing more to do.
    Done,
}

/// The PROXY header stage.
#[derive(Debug)]
pub(crate) struct ProxyPrelude {
    phase: Phase,
}

impl Default for ProxyPrelude {
    fn default() -> Self {
        ProxyPrelude {
            phase: Phase::Header(Vec::new()),
        }
    }
}

impl ProxyPrelude {
    /// Bytes from the socket: the header first (see the module docs), then bytes as they are.
    pub(crate) fn input<'a>(&'a mut self, data: &'a [u8]) -> Step<'a> {
        if let Phase::Header(held) = &mut self.phase {
            held.extend_from_slice(data);
            let (phase, signal) = match read_proxy_header(held) {
                Ok(ProxyHeaderRead::Incomplete) => return Step::used(data.len()),
                Ok(ProxyHeaderRead::Complete { consumed, source }) => {
                    let rest = held.split_off(consumed);
                    (Phase::Passing { rest, sent: false }, Signal::Source(source))
                }
                Err(err) => {
                    tracing::debug!("bad PROXY header: {err}");
                    let reason = CloseReason::ProxyHeader((&err).into());
                    (Phase::Done, Signal::Abort(reason))
                }
            };
            self.phase = phase;
            return Step {
                consumed: data.len(),
                emit: Some(Emit::Signal(signal)),
            };
        }
        if matches!(&self.phase, Phase::Passing { rest, sent } if *sent || rest.is_empty()) {
            self.phase = Phase::Done;
        }
        match &mut self.phase {
            Phase::Passing { rest, sent } => {
                *sent = true; // the bytes go up once: the next call finds the phase done
                Step {
                    consumed: 0,
                    emit: Some(Emit::Up(rest)),
                }
            }
            Phase::Done if data.is_empty() => Step::used(0),
            _ => Step {
                consumed: data.len(),
                emit: Some(Emit::Up(data)),
            },
        }
    }

    /// True once the header named its source.
    pub(crate) fn is_ready(&self) -> bool {
        !matches!(self.phase, Phase::Header(_))
    }

    /// True once the header is read and the bytes behind it passed on: the stage steps aside.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }
}
