//! Fuzz target: any byte stream, delivered in any chunking, through a server-side
//! `WsConnection` the way a session's receive path would use it.
//!
//! Input layout: byte 0 picks the chunk size (1..=256 bytes per "recv"), byte 1 picks the
//! message limit (0..=65535), byte 2's low bit prepends a valid upgrade request (so most
//! runs reach the frame reader), the rest is the stream. Checked on every call:
//! * nothing panics or loops (libFuzzer reports crashes and timeouts);
//! * `consumed` never exceeds the input, and a call without an event consumed all but a
//!   partial request (<= the request bound) or a partial frame header (< 14 bytes);
//! * no message is over the limit, and nothing follows Page, Closed or Refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rfc6455::{
    ClientHandshake, WsConfig, WsConnection, WsEvent, DEFAULT_MAX_REQUEST, MAX_HEADER_LEN,
};

fuzz_target!(|data: &[u8]| {
    let [chunk_byte, max_byte, flags, stream @ ..] = data else {
        return;
    };
    let chunk = usize::from(*chunk_byte) + 1;
    let max_message = usize::from(*max_byte) * 257;
    let mut input = Vec::new();
    if flags & 1 == 1 {
        let client = ClientHandshake::with_key("dGhlIHNhbXBsZSBub25jZQ==".into());
        input.extend_from_slice(client.request("127.0.0.1:7778", "/").as_bytes());
    }
    input.extend_from_slice(stream);

    let mut ws = WsConnection::new(WsConfig::new(max_message));
    let mut recv_buffer: Vec<u8> = Vec::new();
    let mut finished = false;
    for piece in input.chunks(chunk) {
        recv_buffer.extend_from_slice(piece);
        loop {
            let handshaking = ws.is_handshaking();
            let step = ws.advance(&recv_buffer);
            assert!(step.consumed <= recv_buffer.len());
            let Some(event) = step.event else {
                let kept = recv_buffer.len() - step.consumed;
                let bound = if handshaking { DEFAULT_MAX_REQUEST } else { MAX_HEADER_LEN - 1 };
                assert!(kept <= bound, "kept {kept} bytes (bound {bound})");
                recv_buffer.drain(..step.consumed);
                break;
            };
            assert!(!finished, "an event after the connection's last word");
            match event {
                WsEvent::Message(message) => assert!(message.len() <= max_message),
                WsEvent::Page { .. } | WsEvent::Closed { .. } | WsEvent::Refused { .. } => {
                    finished = true;
                }
                WsEvent::Handshake { .. } | WsEvent::Reply(_) => {}
            }
            recv_buffer.drain(..step.consumed);
        }
    }
});
