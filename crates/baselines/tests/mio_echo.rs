//! mio_echo is a correct echo however the bytes come: every byte back in order on many
//! connections at once, a client that does not read is not read either (and loses nothing
//! when it starts), and a half-closed client still gets its echoes, then EOF.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

use support::Server;

fn start() -> Server {
    Server::start(env!("CARGO_BIN_EXE_mio_echo"), &[])
}

/// `len` bytes that differ from one offset and one connection to the next.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut back = vec![0; len];
    stream.read_exact(&mut back).expect("the echo arrives");
    back
}

#[test]
fn many_connections_get_their_own_bytes_back_in_order() {
    let server = start();
    let mut clients: Vec<TcpStream> = (0..50).map(|_| server.connect()).collect();
    for round in 0..20u8 {
        for (i, client) in clients.iter_mut().enumerate() {
            let message = pattern(i as u8 ^ round, 1 + (i * 37 + round as usize) % 300);
            client.write_all(&message).unwrap();
            assert_eq!(read_exactly(client, message.len()), message);
        }
    }
}

#[test]
fn a_client_that_does_not_read_loses_nothing_and_others_go_on() {
    let server = start();
    let mut stalled = server.connect();
    let data = pattern(7, 8 << 20);
    // Far more than both socket buffers hold: the server must stop reading this client
    // while its echoes wait, or hold them all.
    let writer = {
        let mut stalled = stalled.try_clone().unwrap();
        let data = data.clone();
        std::thread::spawn(move || stalled.write_all(&data))
    };
    let mut other = server.connect();
    for i in 0..100u8 {
        let message = pattern(i, 64);
        other.write_all(&message).unwrap();
        assert_eq!(read_exactly(&mut other, 64), message);
    }
    let back = read_exactly(&mut stalled, data.len());
    writer.join().unwrap().unwrap();
    assert!(back == data, "the stalled client's echo differs");
}

#[test]
fn a_half_closed_client_gets_every_echo_then_eof() {
    let server = start();
    let mut client = server.connect();
    let data = pattern(3, 100_000);
    client.write_all(&data).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    client.read_to_end(&mut back).expect("EOF after the echoes");
    assert!(back == data, "echo of {} bytes differs", back.len());
}
