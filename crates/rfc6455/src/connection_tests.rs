//! Tests of [`WsConnection`](super::WsConnection): whole connections, any way they arrive.

use proptest::prelude::*;

use super::super::test_frames::{client_frame, raw_frame, replay};
use super::super::ClientHandshake;
use super::*;

const PAGE: &[u8] = b"<!doctype html><title>chat</title>";

fn connection() -> WsConnection {
    WsConnection::new(WsConfig::new(64).with_page(Bytes::from_static(PAGE)))
}

/// An owned [`WsEvent`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Handshake(bool),
    Page(Vec<u8>),
    Message(Vec<u8>),
    Reply(Vec<u8>),
    Closed(Option<u16>, Vec<u8>),
    Refused(WsError, Vec<u8>),
}

impl From<WsEvent<'_>> for Seen {
    fn from(event: WsEvent<'_>) -> Seen {
        match event {
            WsEvent::Handshake { subprotocol, .. } => Seen::Handshake(subprotocol),
            WsEvent::Page { response } => Seen::Page(response.to_vec()),
            WsEvent::Message(m) => Seen::Message(m.to_vec()),
            WsEvent::Reply(r) => Seen::Reply(r.to_vec()),
            WsEvent::Closed { code, reply } => Seen::Closed(code, reply.to_vec()),
            WsEvent::Refused { error, reply } => Seen::Refused(error, reply.to_vec()),
        }
    }
}

/// Feeds `stream` cut at `cuts` the way a session's receive buffer would; returns the events.
fn run(ws: &mut WsConnection, stream: &[u8], cuts: &[usize]) -> Vec<Seen> {
    let mut seen = Vec::new();
    let err: Option<()> = replay(
        stream,
        cuts,
        |buffer| {
            let step = ws.advance(buffer);
            let again = step.event.is_some();
            seen.extend(step.event.map(Seen::from));
            Ok((step.consumed, again))
        },
        |buffer| {
            assert!(
                buffer.len() <= DEFAULT_MAX_REQUEST,
                "kept {} bytes",
                buffer.len()
            )
        },
    );
    assert!(err.is_none());
    seen
}

fn opening() -> Vec<u8> {
    ClientHandshake::new()
        .request("127.0.0.1:7778", "/")
        .into_bytes()
}

/// Handshake, a packet, a fragmented packet with a ping inside, a pong, a close, trailing junk.
fn conversation() -> (Vec<u8>, Vec<Seen>) {
    let mut stream = opening();
    stream.extend(client_frame(true, 2, &[6, 0, 1, 0, b'h', b'i']));
    stream.extend(client_frame(false, 2, &[5, 0, 4]));
    stream.extend(client_frame(true, 9, b"are you there"));
    stream.extend(client_frame(true, 0, &[0, b'!']));
    stream.extend(client_frame(true, 10, b""));
    let mut close = 1001u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"tab closed");
    stream.extend(client_frame(true, 8, &close));
    stream.extend(b"junk after the close is ignored");
    let expected = vec![
        Seen::Handshake(true),
        Seen::Message(vec![6, 0, 1, 0, b'h', b'i']),
        Seen::Reply(pong_frame(b"are you there").to_vec()),
        Seen::Message(vec![5, 0, 4, 0, b'!']),
        Seen::Closed(Some(1001), vec![0x88, 2, 0x03, 0xe9]),
    ];
    (stream, expected)
}

#[test]
fn a_whole_conversation_in_one_read() {
    let mut ws = connection();
    assert!(ws.is_handshaking());
    let (stream, expected) = conversation();
    assert_eq!(run(&mut ws, &stream, &[]), expected);
    assert!(ws.is_done());
    assert!(ws.subprotocol());
}

#[test]
fn a_conversation_split_at_every_byte() {
    let (stream, expected) = conversation();
    let cuts: Vec<usize> = (0..stream.len()).collect();
    assert_eq!(run(&mut connection(), &stream, &cuts), expected);
}

#[test]
fn a_half_sent_frame_is_consumed_but_reported_as_mid_message() {
    let mut ws = connection();
    let opening = opening();
    assert_eq!(ws.advance(&opening).consumed, opening.len());
    assert!(!ws.is_mid_message());
    let frame = client_frame(true, 2, &[6, 0, 1, 0, b'h', b'i']);
    // Header and two payload bytes: all consumed, no event, but a message is under way.
    let step = ws.advance(&frame[..8]);
    assert_eq!((step.consumed, step.event), (8, None));
    assert!(ws.is_mid_message());
    let step = ws.advance(&frame[8..]);
    assert_eq!(step.consumed, frame.len() - 8);
    assert!(matches!(step.event, Some(WsEvent::Message(_))));
    assert!(!ws.is_mid_message());
}

#[test]
fn plain_get_serves_the_page_then_ignores_input() {
    let mut ws = connection();
    let seen = run(&mut ws, b"GET / HTTP/1.1\r\nHost: h\r\n\r\nmore", &[]);
    let [Seen::Page(response)] = &seen[..] else {
        panic!("{seen:?}");
    };
    assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(response.ends_with(PAGE));
    assert!(ws.is_done());
    assert_eq!(ws.advance(b"anything").consumed, 8);
}

#[test]
fn bad_handshakes_get_an_http_error() {
    let bad_version = String::from_utf8(opening())
        .unwrap()
        .replace("Version: 13", "Version: 12");
    let seen = run(&mut connection(), bad_version.as_bytes(), &[]);
    let [Seen::Refused(WsError::BadVersion, reply)] = &seen[..] else {
        panic!("{seen:?}");
    };
    assert!(reply.starts_with(b"HTTP/1.1 426 "));
    let huge = vec![b'a'; DEFAULT_MAX_REQUEST + 1];
    let seen = run(&mut connection(), &huge, &[1000, 5000]);
    assert!(
        matches!(
            &seen[..],
            [Seen::Refused(WsError::RequestTooLarge { limit: 8192 }, _)]
        ),
        "{seen:?}"
    );
}

#[test]
fn protocol_errors_after_the_handshake_get_a_close_frame_with_their_code() {
    let cases = [
        (raw_frame(true, 0, 2, b"x", None), WsError::Unmasked, 1002),
        (client_frame(true, 1, b"text"), WsError::TextRefused, 1003),
        (
            client_frame(true, 2, &[0; 65]),
            WsError::FrameTooLarge { len: 65, max: 64 },
            1009,
        ),
    ];
    for (frame, error, code) in cases {
        let mut ws = connection();
        let mut stream = opening();
        stream.extend(frame);
        let seen = run(&mut ws, &stream, &[]);
        let [Seen::Handshake(_), Seen::Refused(got, reply)] = &seen[..] else {
            panic!("{seen:?}");
        };
        assert_eq!(got, &error);
        assert_eq!(reply[0], 0x88, "a close frame");
        assert_eq!(u16::from_be_bytes([reply[2], reply[3]]), code);
        assert_eq!(&reply[4..], error.to_string().as_bytes());
        assert!(ws.is_done());
    }
}

proptest! {
    #[test]
    fn any_split_of_a_conversation_gives_the_same_events(
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let (stream, expected) = conversation();
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        prop_assert_eq!(run(&mut connection(), &stream, &cuts), expected);
    }

    #[test]
    fn arbitrary_input_after_the_handshake_never_panics(
        junk in proptest::collection::vec(any::<u8>(), 0..400),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut stream = opening();
        stream.extend(junk);
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        let seen = run(&mut connection(), &stream, &cuts);
        prop_assert_eq!(seen.first(), Some(&Seen::Handshake(true)));
        // Nothing follows the last word of a connection.
        for (k, event) in seen.iter().enumerate() {
            if matches!(event, Seen::Closed(..) | Seen::Refused(..)) {
                prop_assert_eq!(k + 1, seen.len());
            }
        }
    }
}
