//! `--addr a,b,c`: several servers (instances of one cluster) share the clients. Client `i`
//! goes to server `(i / rooms) % servers`: consecutive clients of one room (`i % rooms` is
//! the room) land on different servers, so every room's members are split evenly over them
//! and each chat has to cross instances. (Echo runs count as one room: round robin.)
//!
//! Client indices are given by the event loops as connections open, in an order the connector
//! does not control, so the plan is kept per server: a connection to server `s` takes the next
//! index planned for `s`. Indices stay 0..clients, each used once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Which client indices belong to which server.
#[derive(Debug)]
pub struct Spread {
    servers: Vec<SocketAddr>,
    /// Per server (same order), its client indices, ascending.
    planned: Vec<Vec<u32>>,
    /// Per server, how many of its indices were handed out.
    taken: Vec<AtomicUsize>,
}

impl Spread {
    /// `clients` clients in `rooms` rooms over `servers` (a server listed twice counts once).
    pub fn new(servers: &[SocketAddr], clients: u32, rooms: u32) -> Spread {
        let mut unique: Vec<SocketAddr> = Vec::new();
        for s in servers {
            if !unique.contains(s) {
                unique.push(*s);
            }
        }
        let n = unique.len().max(1) as u32;
        let rooms = rooms.max(1);
        let mut planned = vec![Vec::new(); unique.len()];
        for client in 0..clients {
            planned[((client / rooms) % n) as usize].push(client);
        }
        let taken = unique.iter().map(|_| AtomicUsize::new(0)).collect();
        Spread {
            servers: unique,
            planned,
            taken,
        }
    }

    /// Each server and how many clients connect to it.
    pub fn connections(&self) -> impl Iterator<Item = (SocketAddr, usize)> + '_ {
        self.servers
            .iter()
            .copied()
            .zip(self.planned.iter().map(Vec::len))
    }

    /// The index of a client that just connected to `server`; `None` if `server` is not one
    /// of ours or all its indices are taken.
    pub fn index_for(&self, server: SocketAddr) -> Option<u32> {
        let s = self.servers.iter().position(|a| *a == server)?;
        let nth = self.taken[s].fetch_add(1, Ordering::AcqRel);
        self.planned[s].get(nth).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn every_room_is_split_evenly_over_the_servers() {
        let servers = [addr(1), addr(2)];
        let spread = Spread::new(&servers, 40, 10);
        let counts: Vec<_> = spread.connections().collect();
        assert_eq!(counts, vec![(addr(1), 20), (addr(2), 20)]);
        let mut server_of = vec![None; 40];
        for _ in 0..20 {
            for s in servers {
                let i = spread.index_for(s).unwrap() as usize;
                assert!(server_of[i].replace(s).is_none(), "index {i} given twice");
            }
        }
        assert_eq!(spread.index_for(addr(1)), None, "all given out");
        for room in 0..10 {
            let on_first = (room..40)
                .step_by(10)
                .filter(|&i| server_of[i] == Some(addr(1)));
            assert_eq!(on_first.count(), 2, "room {room}: half of its 4 members");
        }
    }

    #[test]
    fn echo_is_round_robin_and_duplicates_count_once() {
        let spread = Spread::new(&[addr(1), addr(2), addr(1)], 5, 1);
        let counts: Vec<_> = spread.connections().collect();
        assert_eq!(counts, vec![(addr(1), 3), (addr(2), 2)]);
        assert_eq!(spread.index_for(addr(2)), Some(1));
        assert_eq!(spread.index_for(addr(1)), Some(0));
        assert_eq!(spread.index_for(addr(9)), None);
    }
}
