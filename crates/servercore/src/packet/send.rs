//! [`PacketContext`]: packets on a [`Context`] — serialize once into the loop's shared pool,
//! queue on one session or many. The session layer knows bytes only; this is the packet
//! layer's half of sending.

use bytes::Bytes;

use super::{encode_into, PacketError, HEADER_LEN};
use crate::{Context, SendError, SessionId};

/// Why [`PacketContext::send_packet`] did not queue a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketSendError {
    /// The packet cannot be framed (its body is too large for the size field).
    Encode(PacketError),
    /// The session did not take it (see [`SendError`]).
    Send(SendError),
}

impl std::fmt::Display for PacketSendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PacketSendError::Encode(err) => write!(f, "cannot encode the packet: {err}"),
            PacketSendError::Send(err) => write!(f, "cannot send the packet: {err}"),
        }
    }
}

impl std::error::Error for PacketSendError {}

impl From<PacketError> for PacketSendError {
    fn from(err: PacketError) -> Self {
        PacketSendError::Encode(err)
    }
}

impl From<SendError> for PacketSendError {
    fn from(err: SendError) -> Self {
        PacketSendError::Send(err)
    }
}

/// Sending packets from a handler callback.
///
/// # Examples
/// ```
/// use servercore::packet::{Packet, PacketContext, PacketHandler};
/// use servercore::{Context, SessionId};
///
/// struct Echo;
///
/// impl PacketHandler for Echo {
///     fn packet(&mut self, ctx: &mut Context<'_>, id: SessionId, packet: Packet<'_>) {
///         // One call, one error type (the session may be closing: nothing to do then).
///         let _ = ctx.send_packet(id, packet.id, packet.body);
///     }
/// }
/// ```
pub trait PacketContext {
    /// Serializes one packet (`header + body`) into the loop's pool, ready to be queued on any
    /// number of sessions with [`Context::send`] (one serialization for a whole room).
    ///
    /// # Errors
    /// [`PacketError::BodyTooLarge`] if the packet would not fit the 16-bit size field.
    fn packet(&mut self, packet_id: u16, body: &[u8]) -> Result<Bytes, PacketError>;

    /// Serializes one packet and queues it for session `to`.
    ///
    /// # Errors
    /// [`PacketSendError::Encode`] as for [`PacketContext::packet`];
    /// [`PacketSendError::Send`] as for [`Context::send`].
    fn send_packet(
        &mut self,
        to: SessionId,
        packet_id: u16,
        body: &[u8],
    ) -> Result<(), PacketSendError>;
}

impl PacketContext for Context<'_> {
    fn packet(&mut self, packet_id: u16, body: &[u8]) -> Result<Bytes, PacketError> {
        let mut result = Ok(());
        let buf = self.alloc(HEADER_LEN + body.len(), |out| {
            result = encode_into(out, packet_id, body);
        });
        self.count_packet_out();
        result.map(|()| buf)
    }

    fn send_packet(
        &mut self,
        to: SessionId,
        packet_id: u16,
        body: &[u8],
    ) -> Result<(), PacketSendError> {
        let buf = self.packet(packet_id, body)?;
        Ok(self.send(to, buf)?)
    }
}
