//! A codec driven by the schema: any body of [`crate::schema`] to a [`Record`] and back. It is
//! the reference the hand-written codecs (hot paths: the server's snapshot writer, the
//! clients' readers) are checked against, and the Rust twin of the generated JavaScript
//! codec: both read the same table with the same rules.
//!
//! Rules: fields in order, integers little-endian, a `str8` is a length byte and that many
//! bytes of UTF-8 within its bounds, a `list` is a `u16` count and that many records, `bytes`
//! and `text` take the rest; a body with bytes left after its last field is refused.

use std::fmt;

use crate::schema::{Field, Ty};

/// One field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `u8`, `u16`, `u32`, `i8`.
    Int(i64),
    /// `str8` and `text`.
    Text(String),
    /// `bytes`.
    Bytes(Vec<u8>),
    /// `list`: its records.
    List(Vec<Record>),
}

/// A decoded body: (field name, value), in the schema's order.
pub type Record = Vec<(&'static str, Value)>;

/// Why a body does not fit its layout, or a record cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// The body ends inside field `field`.
    Truncated { field: &'static str },
    /// Bytes are left after the last field.
    Trailing { len: usize },
    /// A string field is not UTF-8.
    Utf8 { field: &'static str },
    /// A string's length is outside its bounds.
    Length {
        field: &'static str,
        len: usize,
        min: u8,
        max: u8,
    },
    /// Encoding: the record lacks field `field`, or gives it a value of another kind.
    Missing { field: &'static str },
    /// Encoding: an integer does not fit its type, or a list has more than 65,535 records.
    Range { field: &'static str },
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Truncated { field } => write!(f, "the body ends inside `{field}`"),
            CodecError::Trailing { len } => write!(f, "{len} bytes after the last field"),
            CodecError::Utf8 { field } => write!(f, "`{field}` is not UTF-8"),
            CodecError::Length {
                field,
                len,
                min,
                max,
            } => write!(f, "`{field}` has {len} bytes, not {min}..={max}"),
            CodecError::Missing { field } => write!(f, "no usable value for `{field}`"),
            CodecError::Range { field } => write!(f, "`{field}` is out of range"),
        }
    }
}

impl std::error::Error for CodecError {}

/// Reads a body of `fields`.
///
/// # Errors
/// [`CodecError`] if `body` does not follow the layout exactly.
pub fn decode(fields: &'static [Field], body: &[u8]) -> Result<Record, CodecError> {
    let mut at = 0;
    let record = decode_fields(fields, body, &mut at)?;
    match body.len() - at {
        0 => Ok(record),
        len => Err(CodecError::Trailing { len }),
    }
}

fn decode_fields(
    fields: &'static [Field],
    body: &[u8],
    at: &mut usize,
) -> Result<Record, CodecError> {
    fields
        .iter()
        .map(|field| Ok((field.name, decode_field(field, body, at)?)))
        .collect()
}

fn take<'a>(
    body: &'a [u8],
    at: &mut usize,
    n: usize,
    field: &'static str,
) -> Result<&'a [u8], CodecError> {
    let bytes = body
        .get(*at..*at + n)
        .ok_or(CodecError::Truncated { field })?;
    *at += n;
    Ok(bytes)
}

fn utf8(bytes: &[u8], field: &'static str) -> Result<String, CodecError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| CodecError::Utf8 { field })
}

fn decode_field(field: &Field, body: &[u8], at: &mut usize) -> Result<Value, CodecError> {
    let name = field.name;
    Ok(match field.ty {
        Ty::U8 => Value::Int(take(body, at, 1, name)?[0].into()),
        Ty::I8 => Value::Int((take(body, at, 1, name)?[0] as i8).into()),
        Ty::U16 => Value::Int(le_u16(take(body, at, 2, name)?).into()),
        Ty::U32 => Value::Int(le_u32(take(body, at, 4, name)?).into()),
        Ty::Str8 { min, max } => {
            let len = usize::from(take(body, at, 1, name)?[0]);
            check_len(name, len, min, max)?;
            Value::Text(utf8(take(body, at, len, name)?, name)?)
        }
        Ty::Bytes => Value::Bytes(take(body, at, body.len() - *at, name)?.to_vec()),
        Ty::Text => Value::Text(utf8(take(body, at, body.len() - *at, name)?, name)?),
        Ty::List(item) => {
            let count = le_u16(take(body, at, 2, name)?);
            let records = (0..count)
                .map(|_| decode_fields(item, body, at))
                .collect::<Result<_, _>>()?;
            Value::List(records)
        }
    })
}

/// A `str8` of `len` bytes within `min..=max`, or the error naming `field`.
fn check_len(field: &'static str, len: usize, min: u8, max: u8) -> Result<(), CodecError> {
    if len < usize::from(min) || len > usize::from(max) {
        return Err(CodecError::Length {
            field,
            len,
            min,
            max,
        });
    }
    Ok(())
}

fn le_u16(bytes: &[u8]) -> u16 {
    u16::from_le_bytes([bytes[0], bytes[1]])
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Writes a body of `fields` from `record` (which names every field; extra entries are
/// ignored).
///
/// # Errors
/// [`CodecError::Missing`], [`CodecError::Range`] or [`CodecError::Length`] for a value the
/// layout cannot carry.
pub fn encode(fields: &'static [Field], record: &Record) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_fields(fields, record, &mut out)?;
    Ok(out)
}

fn encode_fields(
    fields: &'static [Field],
    record: &Record,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    for field in fields {
        let missing = CodecError::Missing { field: field.name };
        let value = record
            .iter()
            .find(|(name, _)| *name == field.name)
            .map(|(_, v)| v)
            .ok_or(missing.clone())?;
        encode_field(field, value, out)?;
    }
    Ok(())
}

fn int<T: TryFrom<i64>>(value: &Value, field: &'static str) -> Result<T, CodecError> {
    match value {
        Value::Int(n) => T::try_from(*n).map_err(|_| CodecError::Range { field }),
        _ => Err(CodecError::Missing { field }),
    }
}

fn encode_field(field: &Field, value: &Value, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let name = field.name;
    match (field.ty, value) {
        (Ty::U8, v) => out.push(int::<u8>(v, name)?),
        (Ty::I8, v) => out.push(int::<i8>(v, name)? as u8),
        (Ty::U16, v) => out.extend_from_slice(&int::<u16>(v, name)?.to_le_bytes()),
        (Ty::U32, v) => out.extend_from_slice(&int::<u32>(v, name)?.to_le_bytes()),
        (Ty::Str8 { min, max }, Value::Text(text)) => {
            let len = text.len();
            check_len(name, len, min, max)?;
            out.push(len as u8); // at most `max`, a u8
            out.extend_from_slice(text.as_bytes());
        }
        (Ty::Bytes, Value::Bytes(bytes)) => out.extend_from_slice(bytes),
        (Ty::Text, Value::Text(text)) => out.extend_from_slice(text.as_bytes()),
        (Ty::List(item), Value::List(records)) => {
            let count =
                u16::try_from(records.len()).map_err(|_| CodecError::Range { field: name })?;
            out.extend_from_slice(&count.to_le_bytes());
            for record in records {
                encode_fields(item, record, out)?;
            }
        }
        _ => return Err(CodecError::Missing { field: name }),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::packet;

    fn fields(name: &str) -> &'static [Field] {
        packet(name).expect("in the schema").fields
    }

    #[test]
    fn a_join_round_trips_and_bad_ones_are_refused() {
        let join = fields("ARENA_JOIN");
        let record: Record = vec![("room", Value::Int(7)), ("name", Value::Text("ann".into()))];
        let body = encode(join, &record).unwrap();
        assert_eq!(body, [7, 0, 0, 0, 3, b'a', b'n', b'n']);
        assert_eq!(decode(join, &body), Ok(record));
        assert_eq!(
            decode(join, &body[..6]),
            Err(CodecError::Truncated { field: "name" })
        );
        assert_eq!(
            decode(join, &[7, 0, 0, 0, 0]),
            Err(CodecError::Length {
                field: "name",
                len: 0,
                min: 1,
                max: 16
            })
        );
        assert_eq!(
            decode(join, &[7, 0, 0, 0, 1, 0xff]),
            Err(CodecError::Utf8 { field: "name" })
        );
        let mut long = body.clone();
        long.push(0);
        assert_eq!(decode(join, &long), Err(CodecError::Trailing { len: 1 }));
    }

    #[test]
    fn lists_and_signed_bytes() {
        let moved = match fields("ARENA_SNAPSHOT")[9].ty {
            Ty::List(item) => item,
            _ => unreachable!("moved is a list"),
        };
        let one: Record = vec![
            ("id", Value::Int(3)),
            ("dx", Value::Int(-2)),
            ("dy", Value::Int(127)),
        ];
        let list = [Field {
            name: "moved",
            ty: Ty::List(moved),
        }];
        let list: &'static [Field] = Box::leak(Box::new(list));
        let record = vec![("moved", Value::List(vec![one.clone(), one]))];
        let body = encode(list, &record).unwrap();
        assert_eq!(&body[..6], &[2, 0, 3, 0, 0xfe, 127]);
        assert_eq!(decode(list, &body), Ok(record));
        let too_big = vec![(
            "moved",
            Value::List(vec![vec![
                ("id", Value::Int(3)),
                ("dx", Value::Int(128)),
                ("dy", Value::Int(0)),
            ]]),
        )];
        assert_eq!(
            encode(list, &too_big),
            Err(CodecError::Range { field: "dx" })
        );
    }
}
