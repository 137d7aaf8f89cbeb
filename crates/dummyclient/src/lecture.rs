//! The lecture's DummyClient: one blocking socket, "Hello World" every second.
//!
//! | lecture (DummyClient.cpp)                          | here                                        |
//! |----------------------------------------------------|---------------------------------------------|
//! | `connect` in a loop until `WSAEISCONN`             | `TcpStream::connect`, retried every second  |
//! | `char sendBuffer[100] = "Hello World"`             | [`hello_buffer`]: 100 bytes, zero padded    |
//! | `WSASend` + wait on the event, `Send Data Len`     | `write_all`, then print `Send Data Len = 100` |
//! | (the echo server's `WSARecv`)                      | `read_exact` of the echo, `Recv Data Len = 100: Hello World` |
//! | `this_thread::sleep_for(1s)`                       | sleep `--interval-ms`                       |
//!
//! With `--tls` the socket is a TLS stream (the server's certificate verified first,
//! [`crate::tls`]); the rest is the same. It runs until Ctrl-C, or for `--count` round trips. Each echo must equal, byte for byte,
//! what was sent (the lecture prints it; a corrupt byte past the greeting would print the
//! same), or the client stops with an error.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use crate::tls::TlsClient;

/// The client's connection: the socket, or a TLS stream over it.
trait Stream: Read + Write {}

impl<S: Read + Write> Stream for S {}

/// Bytes per message, as in the lecture's `char sendBuffer[100]`.
pub const BUFSIZE: usize = 100;

/// The greeting at the front of every buffer.
pub const HELLO: &[u8] = b"Hello World";

/// Pause between two connect attempts while the server is not up.
pub const RETRY: Duration = Duration::from_secs(1);

/// How long to wait for an echo before giving up.
pub const ECHO_TIMEOUT: Duration = Duration::from_secs(10);

/// What the lecture client does.
#[derive(Debug, Clone)]
pub struct LectureConfig {
    /// Server address, `host:port`.
    pub addr: String,
    /// Pause between two sends.
    pub interval: Duration,
    /// Stop after this many round trips (`None`: run until killed).
    pub count: Option<u64>,
    /// Over TLS (`--tls`).
    pub tls: Option<Arc<TlsClient>>,
}

/// The lecture's send buffer: "Hello World" followed by zeros, [`BUFSIZE`] bytes.
pub fn hello_buffer() -> [u8; BUFSIZE] {
    let mut buf = [0; BUFSIZE];
    buf[..HELLO.len()].copy_from_slice(HELLO);
    buf
}

/// The text of a received buffer: everything before the first zero byte (C string style).
pub fn c_str(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Connects to `config.addr`, retrying every [`RETRY`] and saying so on `out`, then sends
/// the hello buffer, reads its echo and prints both, every `config.interval`.
///
/// # Errors
/// Writing to `out` failed, the connection broke, no echo came within [`ECHO_TIMEOUT`], or
/// an echo differed from what was sent (`InvalidData`).
pub fn run(config: &LectureConfig, out: &mut impl Write) -> io::Result<()> {
    let socket = loop {
        match TcpStream::connect(&config.addr) {
            Ok(socket) => break socket,
            Err(err) => {
                writeln!(
                    out,
                    "Waiting for server at {}: {err} (retrying in 1 s)",
                    config.addr
                )?;
                out.flush()?;
                std::thread::sleep(RETRY);
            }
        }
    };
    socket.set_nodelay(true)?;
    socket.set_read_timeout(Some(ECHO_TIMEOUT))?;
    let mut socket: Box<dyn Stream> = match &config.tls {
        Some(tls) => Box::new(tls.stream(socket, ECHO_TIMEOUT)?),
        None => Box::new(socket),
    };
    writeln!(out, "Connected to Server!")?;

    let send_buffer = hello_buffer();
    let mut recv_buffer = [0; BUFSIZE];
    let mut round = 0;
    loop {
        socket.write_all(&send_buffer)?;
        socket.flush()?;
        writeln!(out, "Send Data Len = {}", send_buffer.len())?;
        socket
            .read_exact(&mut recv_buffer)
            .map_err(|err| match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no echo from {} within {ECHO_TIMEOUT:?}", config.addr),
                ),
                io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => io::Error::new(
                    err.kind(),
                    format!(
                        "{} closed the connection without an echo; a packet server \
                         (gameserver --protocol packet) closes raw bytes as a bad packet: chat \
                         with it with dummyclient --protocol packet --interactive",
                        config.addr
                    ),
                ),
                _ => err,
            })?;
        writeln!(
            out,
            "Recv Data Len = {}: {}",
            recv_buffer.len(),
            c_str(&recv_buffer)
        )?;
        out.flush()?;
        if let Some(at) = (0..BUFSIZE).find(|&i| recv_buffer[i] != send_buffer[i]) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "echo {} differs from what was sent at byte {at}: {:#04x}, sent {:#04x}",
                    round + 1,
                    recv_buffer[at],
                    send_buffer[at]
                ),
            ));
        }
        round += 1;
        if config.count.is_some_and(|count| round >= count) {
            return Ok(());
        }
        std::thread::sleep(config.interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_buffer_is_zero_padded() {
        let buf = hello_buffer();
        assert_eq!(&buf[..11], b"Hello World");
        assert!(buf[11..].iter().all(|&b| b == 0));
        assert_eq!(c_str(&buf), "Hello World");
        assert_eq!(c_str(b"abc"), "abc");
    }
}
