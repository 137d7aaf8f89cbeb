//! [`MessageReader`]: received frames in, whole binary messages (and pings, closes) out.

use std::io::Cursor;

use tungstenite::error::{Error as TungsteniteError, ProtocolError};
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::error::WsError;
use super::frame::{unmask_into, MAX_CONTROL_PAYLOAD};

/// What a frame, or a run of them, amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameEvent<'a> {
    /// A whole binary message (all its fragments), unmasked. Valid until the next call.
    Message(&'a [u8]),
    /// A ping with its payload (<= 125 bytes): answer with a pong carrying it.
    Ping(&'a [u8]),
    /// A close frame: `code` (`None` if the frame had no payload) and the UTF-8 reason.
    Close {
        /// The peer's status code.
        code: Option<u16>,
        /// The peer's reason.
        reason: &'a str,
    },
}

/// Which frames a reader accepts: a server reads masked client frames, a client unmasked ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads a client's frames: every frame must be masked.
    Server,
    /// Reads a server's frames: no frame may be masked.
    Client,
}

/// Where the reader is within the current frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a whole frame header.
    Header,
    /// Consuming a frame's payload.
    Payload {
        /// What the frame carries.
        kind: Kind,
        /// Payload bytes still to come.
        remaining: usize,
        /// The frame's mask, if masked.
        mask: Option<[u8; 4]>,
        /// Payload bytes already consumed (the mask's phase).
        offset: usize,
    },
}

/// The kind of frame whose payload is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A binary or continuation frame; `last`: FIN was set.
    Data { last: bool },
    /// A ping, pong or close frame.
    Control(Control),
}

/// Decodes a stream of frames into messages.
///
/// The reader owns no socket and never asks for more than what is there: each call gets the
/// bytes not yet consumed, consumes what it can and reports at most one [`FrameEvent`].
/// Payload bytes are consumed as they arrive (unmasked straight into the message being
/// assembled: the only copy), so the caller keeps at most one partial frame header
/// (< [`MAX_HEADER_LEN`](super::MAX_HEADER_LEN) bytes) between calls, never a whole frame.
///
/// ```text
///   Header --whole header--> Payload { remaining, mask, offset } --remaining == 0--> frame done
///     ^                                                                                 |
///     +--- data frame with FIN: Message(&message) / control: Ping, Close (pong dropped) -+
/// ```
///
/// Header decoding is `tungstenite::protocol::frame::FrameHeader::parse` on a `Cursor` over
/// the borrowed bytes: it reads no more than the header, returns `None` while the header is
/// incomplete and refuses reserved opcodes. The checks RFC 6455 leaves to the endpoint
/// (masking, reserved bits, control frame rules, fragmentation order, sizes) are here, and
/// each is judged as soon as the header is complete, before any payload is buffered: memory
/// is bounded by `max_message` plus one 125-byte control payload.
#[derive(Debug)]
pub struct MessageReader {
    role: Role,
    max_message: usize,
    state: State,
    /// The message being assembled (unmasked), or the one just delivered.
    message: Vec<u8>,
    /// A fragmented message is in progress (a data frame without FIN was read).
    fragmented: bool,
    /// The last event handed out borrowed `message` / `control`: clear them on the next call.
    delivered: bool,
    /// The current control frame's payload.
    control: Vec<u8>,
    /// Pongs received (they yield no event): the peer answers pings.
    pongs: u64,
}

impl MessageReader {
    /// A reader for `role` accepting messages of at most `max_message` bytes.
    pub fn new(role: Role, max_message: usize) -> MessageReader {
        MessageReader {
            role,
            max_message,
            state: State::Header,
            message: Vec::new(),
            fragmented: false,
            delivered: false,
            control: Vec::with_capacity(MAX_CONTROL_PAYLOAD),
            pongs: 0,
        }
    }

    /// The message limit.
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// Pongs received so far (pongs are consumed without an event).
    pub fn pongs(&self) -> u64 {
        self.pongs
    }

    /// The message the last [`FrameEvent::Message`] handed out (until the next read).
    pub(crate) fn last_message(&self) -> &[u8] {
        &self.message
    }

    /// True between two frames and outside a fragmented message: no partial message held.
    pub fn is_idle(&self) -> bool {
        self.state == State::Header && !self.fragmented
    }

    /// Consumes frames from `data` (the bytes not consumed before, oldest first) until one
    /// yields an event or the bytes run out. Returns the bytes consumed and the event, if any.
    /// With no event, everything was consumed but a partial header (< 14 bytes): offer it
    /// again with more bytes. Pongs are consumed silently.
    ///
    /// # Errors
    /// The peer broke RFC 6455 or a limit ([`WsError::close_code`] says which close code to
    /// send); the stream cannot be read any further.
    pub fn read(&mut self, data: &[u8]) -> Result<(usize, Option<FrameEvent<'_>>), WsError> {
        if std::mem::take(&mut self.delivered) {
            self.control.clear();
            if !self.fragmented {
                self.message.clear();
            }
        }
        let mut pos = 0;
        loop {
            let kind = match self.state {
                State::Header => match self.read_header(&data[pos..])? {
                    Some(used) => {
                        pos += used;
                        continue;
                    }
                    None => return Ok((pos, None)),
                },
                State::Payload {
                    kind,
                    remaining,
                    mask,
                    offset,
                } => {
                    let take = remaining.min(data.len() - pos);
                    let dst = match kind {
                        Kind::Data { .. } => &mut self.message,
                        Kind::Control(_) => &mut self.control,
                    };
                    unmask_into(dst, &data[pos..pos + take], mask, offset);
                    pos += take;
                    if take < remaining {
                        self.state = State::Payload {
                            kind,
                            remaining: remaining - take,
                            mask,
                            offset: offset + take,
                        };
                        return Ok((pos, None));
                    }
                    kind
                }
            };
            self.state = State::Header;
            if self.frame_done(kind)? {
                self.delivered = true;
                return Ok((pos, Some(self.event(kind))));
            }
        }
    }

    /// Parses and judges one frame header at the front of `data`: `Some(header length)` if
    /// whole (the state moves to its payload), `None` if more bytes are needed.
    fn read_header(&mut self, data: &[u8]) -> Result<Option<usize>, WsError> {
        let mut cursor = Cursor::new(data);
        let (header, len) = match FrameHeader::parse(&mut cursor) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Ok(None),
            Err(TungsteniteError::Protocol(ProtocolError::InvalidOpcode(opcode))) => {
                return Err(WsError::ReservedOpcode { opcode })
            }
            // Parsing a Cursor over a slice has no other failure; treat one as a bad header.
            Err(_) => {
                return Err(WsError::ReservedOpcode {
                    opcode: data[0] & 0x0f,
                })
            }
        };
        let used = cursor.position() as usize;
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(WsError::Unmasked),
            (Role::Client, true) => return Err(WsError::Masked),
            _ => {}
        }
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err(WsError::ReservedBits { first: data[0] });
        }
        let kind = self.judge(&header, len)?;
        // `judge` bounded `len` by `max_message` or 125, so it fits a usize.
        self.state = State::Payload {
            kind,
            remaining: len as usize,
            mask: header.mask,
            offset: 0,
        };
        Ok(Some(used))
    }

    /// The RFC's frame rules and the size limits, checked on the header alone.
    fn judge(&mut self, header: &FrameHeader, len: u64) -> Result<Kind, WsError> {
        let max = self.max_message;
        match header.opcode {
            OpCode::Control(control) => {
                if !header.is_final {
                    return Err(WsError::ControlFragmented);
                }
                if len > MAX_CONTROL_PAYLOAD as u64 {
                    return Err(WsError::ControlTooLong { len });
                }
                Ok(Kind::Control(control))
            }
            OpCode::Data(Data::Continue) => {
                if !self.fragmented {
                    return Err(WsError::UnexpectedContinuation);
                }
                // Saturating: a 64-bit length near u64::MAX must not wrap past the check.
                let total = (self.message.len() as u64).saturating_add(len);
                if total > max as u64 {
                    return Err(WsError::MessageTooLarge { len: total, max });
                }
                Ok(Kind::Data {
                    last: header.is_final,
                })
            }
            OpCode::Data(data) => {
                if self.fragmented {
                    return Err(WsError::ExpectedContinuation);
                }
                if data != Data::Binary {
                    return Err(WsError::TextRefused);
                }
                if len > max as u64 {
                    return Err(WsError::FrameTooLarge { len, max });
                }
                self.message.clear();
                Ok(Kind::Data {
                    last: header.is_final,
                })
            }
        }
    }

    /// A frame's payload is complete: true if it yields an event.
    fn frame_done(&mut self, kind: Kind) -> Result<bool, WsError> {
        match kind {
            Kind::Data { last } => {
                self.fragmented = !last;
                Ok(last)
            }
            Kind::Control(Control::Close) => {
                check_close(&self.control)?;
                Ok(true)
            }
            Kind::Control(Control::Ping) => Ok(true),
            Kind::Control(_) => {
                self.pongs += 1;
                self.control.clear();
                Ok(false)
            }
        }
    }

    /// The event of a finished frame that yields one.
    fn event(&self, kind: Kind) -> FrameEvent<'_> {
        match kind {
            Kind::Data { .. } => FrameEvent::Message(&self.message),
            Kind::Control(Control::Ping) => FrameEvent::Ping(&self.control),
            Kind::Control(_) => {
                let code = (self.control.len() >= 2)
                    .then(|| u16::from_be_bytes([self.control[0], self.control[1]]));
                // check_close verified the reason is UTF-8.
                let reason = std::str::from_utf8(self.control.get(2..).unwrap_or_default())
                    .unwrap_or_default();
                FrameEvent::Close { code, reason }
            }
        }
    }
}

/// Checks a close frame's payload: empty, or a code that may be sent and a UTF-8 reason.
fn check_close(payload: &[u8]) -> Result<(), WsError> {
    match payload {
        [] => Ok(()),
        [_] => Err(WsError::ClosePayload),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !CloseCode::from(code).is_allowed() {
                return Err(WsError::InvalidCloseCode { code });
            }
            std::str::from_utf8(reason).map_err(|_| WsError::InvalidCloseReason)?;
            Ok(())
        }
    }
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
