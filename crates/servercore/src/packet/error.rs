//! [`PacketError`]: why a packet was refused.
//!
//! Decoding errors ([`TooSmall`](PacketError::TooSmall),
//! [`TooLarge`](PacketError::TooLarge)) mean the peer broke the protocol: the
//! byte stream can no longer be framed and the session should be closed. The
//! encoding error ([`BodyTooLarge`](PacketError::BodyTooLarge)) is a local bug
//! or a request that cannot be expressed in a `u16` size field.

use std::fmt;

use super::header::HEADER_LEN;

/// A packet that cannot be framed.
///
/// Every variant carries the offending value and the limit it broke, so the
/// message (and a log line built from it) says exactly what arrived.
///
/// # Examples
///
/// ```
/// use servercore::packet::{Framer, PacketError};
///
/// // A header announcing a 2-byte packet: smaller than the header itself.
/// let err = Framer::default().next(&[2, 0, 1, 0]).unwrap_err();
/// assert_eq!(err, PacketError::TooSmall { size: 2 });
/// assert_eq!(
///     err.to_string(),
///     "packet size 2 is smaller than the 4-byte header"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketError {
    /// A received header's `size` is below [`HEADER_LEN`]. Size 0 is the case
    /// that made the course's receive loop spin forever without consuming bytes.
    TooSmall {
        /// The `size` field as received.
        size: u16,
    },
    /// A received header's `size` is above the framer's maximum packet length.
    TooLarge {
        /// The `size` field as received.
        size: u16,
        /// The largest accepted packet length, header included.
        max: usize,
    },
    /// A body to encode does not fit: `len + 4` would exceed the `u16` size field.
    BodyTooLarge {
        /// Length of the body that was passed in.
        len: usize,
        /// The largest body that can be encoded (65535 - 4).
        max: usize,
    },
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PacketError::TooSmall { size } => write!(
                f,
                "packet size {size} is smaller than the {HEADER_LEN}-byte header"
            ),
            PacketError::TooLarge { size, max } => write!(
                f,
                "packet size {size} exceeds the maximum packet size of {max} bytes"
            ),
            PacketError::BodyTooLarge { len, max } => write!(
                f,
                "packet body of {len} bytes exceeds the maximum body of {max} bytes"
            ),
        }
    }
}

impl std::error::Error for PacketError {}

impl From<PacketError> for crate::session::Violation {
    /// The session layer's record of a framing error, for [`CloseReason::Protocol`](crate::CloseReason::Protocol).
    fn from(err: PacketError) -> Self {
        let (rule, value, limit) = match err {
            PacketError::TooSmall { size } => {
                ("packet size below the header", size.into(), HEADER_LEN)
            }
            PacketError::TooLarge { size, max } => {
                ("packet size above the maximum", size.into(), max)
            }
            PacketError::BodyTooLarge { len, max } => ("packet body too large to encode", len, max),
        };
        crate::session::Violation {
            rule,
            value: value as u64,
            limit: limit as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_small_message_names_size_and_header() {
        let msg = PacketError::TooSmall { size: 2 }.to_string();
        assert_eq!(msg, "packet size 2 is smaller than the 4-byte header");
    }

    #[test]
    fn too_small_message_for_zero() {
        let msg = PacketError::TooSmall { size: 0 }.to_string();
        assert_eq!(msg, "packet size 0 is smaller than the 4-byte header");
    }

    #[test]
    fn too_large_message_names_size_and_max() {
        let msg = PacketError::TooLarge {
            size: 5000,
            max: 4096,
        }
        .to_string();
        assert_eq!(
            msg,
            "packet size 5000 exceeds the maximum packet size of 4096 bytes"
        );
    }

    #[test]
    fn body_too_large_message_names_len_and_max() {
        let msg = PacketError::BodyTooLarge {
            len: 70000,
            max: 65531,
        }
        .to_string();
        assert_eq!(
            msg,
            "packet body of 70000 bytes exceeds the maximum body of 65531 bytes"
        );
    }

    #[test]
    fn is_a_std_error_without_source() {
        let err: Box<dyn std::error::Error + Send + Sync> =
            Box::new(PacketError::TooSmall { size: 1 });
        assert!(err.source().is_none());
        assert_eq!(
            err.to_string(),
            "packet size 1 is smaller than the 4-byte header"
        );
    }

    #[test]
    fn variants_compare_by_value() {
        assert_eq!(
            PacketError::TooLarge { size: 9, max: 8 },
            PacketError::TooLarge { size: 9, max: 8 }
        );
        assert_ne!(
            PacketError::TooLarge { size: 9, max: 8 },
            PacketError::TooLarge { size: 10, max: 8 }
        );
    }
}
