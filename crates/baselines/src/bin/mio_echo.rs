//! Floor: the least a readiness echo server does per message, for `bench/run.sh capacity`
//! (`SERVERS="... mio_echo"`). One thread, one `mio::Poll` (epoll, edge-triggered), and per
//! message one `recv` and one `send` straight from a scratch buffer: no sessions, no send
//! queue, no limits, no timers. Its CPU per message is what the kernel costs plus almost
//! nothing, so it shows how much of a server's cost is its own and how much is loopback TCP.
//!
//! It is still a correct echo: bytes the socket does not take wait in the connection's
//! buffer, and the connection is not read until they are gone (a client that does not read
//! its echoes stops being read; memory stays bounded by one read per connection).

use std::io::{self, Read, Write};

use clap::Parser;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

#[derive(Debug, Parser)]
#[command(about = "Bare mio echo server: the cost floor of a readiness loop (benchmark)")]
struct Args {
    #[command(flatten)]
    endpoint: baselines::Endpoint,
}

/// One client: its socket and the echo bytes the socket did not take yet.
struct Conn {
    stream: TcpStream,
    unsent: Vec<u8>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let addr = format!("{}:{}", args.endpoint.bind, args.endpoint.port).parse()?;
    let mut listener = TcpListener::bind(addr)?;
    eprintln!("mio_echo listening on {}", listener.local_addr()?);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; 64 * 1024];
    loop {
        if let Err(err) = poll.poll(&mut events, None) {
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err.into());
        }
        for event in &events {
            if event.token() == LISTENER {
                accept_all(&listener, &poll, &mut conns);
                continue;
            }
            let slot = event.token().0;
            let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            // The peer hung up: no edge follows the bytes before its FIN, so read to the end.
            let to_end = event.is_read_closed() || event.is_error();
            let open = (!event.is_writable() || flush(conn))
                && (!conn.unsent.is_empty() || echo(conn, &mut scratch, to_end));
            if !open {
                if let Some(mut conn) = conns[slot].take() {
                    let _ = poll.registry().deregister(&mut conn.stream);
                }
            }
        }
    }
}

/// Accepts until `EAGAIN`; a connection takes the first free slot (its token).
fn accept_all(listener: &TcpListener, poll: &Poll, conns: &mut Vec<Option<Conn>>) {
    loop {
        let mut stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
            Err(err) => {
                // Out of descriptors, say: not retried at once (it would spin). The backlog
                // waits for the next connection's edge (Linux; mio promises none before a
                // `WouldBlock`), good enough for a benchmark's floor.
                eprintln!("accept: {err}");
                return;
            }
        };
        let slot = conns
            .iter()
            .position(Option::is_none)
            .unwrap_or(conns.len());
        let interest = Interest::READABLE | Interest::WRITABLE;
        if stream.set_nodelay(true).is_err()
            || poll
                .registry()
                .register(&mut stream, Token(slot), interest)
                .is_err()
        {
            continue;
        }
        let conn = Some(Conn {
            stream,
            unsent: Vec::new(),
        });
        match conns.get_mut(slot) {
            Some(free) => *free = conn,
            None => conns.push(conn),
        }
    }
}

/// Reads and writes back until the socket has nothing more (`EAGAIN`, or on Linux a short read
/// unless `to_end`: edge-triggered epoll raises a new edge for any later arrival) or the socket
/// stops taking bytes (its `EAGAIN` re-arms the poll for both directions). Returns false when
/// the connection is finished.
///
/// The short read is Linux's shortcut, not mio's contract: mio promises a new event only after
/// an operation returned `WouldBlock` ("Draining readiness", `mio::Poll`), and on Windows its
/// AFD poll is re-armed by nothing else. Elsewhere this reads on until `WouldBlock`.
fn echo(conn: &mut Conn, scratch: &mut [u8], to_end: bool) -> bool {
    loop {
        let n = match conn.stream.read(scratch) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return true,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        };
        let mut sent = 0;
        while sent < n {
            match conn.stream.write(&scratch[sent..n]) {
                Ok(m) => sent += m,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if sent < n {
            conn.unsent.extend_from_slice(&scratch[sent..n]);
            return true; // read again once a writable edge has taken these
        }
        if n < scratch.len() && !to_end && cfg!(target_os = "linux") {
            return true;
        }
    }
}

/// Writes what waits; returns false if the connection failed.
fn flush(conn: &mut Conn) -> bool {
    while !conn.unsent.is_empty() {
        match conn.stream.write(&conn.unsent) {
            Ok(m) => {
                conn.unsent.drain(..m);
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return true,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}
