//! Packet framing: how a TCP byte stream becomes packets, and back.
//!
//! TCP delivers bytes, not messages: one `recv` may hold half a packet, or
//! ten and a half. Every packet therefore starts with a [`PacketHeader`] that
//! says how long it is, and the [`Framer`] uses it to cut the stream apart.
//! This module is pure data code: it never touches a socket.
//!
//! # Wire format
//!
//! Every packet is `struct PacketHeader { uint16 size; uint16 id; }` followed
//! by its body, all little-endian. `size` counts the *whole* packet, the
//! 4-byte header included.
//!
//! ```text
//!  offset  0               2               4                      size
//!          +---------------+---------------+-----------------------+
//!          |  size: u16 LE |   id: u16 LE  |  body: size - 4 bytes |
//!          +---------------+---------------+-----------------------+
//!          |<--------- header (4) -------->|
//!          |<---------------------- size ------------------------->|
//! ```
//!
//! | offset | length     | field  | meaning                                       |
//! |--------|------------|--------|-----------------------------------------------|
//! | 0      | 2          | `size` | total packet length, header included: 4..=max |
//! | 2      | 2          | `id`   | packet type, chosen by the application        |
//! | 4      | `size - 4` | body   | payload; may be empty (`size == 4`)           |
//!
//! # The course's holes, and how each is closed
//!
//! | course code                                  | here                                                         |
//! |----------------------------------------------|--------------------------------------------------------------|
//! | `size == 0` consumes nothing: the receive loop spins forever | `size < 4` is [`PacketError::TooSmall`]; each packet consumes >= 4 bytes |
//! | `size` never checked against a maximum       | `size > max_packet` is [`PacketError::TooLarge`] (default [`DEFAULT_MAX_PACKET`] = 4096) |
//! | a bad size is noticed only once its body has arrived, if ever | the header is judged as soon as its 4 bytes are present |
//! | a peer can make the receiver buffer without bound | the tail [`Framer::decode`] leaves unconsumed is always `< max_packet` bytes |
//! | `body + 4` silently wraps the `u16` on send  | [`encode_into`] refuses bodies over [`MAX_BODY`] with [`PacketError::BodyTooLarge`] |
//!
//! Any decoding error means the stream can no longer be framed: the session
//! should log it and close. No input, however malformed, makes this module
//! panic or loop; a proptest in `framer.rs` and a fuzz target
//! (`crates/servercore/fuzz`, run by `scripts/fuzz.sh`) check that.
//!
//! # Where it sits
//!
//! ```text
//!  socket --recv--> RecvBuffer --Framer::decode--> Packet { id, body } --> handler
//!                      ^  keeps the partial tail (< max_packet bytes)
//!  handler --encode_into--> SendBuffer (BytesMut) --send--> socket
//! ```
//!
//! * Decoding borrows: a [`Packet`]'s body is a slice of the receive buffer,
//!   valid until the caller drains the consumed prefix.
//! * Encoding copies the body once, straight into the send buffer; the
//!   header is written in front of it from [`PacketHeader::encode`].
//! * A receive buffer of `max_packet` bytes is always enough: after each
//!   decode at most `max_packet - 1` bytes remain, so a read always has room.
//!
//! # Examples
//!
//! A session's receive path: append what arrived, hand every whole packet to
//! the handler, keep the partial tail for the next read.
//!
//! ```
//! use bytes::BytesMut;
//! use servercore::packet::{encode_into, Framer, PacketError};
//!
//! let mut wire = BytesMut::new();
//! encode_into(&mut wire, 1, b"hello").unwrap();
//! encode_into(&mut wire, 2, b"world").unwrap();
//!
//! let framer = Framer::default();
//! let mut recv_buffer = Vec::new();
//! let mut received = Vec::new();
//! // The bytes arrive in awkward pieces: 3, then 7, then the rest.
//! for chunk in [&wire[..3], &wire[3..10], &wire[10..]] {
//!     recv_buffer.extend_from_slice(chunk);
//!     let consumed = framer.decode(&recv_buffer, |packet| {
//!         received.push((packet.id, packet.body.to_vec()));
//!     })?;
//!     recv_buffer.drain(..consumed);
//! }
//! assert_eq!(received, [(1, b"hello".to_vec()), (2, b"world".to_vec())]);
//! assert!(recv_buffer.is_empty());
//! # Ok::<(), PacketError>(())
//! ```
//!
//! A header announcing size 0 is refused at once instead of spinning:
//!
//! ```
//! use servercore::packet::{Framer, PacketError};
//!
//! let result = Framer::default().decode(&[0, 0, 1, 0], |_| {});
//! assert_eq!(result, Err(PacketError::TooSmall { size: 0 }));
//! ```

mod error;
mod framer;
mod handler;
mod header;
mod rate_limit;
mod send;

pub use error::PacketError;
pub use framer::{
    encode, encode_into, Framer, Packet, DEFAULT_MAX_PACKET, MAX_BODY, MAX_WIRE_PACKET,
};
pub use handler::{PacketHandler, Packets};
pub use header::{PacketHeader, HEADER_LEN};
pub use rate_limit::{RateLimit, TokenBucket};
pub use send::{PacketContext, PacketSendError};
