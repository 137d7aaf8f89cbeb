//! [`Blip`]: a TCP relay in front of a server whose connections a test can cut at once — a
//! network blip: both ends see their connection end (a reset or an EOF) while the server and
//! the client live on. New connections through the relay work again right after.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// A relay listening on a loopback port, forwarding every connection to its target.
#[derive(Debug)]
pub struct Blip {
    addr: SocketAddr,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Blip {
    /// A relay to `target` on a free loopback port.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub fn start(target: SocketAddr) -> Blip {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let live = Arc::new(Mutex::new(Vec::new()));
        let conns = live.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let ends = (client.try_clone(), server.try_clone());
                let (Ok(client_copy), Ok(server_copy)) = ends else {
                    continue;
                };
                conns.lock().unwrap().extend([client_copy, server_copy]);
                pipe(&client, &server);
            }
        });
        Blip { addr, live }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Cuts every connection made through the relay so far; returns how many pairs.
    pub fn cut(&self) -> usize {
        let mut live = self.live.lock().unwrap();
        for stream in live.iter() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let pairs = live.len() / 2;
        live.clear();
        pairs
    }
}

/// Copies each way on a thread of its own until either side ends.
fn pipe(client: &TcpStream, server: &TcpStream) {
    for (from, to) in [(client, server), (server, client)] {
        let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
            return;
        };
        thread::spawn(move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
        });
    }
}
