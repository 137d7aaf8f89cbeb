//! Fuzz target: any byte stream, delivered in any chunking, through the
//! `Framer` the way a session's receive path uses it.
//!
//! Input layout: byte 0 picks the chunk size (1..=256 bytes per "recv"),
//! byte 1 picks `max_packet` (0 -> 4, 255 -> 65535, clamped by `Framer::new`),
//! the rest is the stream. Checked on every decode:
//! * nothing panics or loops (libFuzzer reports crashes and timeouts);
//! * the retained tail stays below `max_packet` bytes;
//! * every packet handed out re-encodes to exactly the bytes it was cut from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use servercore::packet::{encode, Framer};

fuzz_target!(|data: &[u8]| {
    let [chunk_byte, max_byte, stream @ ..] = data else {
        return;
    };
    let chunk = usize::from(*chunk_byte) + 1;
    let framer = Framer::new(usize::from(*max_byte) * 257);

    let mut recv_buffer: Vec<u8> = Vec::new();
    for piece in stream.chunks(chunk) {
        recv_buffer.extend_from_slice(piece);
        let mut framed = 0;
        let result = framer.decode(&recv_buffer, |packet| {
            let wire = encode(packet.id, packet.body).expect("decoded packet re-encodes");
            assert_eq!(wire.len(), packet.len());
            assert_eq!(&wire[..], &recv_buffer[framed..framed + packet.len()]);
            framed += packet.len();
        });
        let Ok(consumed) = result else {
            // Malformed header: a session closes here; nothing more to frame.
            return;
        };
        assert_eq!(consumed, framed);
        recv_buffer.drain(..consumed);
        assert!(
            recv_buffer.len() < framer.max_packet(),
            "retained tail {} >= max_packet {}",
            recv_buffer.len(),
            framer.max_packet()
        );
    }
});
