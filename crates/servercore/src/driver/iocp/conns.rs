//! The driver's record of each session socket, which outlives its session until the last
//! completion naming it has been taken off the port, and the table that finds a record by
//! the completion key: the session's generational id.
//!
//! ```text
//!   recv:  Idle --start--> Pending --(completion)--> Ready --read--> Lent --(next call)--> Idle
//!            \--start, done in the call (skip mode)--> Ready          (Eof, Failed) --read--> Ended
//!   send:  Idle --(send: take_front, WSASend)--> InFlight --(completion)--> Done --(send)--> Idle
//!            \--WSASend done in the call--> Idle (Wrote at once)
//!   life:  Open --(close: CancelIoEx)--> Draining --(last completion)--> freed (closesocket, Event::Released)
//! ```

use std::collections::HashMap;
use std::io;
use std::net::TcpStream;

use super::ops::{RecvOp, SendOp};
use crate::SessionId;

/// A session's receive side.
#[derive(Debug)]
pub(super) enum Recv {
    /// No `WSARecv` in flight and nothing received: started when reading is allowed.
    Idle,
    /// A `WSARecv` is in flight: the kernel owns the buffer and the `OVERLAPPED`.
    Pending,
    /// A receive completed; the session layer has not read it yet.
    Ready(Received),
    /// The received bytes are lent to the session layer (`Driver::read`) until the next
    /// call on the driver.
    Lent,
    /// EOF or an error was read: never started again.
    Ended,
}

/// What one completed receive brought.
#[derive(Debug)]
pub(super) enum Received {
    /// This many bytes, in the receive buffer.
    Data(u32),
    /// The peer's EOF (a receive of 0 bytes).
    Eof,
    /// The receive failed.
    Failed(io::Error),
}

impl Received {
    /// What a receive's result means.
    pub(super) fn from_result(result: io::Result<u32>) -> Received {
        match result {
            Ok(0) => Received::Eof,
            Ok(n) => Received::Data(n),
            Err(err) => Received::Failed(err),
        }
    }
}

/// A session's send side: at most one `WSASend` in flight.
#[derive(Debug, Default)]
pub(super) enum SendState {
    /// No send in flight; the session's queue alone holds what is owed.
    #[default]
    Idle,
    /// A send is in flight; the record owns its buffers, `WSABUF`s and `OVERLAPPED`.
    InFlight(Box<SendOp>),
    /// Its completion came with this result; the session layer hears of it at its next
    /// `Driver::send`, which gives the untaken rest back to the queue.
    Done(Box<SendOp>, io::Result<u32>),
}

impl SendState {
    /// The record of a finished send, its result dropped (the session is closing); a send
    /// in flight stays (the kernel owns it until its completion).
    pub(super) fn take_done(&mut self) -> Option<Box<SendOp>> {
        match std::mem::take(self) {
            SendState::Done(op, _) => Some(op),
            still => {
                *self = still;
                None
            }
        }
    }
}

/// The driver's record of one session socket.
#[derive(Debug)]
pub(super) struct Conn {
    /// The socket, associated with the port under `id`. Closed only when the record is
    /// dropped, after its last completion.
    pub(super) socket: TcpStream,
    /// The session (and the completion key).
    pub(super) id: SessionId,
    pub(super) recv: Recv,
    pub(super) recv_op: Box<RecvOp>,
    /// The session layer allows reading (`Driver::set_reading`).
    pub(super) reading: bool,
    pub(super) send: SendState,
}

impl Conn {
    pub(super) fn new(socket: TcpStream, id: SessionId, recv_op: Box<RecvOp>) -> Conn {
        Conn {
            socket,
            id,
            recv: Recv::Idle,
            recv_op,
            reading: true,
            send: SendState::Idle,
        }
    }

    /// True when no operation of this socket is in flight: the record may be freed.
    pub(super) fn is_quiet(&self) -> bool {
        !matches!(self.recv, Recv::Pending) && !matches!(self.send, SendState::InFlight(_))
    }

    /// True when a receive should be started now.
    pub(super) fn wants_recv(&self) -> bool {
        self.reading && matches!(self.recv, Recv::Idle)
    }
}

/// The records: open sessions' by session slot, closed sessions' still draining by id.
///
/// A completion's key is the session id it was started for, slot *and* generation: an open
/// record answers only to its own id, so a completion for an id whose slot a newer session
/// took finds the draining record it belongs to, or nothing (it is then ignored, never
/// applied to the newer session).
#[derive(Debug, Default)]
pub(super) struct ConnTable {
    open: Vec<Option<Conn>>,
    draining: HashMap<SessionId, Conn>,
}

impl ConnTable {
    /// True when no record has an operation in flight.
    pub(super) fn all_quiet(&self) -> bool {
        self.open.iter().flatten().all(Conn::is_quiet) && self.draining.values().all(Conn::is_quiet)
    }

    /// Records still waiting for their last completion.
    pub(super) fn draining(&self) -> usize {
        self.draining.len()
    }

    /// Stores an open session's record.
    pub(super) fn insert(&mut self, conn: Conn) {
        let slot = conn.id.slot();
        if self.open.len() <= slot {
            self.open.resize_with(slot + 1, || None);
        }
        debug_assert!(self.open[slot].is_none(), "a slot holds one open session");
        self.open[slot] = Some(conn);
    }

    /// The record of open session `id`.
    pub(super) fn open_mut(&mut self, id: SessionId) -> Option<&mut Conn> {
        self.open
            .get_mut(id.slot())
            .and_then(Option::as_mut)
            .filter(|c| c.id == id)
    }

    /// The record a completion keyed `id` belongs to, open or draining.
    pub(super) fn get_mut(&mut self, id: SessionId) -> Option<&mut Conn> {
        let open = self.open.get(id.slot()).and_then(Option::as_ref);
        if open.is_some_and(|c| c.id == id) {
            return self.open_mut(id);
        }
        self.draining.get_mut(&id)
    }

    /// Open session `id` is closing: its record drains from now on.
    pub(super) fn start_draining(&mut self, id: SessionId) -> Option<&mut Conn> {
        let conn = self.open.get_mut(id.slot())?;
        if conn.as_ref().is_none_or(|c| c.id != id) {
            return None;
        }
        let conn = conn.take()?;
        Some(self.draining.entry(id).or_insert(conn))
    }

    /// Whether `id`'s record is draining.
    pub(super) fn is_draining(&self, id: SessionId) -> bool {
        self.draining.contains_key(&id)
    }

    /// Takes `id`'s draining record out (its last completion is in).
    pub(super) fn remove_draining(&mut self, id: SessionId) -> Option<Conn> {
        self.draining.remove(&id)
    }

    /// Takes every record out (the driver is dropped with operations in flight).
    pub(super) fn take_all(&mut self) -> Vec<Conn> {
        let mut all: Vec<Conn> = self.open.drain(..).flatten().collect();
        all.extend(self.draining.drain().map(|(_, c)| c));
        all
    }

    /// Gives back what closed sessions left (after a burst).
    pub(super) fn shrink(&mut self) {
        crate::driver::shrink_slots(&mut self.open);
        if self.draining.capacity() > 2 * self.draining.len() + 64 {
            self.draining.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(id: SessionId) -> Conn {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        Conn::new(socket, id, RecvOp::new(16))
    }

    #[test]
    fn a_completion_for_an_old_generation_finds_the_draining_record_not_the_new_session() {
        let mut table = ConnTable::default();
        let old = SessionId::new(0, 3, 1);
        let new = SessionId::new(0, 3, 2);
        table.insert(conn(old));
        assert!(table.start_draining(old).is_some());
        table.insert(conn(new)); // the session table reused the slot
        assert_eq!(table.get_mut(old).map(|c| c.id), Some(old));
        assert_eq!(table.get_mut(new).map(|c| c.id), Some(new));
        assert!(table.open_mut(old).is_none(), "no longer open");
        assert!(table.remove_draining(old).is_some());
        assert!(
            table.get_mut(old).is_none(),
            "a later completion for it finds nothing"
        );
        assert_eq!(table.draining(), 0);
        assert!(
            table.get_mut(SessionId::new(0, 3, 3)).is_none(),
            "nor for a newer one"
        );
    }

    #[test]
    fn a_closed_burst_leaves_no_records_behind() {
        let mut table = ConnTable::default();
        let ids: Vec<SessionId> = (0..50).map(|slot| SessionId::new(0, slot, 0)).collect();
        for &id in &ids {
            table.insert(conn(id));
        }
        for &id in &ids {
            assert!(table.start_draining(id).is_some());
            assert!(table.remove_draining(id).is_some());
        }
        table.shrink();
        assert_eq!(table.draining(), 0);
        assert!(table.open.is_empty());
        assert!(ids.iter().all(|&id| table.get_mut(id).is_none()));
    }
}
