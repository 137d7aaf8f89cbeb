//! Unit and property tests of [`MessageReader`](super::MessageReader).

use proptest::prelude::*;

use super::super::test_frames::{client_frame, feed, raw_frame, Got, MASK};
use super::*;

const BINARY: u8 = 2;
const CONTINUATION: u8 = 0;
const CLOSE: u8 = 8;
const PING: u8 = 9;
const PONG: u8 = 10;

fn server() -> MessageReader {
    MessageReader::new(Role::Server, 64)
}

fn read_all(reader: &mut MessageReader, stream: &[u8]) -> (Vec<Got>, Option<WsError>) {
    feed(reader, stream, &[])
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    payload
}

#[test]
fn one_masked_binary_frame_is_one_message() {
    let (events, err) = read_all(&mut server(), &client_frame(true, BINARY, b"packet"));
    assert_eq!(err, None);
    assert_eq!(events, [Got::Message(b"packet".to_vec())]);
}

#[test]
fn fragments_with_control_frames_between_them_make_one_message() {
    let mut stream = client_frame(false, BINARY, b"ab");
    stream.extend(client_frame(true, PING, b"p1"));
    stream.extend(client_frame(false, CONTINUATION, b"cd"));
    stream.extend(client_frame(true, PONG, b"ignored"));
    stream.extend(client_frame(true, CONTINUATION, b"ef"));
    stream.extend(client_frame(true, BINARY, b"next"));
    let mut reader = server();
    let (events, err) = read_all(&mut reader, &stream);
    assert_eq!(err, None);
    assert_eq!(reader.pongs(), 1);
    assert_eq!(
        events,
        [
            Got::Ping(b"p1".to_vec()),
            Got::Message(b"abcdef".to_vec()),
            Got::Message(b"next".to_vec()),
        ]
    );
}

#[test]
fn empty_messages_and_pings_are_events_too() {
    let mut stream = client_frame(true, BINARY, b"");
    stream.extend(client_frame(true, PING, b""));
    let (events, err) = read_all(&mut server(), &stream);
    assert_eq!(err, None);
    assert_eq!(events, [Got::Message(vec![]), Got::Ping(vec![])]);
}

#[test]
fn unmasked_client_frame_is_refused() {
    let (_, err) = read_all(&mut server(), &raw_frame(true, 0, BINARY, b"x", None));
    assert_eq!(err, Some(WsError::Unmasked));
}

#[test]
fn client_role_reads_unmasked_frames_and_refuses_masked_ones() {
    let mut client = MessageReader::new(Role::Client, 64);
    let (events, err) = read_all(&mut client, &raw_frame(true, 0, BINARY, b"x", None));
    assert_eq!((events, err), (vec![Got::Message(b"x".to_vec())], None));
    let (_, err) = read_all(&mut client, &client_frame(true, BINARY, b"x"));
    assert_eq!(err, Some(WsError::Masked));
}

#[test]
fn text_frames_are_refused_with_1003() {
    let (_, err) = read_all(&mut server(), &client_frame(true, 1, b"hello"));
    assert_eq!(err, Some(WsError::TextRefused));
    assert_eq!(err.unwrap().close_code(), Some(1003));
}

#[test]
fn oversized_frame_is_refused_from_its_header_alone() {
    let frame = client_frame(true, BINARY, &[0; 65]);
    // Only the header (2 + 4 mask bytes): no payload has been buffered yet.
    let mut reader = server();
    let err = reader.read(&frame[..6]).unwrap_err();
    assert_eq!(err, WsError::FrameTooLarge { len: 65, max: 64 });
    assert_eq!(err.close_code(), Some(1009));
    // A 64-bit length far over any limit, the MSB set: same answer, no overflow.
    let mut huge = vec![0x82, 0xff];
    huge.extend_from_slice(&u64::MAX.to_be_bytes());
    huge.extend_from_slice(&MASK);
    let err = server().read(&huge).unwrap_err();
    assert_eq!(
        err,
        WsError::FrameTooLarge {
            len: u64::MAX,
            max: 64
        }
    );
}

#[test]
fn fragments_over_the_limit_are_refused() {
    let mut stream = client_frame(false, BINARY, &[1; 40]);
    stream.extend(client_frame(true, CONTINUATION, &[2; 30]));
    let (events, err) = read_all(&mut server(), &stream);
    assert!(events.is_empty());
    assert_eq!(err, Some(WsError::MessageTooLarge { len: 70, max: 64 }));
}

#[test]
fn a_continuation_announcing_u64_max_bytes_is_refused_not_wrapped() {
    // Found by the fuzz target: the running total overflowed.
    let mut stream = client_frame(false, BINARY, b"ab");
    stream.extend_from_slice(&[0x80, 0xff]);
    stream.extend_from_slice(&u64::MAX.to_be_bytes());
    stream.extend_from_slice(&MASK);
    let (_, err) = read_all(&mut server(), &stream);
    assert_eq!(
        err,
        Some(WsError::MessageTooLarge {
            len: u64::MAX,
            max: 64
        })
    );
}

#[test]
fn control_frame_rules() {
    let cases = [
        (
            client_frame(true, PING, &[0; 126]),
            WsError::ControlTooLong { len: 126 },
        ),
        (client_frame(false, PING, b""), WsError::ControlFragmented),
        (
            client_frame(true, CONTINUATION, b"x"),
            WsError::UnexpectedContinuation,
        ),
        (
            raw_frame(true, 4, BINARY, b"x", Some(MASK)),
            WsError::ReservedBits { first: 0xc2 },
        ),
        (
            client_frame(true, 3, b"x"),
            WsError::ReservedOpcode { opcode: 3 },
        ),
        (
            client_frame(true, 0xb, b""),
            WsError::ReservedOpcode { opcode: 0xb },
        ),
    ];
    for (stream, expected) in cases {
        let (_, err) = read_all(&mut server(), &stream);
        assert_eq!(err, Some(expected.clone()), "{expected}");
        assert_eq!(expected.close_code(), Some(1002));
    }
}

#[test]
fn new_message_inside_a_fragmented_one_is_refused() {
    let mut stream = client_frame(false, BINARY, b"a");
    stream.extend(client_frame(true, BINARY, b"b"));
    let (_, err) = read_all(&mut server(), &stream);
    assert_eq!(err, Some(WsError::ExpectedContinuation));
}

#[test]
fn close_frames_are_checked() {
    let ok = client_frame(true, CLOSE, &close_payload(1000, "bye ✓".as_bytes()));
    let (events, err) = read_all(&mut server(), &ok);
    assert_eq!(err, None);
    assert_eq!(events, [Got::Close(Some(1000), "bye ✓".into())]);
    let (events, _) = read_all(&mut server(), &client_frame(true, CLOSE, b""));
    assert_eq!(events, [Got::Close(None, String::new())]);
    let private = client_frame(true, CLOSE, &close_payload(4321, b""));
    assert_eq!(
        read_all(&mut server(), &private).0,
        [Got::Close(Some(4321), String::new())]
    );

    let bad = [
        (client_frame(true, CLOSE, &[3]), WsError::ClosePayload),
        (
            client_frame(true, CLOSE, &close_payload(1005, b"")),
            WsError::InvalidCloseCode { code: 1005 },
        ),
        (
            client_frame(true, CLOSE, &close_payload(999, b"")),
            WsError::InvalidCloseCode { code: 999 },
        ),
        (
            client_frame(true, CLOSE, &close_payload(1000, &[0xff, 0xfe])),
            WsError::InvalidCloseReason,
        ),
    ];
    for (stream, expected) in bad {
        assert_eq!(read_all(&mut server(), &stream).1, Some(expected));
    }
    assert_eq!(WsError::InvalidCloseReason.close_code(), Some(1007));
}

#[test]
fn partial_payload_is_consumed_as_it_arrives() {
    let frame = client_frame(true, BINARY, b"0123456789");
    let mut reader = server();
    // Header (6) and 3 payload bytes: all consumed, no event yet.
    assert_eq!(reader.read(&frame[..9]).unwrap(), (9, None));
    assert!(!reader.is_idle());
    let (used, event) = reader.read(&frame[9..]).unwrap();
    assert_eq!((used, event), (7, Some(FrameEvent::Message(b"0123456789"))));
    assert!(reader.is_idle());
    // A partial header is not consumed.
    assert_eq!(reader.read(&frame[..1]).unwrap(), (0, None));
}

/// One frame of a generated stream.
#[derive(Debug, Clone)]
enum Piece {
    /// A message cut into fragments of these lengths (at least one), with pings after some.
    Message(Vec<u8>, Vec<usize>, Vec<bool>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        3 => (
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::collection::vec(0usize..64, 0..4),
            proptest::collection::vec(any::<bool>(), 4),
        )
            .prop_map(|(m, cuts, pings)| Piece::Message(m, cuts, pings)),
        1 => proptest::collection::vec(any::<u8>(), 0..20).prop_map(Piece::Ping),
        1 => proptest::collection::vec(any::<u8>(), 0..20).prop_map(Piece::Pong),
    ]
}

/// Writes `piece` as client frames and appends the events it must give to `expected`.
fn write_piece(piece: &Piece, stream: &mut Vec<u8>, expected: &mut Vec<Got>) {
    match piece {
        Piece::Message(message, cuts, pings) => {
            let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(message.len())).collect();
            bounds.sort_unstable();
            bounds.push(message.len());
            let mut start = 0;
            for (k, &end) in bounds.iter().enumerate() {
                let last = k + 1 == bounds.len();
                let opcode = if k == 0 { BINARY } else { CONTINUATION };
                stream.extend(client_frame(last, opcode, &message[start..end]));
                start = end;
                if !last && pings[k] {
                    stream.extend(client_frame(true, PING, &[k as u8]));
                    expected.push(Got::Ping(vec![k as u8]));
                }
            }
            expected.push(Got::Message(message.clone()));
        }
        Piece::Ping(payload) => {
            stream.extend(client_frame(true, PING, payload));
            expected.push(Got::Ping(payload.clone()));
        }
        Piece::Pong(payload) => stream.extend(client_frame(true, PONG, payload)),
    }
}

proptest! {
    #[test]
    fn any_split_of_any_frame_stream_gives_the_same_events(
        pieces in proptest::collection::vec(piece(), 0..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..30),
    ) {
        let (mut stream, mut expected) = (Vec::new(), Vec::new());
        for piece in &pieces {
            write_piece(piece, &mut stream, &mut expected);
        }
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        let (events, err) = feed(&mut server(), &stream, &cuts);
        prop_assert_eq!(err, None);
        prop_assert_eq!(events, expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_keep_a_bounded_tail(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        // feed() asserts the tail bound; an error is a fine outcome for noise.
        let _ = feed(&mut MessageReader::new(Role::Server, 100), &bytes, &cuts);
    }
}
