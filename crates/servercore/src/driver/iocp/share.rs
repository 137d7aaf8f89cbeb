//! The loops that share one listening socket, and the connections the accepting loop hands
//! to the others.
//!
//! Windows has no `SO_REUSEPORT`: a service's loops share one listening socket
//! (`listener.rs` `join`), and a socket joins one completion port for its whole life, so only
//! the loop whose port took the listener can have `AcceptEx`s on it (`accept.rs`). The
//! lecture's answer is one port for every worker thread; here each loop has its own port, so
//! the accepting loop deals its connections out, round robin, over every loop of the
//! listener's [`AcceptGroup`] — itself included — posting each other loop's to that loop's
//! port (`PostQueuedCompletionStatus` with [`HANDOFF_KEY`](super::port::HANDOFF_KEY)), where
//! it comes out of the next poll as [`Event::Accepted`](crate::driver::Event::Accepted), as if
//! that loop had accepted it. The session layer sees no difference.
//!
//! A loop leaves its group when it stops accepting, finishes or is dropped ([`Membership`]);
//! connections are posted only to members, under the group's lock, so a loop that left gets
//! none after that, and takes the ones posted before it left off its port in
//! `IocpDriver::finish` (closing them: the service is stopping).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::port::PortInbox;

/// The groups alive in the process, by the listening socket's address (the loops' clones of
/// one socket have different handles but one address; a port is listened on by one service
/// at a time, `listener.rs` refusing a second).
static GROUPS: Mutex<Vec<(SocketAddr, Weak<AcceptGroup>)>> = Mutex::new(Vec::new());

/// The loops sharing one listening socket: each one's port, `None` once it left.
#[derive(Debug, Default)]
pub(super) struct AcceptGroup {
    members: Mutex<Vec<Option<PortInbox>>>,
    /// The next member to deal a connection to.
    next: AtomicUsize,
}

/// One loop's place in its listener's group; leaves it when dropped.
#[derive(Debug)]
pub(super) struct Membership {
    group: Arc<AcceptGroup>,
    index: usize,
}

impl Membership {
    /// Joins the group of `listener`'s socket (made by the first of its loops to join) with
    /// `inbox`, the loop's port. `None` if the socket has no address (it is not listening):
    /// then the loop accepts for itself alone.
    pub(super) fn join(listener: &TcpListener, inbox: PortInbox) -> Option<Membership> {
        let addr = listener.local_addr().ok()?;
        let mut groups = GROUPS.lock().unwrap_or_else(PoisonError::into_inner);
        groups.retain(|(_, group)| group.strong_count() > 0);
        let found = groups.iter().find(|(a, _)| *a == addr);
        let group = match found.and_then(|(_, group)| group.upgrade()) {
            Some(group) => group,
            None => {
                let group = Arc::new(AcceptGroup::default());
                groups.retain(|(a, _)| *a != addr);
                groups.push((addr, Arc::downgrade(&group)));
                group
            }
        };
        drop(groups);
        let index = {
            let mut members = group.lock();
            members.push(Some(inbox));
            members.len() - 1
        };
        Some(Membership { group, index })
    }

    /// Deals out a connection this loop accepted: returns it if it is this loop's turn (or
    /// no other member can take it), else hands it to the member whose turn it is.
    pub(super) fn deal(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Option<(TcpStream, SocketAddr)> {
        let members = self.group.lock();
        let mut stream = stream;
        for _ in 0..members.len() {
            let turn = self.group.next.fetch_add(1, Ordering::Relaxed) % members.len();
            if turn == self.index {
                break;
            }
            let Some(inbox) = &members[turn] else {
                continue; // it left: the next one's turn
            };
            match inbox.hand(stream, peer) {
                Ok(()) => return None,
                Err(back) => stream = back, // its port refused the packet: try the next
            }
        }
        Some((stream, peer))
    }

    /// Leaves the group: no connection is posted to this loop's port after this returns.
    pub(super) fn leave(&self) {
        self.group.lock()[self.index] = None;
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.leave();
    }
}

impl AcceptGroup {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<PortInbox>>> {
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::iocp::port::{CompletionPort, HANDOFF_KEY};
    use std::time::Duration;

    #[test]
    fn connections_are_dealt_round_robin_and_never_to_a_loop_that_left() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut ports, members): (Vec<CompletionPort>, Vec<Membership>) = (0..3)
            .map(|_| {
                let port = CompletionPort::new().unwrap();
                let member = Membership::join(&listener, port.inbox()).unwrap();
                (port, member)
            })
            .unzip();
        let connection = || {
            let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (_, peer) = listener.accept().unwrap();
            (stream, peer)
        };
        let mut kept = 0;
        for _ in 0..6 {
            let (stream, peer) = connection();
            kept += usize::from(members[0].deal(stream, peer).is_some());
        }
        assert_eq!(kept, 2, "one in three stays with the accepting loop");
        let mut taken = Vec::new();
        for port in &mut ports[1..] {
            port.wait(Some(Duration::from_secs(5)), &mut taken).unwrap();
        }
        assert_eq!(taken.len(), 4, "two for each other loop: {taken:?}");
        assert!(taken.iter().all(|c| c.key == HANDOFF_KEY));
        for c in taken.drain(..) {
            // SAFETY: each came from `PortInbox::hand`, and is taken once.
            drop(unsafe { crate::driver::iocp::port::take_handoff(c.overlapped) });
        }

        members[1].leave();
        members[2].leave();
        for _ in 0..3 {
            let (stream, peer) = connection();
            assert!(
                members[0].deal(stream, peer).is_some(),
                "nobody else is left"
            );
        }
        for port in &mut ports[1..] {
            port.wait(Some(Duration::ZERO), &mut taken).unwrap();
        }
        assert!(taken.is_empty(), "nothing posted to a loop that left");
    }
}
