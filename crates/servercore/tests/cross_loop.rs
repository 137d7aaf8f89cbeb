//! Sessions on different loops reach each other: a send to another loop's session goes
//! through that loop's mailbox, in order, without loss.

mod util;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use servercore::{Context, Handler, Model, Service, SessionId};
use util::*;

/// Forwards everything a session receives to the other session.
struct Relay {
    peers: Arc<Mutex<Vec<SessionId>>>,
}

impl Handler for Relay {
    fn connected(&mut self, _ctx: &mut Context<'_>, id: SessionId) {
        self.peers.lock().unwrap().push(id);
    }

    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let other = self
            .peers
            .lock()
            .unwrap()
            .iter()
            .copied()
            .find(|&p| p != id);
        if let Some(other) = other {
            let buf = ctx.alloc(data.len(), |b| b.extend_from_slice(data));
            ctx.send(other, buf).unwrap();
        }
        data.len()
    }
}

/// A connected pair: (the client end we keep, the server end handed to the service).
fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server_end, _) = listener.accept().unwrap();
    (client, server_end)
}

fn relay_between_loops(model: Model) {
    let peers = Arc::new(Mutex::new(Vec::new()));
    let shared = peers.clone();
    let service = Service::unbound(config(model), move |_| Relay {
        peers: shared.clone(),
    })
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut a, a_server) = pair(&listener);
    let (mut b, b_server) = pair(&listener);
    service.adopt(a_server); // loop 0
    service.adopt(b_server); // loop 1 (round robin)
    assert_live(&service, 2);
    let ids = peers.lock().unwrap().clone();
    assert_ne!(
        ids[0].loop_index(),
        ids[1].loop_index(),
        "the two sessions live on different loops"
    );
    for s in [&a, &b] {
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
    }
    let data = pattern(5, 256 * 1024);
    let mut writer = a.try_clone().unwrap();
    let to_send = data.clone();
    let sender = std::thread::spawn(move || {
        for chunk in to_send.chunks(1000) {
            writer.write_all(chunk).unwrap();
        }
    });
    assert!(
        read_n(&mut b, data.len()).unwrap() == data,
        "bytes relayed across loops differ"
    );
    sender.join().unwrap();
    b.write_all(b"back").unwrap();
    assert_eq!(read_n(&mut a, 4).unwrap(), b"back");
}

both_models!(relay, relay_between_loops);
