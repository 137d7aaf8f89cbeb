//! The completion driver's bookkeeping: what each SQE's `user_data` says, the per-connection
//! record that outlives its session, and the in-flight send record.
//!
//! Everything here serves the ownership rule of [`super`]: memory and fds an SQE names are
//! held by these records until the SQE's last CQE has been reaped.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;

use bytes::Bytes;

use crate::session::{SendQueue, MAX_IOVECS};
use crate::slots::{Key, Slots};
use crate::SessionId;

/// What an SQE is; the top byte of its `user_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum OpKind {
    /// The read of the loop's eventfd (the waker); one per ring, always armed while running.
    Waker = 1,
    /// The listener's multishot accept.
    Accept = 2,
    /// A connection's multishot recv.
    Recv = 4,
    /// A connection's sendmsg.
    Send = 5,
    /// An `ASYNC_CANCEL` aimed at a connection's ops; counted in [`Conn::cancels`].
    CancelConn = 6,
    /// An `ASYNC_CANCEL` aimed at a loop-level op (waker, accept) at shutdown.
    CancelLoop = 7,
}

/// A slot in the driver's connection table plus the generation the slot had when the record
/// was made, so a CQE that outlived its record is recognised and never reaches a reused slot.
/// Generations are 16 bits, as in [`SessionId`] ([`Slots`]): a slot must be reused 65,536
/// times while a CQE naming its old record is still unreaped before the two could be confused.
pub(super) type ConnSlot = Key;

/// Packs an SQE's identity into its 64-bit `user_data`:
///
/// ```text
///   63        56 55      48 47                 32 31                    0
///  +------------+----------+---------------------+-----------------------+
///  |  OpKind    | (unused) | slot generation (16) |  connection slot (32) |
///  +------------+----------+---------------------+-----------------------+
/// ```
///
/// Loop-level ops (waker, accept) use slot 0 generation 0.
pub(super) fn user_data(kind: OpKind, slot: Option<ConnSlot>) -> u64 {
    let (index, generation) = slot.map_or((0, 0), |s| (s.index, s.generation));
    (u64::from(kind as u8) << 56) | (u64::from(generation) << 32) | u64::from(index)
}

/// Unpacks what [`user_data`] packed.
pub(super) fn decode(raw: u64) -> (OpKind, ConnSlot) {
    let kind = match (raw >> 56) as u8 {
        1 => OpKind::Waker,
        2 => OpKind::Accept,
        4 => OpKind::Recv,
        5 => OpKind::Send,
        6 => OpKind::CancelConn,
        7 => OpKind::CancelLoop,
        other => unreachable!(
            "user_data {raw:#x} names op kind {other}, which this driver never submits"
        ),
    };
    let slot = ConnSlot {
        index: raw as u32,
        generation: (raw >> 32) as u16,
    };
    (kind, slot)
}

/// Lifecycle of a multishot op (a connection's recv, the loop's eventfd read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arm {
    /// No SQE in flight: never armed, paused for backpressure, or ended (EOF, error).
    Idle,
    /// An SQE is in flight; its CQEs carry `IORING_CQE_F_MORE` until its last one.
    Armed,
    /// A cancel was asked for; CQEs may still come (and are handled) until one without
    /// `F_MORE` ends it.
    Cancelling,
}

/// Lifecycle of a connection record, which outlives its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Life {
    /// The session is open in `LoopCore`; completions are reported to it.
    Open,
    /// `LoopCore::close` was called and the in-flight ops were cancelled; the fd is closed
    /// and the slot freed when the last CQE naming this record has been reaped.
    Draining,
}

/// Lifecycle of a connection's send side: at most one send in flight.
#[derive(Debug, Default)]
pub(super) enum SendState {
    /// No send in flight; the session's queue alone holds the bytes owed to the peer.
    #[default]
    Idle,
    /// One send in flight; the record owns the buffers, iovecs and msghdr its SQE names.
    InFlight(Box<SendOp>),
    /// Its CQE came with this result (bytes taken, or `-errno`); the session layer hears of
    /// it at its next `Driver::send`, which gives the untaken rest back to the queue.
    Done(Box<SendOp>, i32),
}

/// One receive completion kept for the session layer, in arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Received {
    /// `len` bytes in provided buffer `bid` (lent to the session layer by `Driver::read`, then
    /// recycled).
    Data { bid: u16, len: u32 },
    /// The peer's EOF.
    Eof,
    /// The recv failed with this errno.
    Failed(i32),
}

/// The driver's record of one socket: the fd and every op in flight on it.
#[derive(Debug)]
pub(super) struct Conn {
    /// The socket. Closed (dropped) only when the record is freed, after its last CQE.
    pub(super) fd: OwnedFd,
    /// The session this socket carries (stale once `life` is `Draining`).
    pub(super) session: SessionId,
    pub(super) life: Life,
    pub(super) recv: Arm,
    /// The session layer allows reading (`Driver::set_reading`).
    pub(super) reading: bool,
    /// The recv ended for good (EOF or an error): never re-armed.
    pub(super) recv_ended: bool,
    pub(super) send: SendState,
    /// `ASYNC_CANCEL` SQEs in flight that name this socket.
    pub(super) cancels: u32,
    /// Receive completions not yet taken by the session layer; each `Data` holds a provided
    /// buffer until then (a cancel that pauses a multishot recv may land after more
    /// completions, and a CQE cannot be un-received).
    pub(super) input: VecDeque<Received>,
}

impl Conn {
    /// A record for open session `session` on socket `fd`, with nothing in flight.
    pub(super) fn new(fd: OwnedFd, session: SessionId) -> Conn {
        Conn {
            fd,
            session,
            life: Life::Open,
            recv: Arm::Idle,
            reading: true,
            recv_ended: false,
            send: SendState::Idle,
            cancels: 0,
            input: VecDeque::new(),
        }
    }

    /// True when no SQE in flight names this record: its fd may be closed.
    pub(super) fn is_quiet(&self) -> bool {
        self.recv == Arm::Idle && !matches!(self.send, SendState::InFlight(_)) && self.cancels == 0
    }
}

/// One sendmsg's memory: the buffers taken from the session's queue, the iovec array that
/// points into them, and the msghdr that points at the array — the lecture's `WSABUF` array
/// plus `OVERLAPPED`. Always boxed: the SQE holds raw pointers into it, so it must not move
/// until the CQE arrives (the iovecs are a fixed array, not a `Vec`, for the same reason).
pub(super) struct SendOp {
    bufs: Vec<Bytes>,
    iovecs: [libc::iovec; MAX_IOVECS],
    msg: libc::msghdr,
}

impl std::fmt::Debug for SendOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendOp")
            .field("bufs", &self.bufs.len())
            .finish_non_exhaustive()
    }
}

impl SendOp {
    pub(super) fn new() -> Box<SendOp> {
        Box::new(SendOp {
            bufs: Vec::with_capacity(MAX_IOVECS),
            iovecs: [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; MAX_IOVECS],
            // SAFETY: `msghdr` is a plain C struct of pointers and integers, for which all
            // zeroes (null pointers, zero lengths) is a valid value.
            msg: unsafe { std::mem::zeroed() },
        })
    }

    /// Takes up to [`MAX_IOVECS`] buffers from the front of `queue` and points the msghdr at
    /// them; returns the msghdr for a `SENDMSG` SQE (valid while `self` is neither moved out of
    /// its box nor touched: the ownership rule).
    pub(super) fn prepare(&mut self, queue: &mut SendQueue) -> *const libc::msghdr {
        debug_assert!(
            self.bufs.is_empty(),
            "a send record is reused only once cleared"
        );
        queue.take_front(MAX_IOVECS, usize::MAX, &mut self.bufs); // SEND takes what fits
        for (iov, buf) in self.iovecs.iter_mut().zip(&self.bufs) {
            // The kernel only reads through `iov_base` (a send); `*mut` is the C type's.
            *iov = libc::iovec {
                iov_base: buf.as_ptr().cast_mut().cast(),
                iov_len: buf.len(),
            };
        }
        self.msg.msg_iov = self.iovecs.as_mut_ptr();
        self.msg.msg_iovlen = self.bufs.len() as _;
        &self.msg
    }

    /// The one buffer of a prepared send, if it holds exactly one: such a send goes out as a
    /// plain `SEND` (no msghdr or iovec for the kernel to copy in).
    pub(super) fn single(&self) -> Option<(*const u8, u32)> {
        match self.bufs.as_slice() {
            [buf] => Some((buf.as_ptr(), u32::try_from(buf.len()).ok()?)),
            _ => None,
        }
    }

    /// The kernel took `n` bytes: puts what it did not take back at the front of `queue`.
    pub(super) fn complete(&mut self, n: usize, queue: &mut SendQueue) {
        queue.give_back(n, &mut self.bufs);
    }

    /// Drops the buffers (the session is gone) so the record can be reused.
    pub(super) fn clear(&mut self) {
        self.bufs.clear();
        self.msg.msg_iovlen = 0;
    }
}

/// The driver's connections, by [`ConnSlot`], with a map from session to slot.
///
/// Slots are the driver's own, not the session table's: a draining record keeps its slot
/// after its session (and the session's slot) is gone.
#[derive(Debug, Default)]
pub(super) struct ConnTable {
    records: Slots<Conn>,
    /// Driver slot of each open session, by session slot.
    by_session: Vec<Option<ConnSlot>>,
}

impl ConnTable {
    /// Number of records, open or draining.
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// Stores `conn` (an open session's) and returns its slot.
    pub(super) fn insert(&mut self, conn: Conn) -> ConnSlot {
        let session = conn.session;
        let slot = self.records.insert_with(|_| conn);
        if self.by_session.len() <= session.slot() {
            self.by_session.resize(session.slot() + 1, None);
        }
        self.by_session[session.slot()] = Some(slot);
        slot
    }

    /// The record in `slot`, if it is still the one `slot` was issued for.
    pub(super) fn get_mut(&mut self, slot: ConnSlot) -> Option<&mut Conn> {
        self.records.get_mut(slot)
    }

    /// The slot of open session `id`.
    pub(super) fn slot_of(&self, id: SessionId) -> Option<ConnSlot> {
        let slot = (*self.by_session.get(id.slot())?)?;
        let conn = self.records.get(slot)?;
        (conn.session == id && conn.life == Life::Open).then_some(slot)
    }

    /// Forgets the session-to-slot mapping of `id` (its session is closing).
    pub(super) fn unmap(&mut self, id: SessionId) {
        if let Some(mapped) = self.by_session.get_mut(id.slot()) {
            *mapped = None;
        }
    }

    /// Removes the record in `slot` (its last CQE has been reaped); the slot's generation
    /// moves on so any later CQE naming it is recognised as stale.
    pub(super) fn remove(&mut self, slot: ConnSlot) -> Option<Conn> {
        self.records.remove(slot)
    }

    /// Gives back what closed connections left (after a burst).
    pub(super) fn shrink(&mut self) {
        self.records.shrink();
        crate::driver::shrink_slots(&mut self.by_session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_round_trips() {
        let slot = ConnSlot {
            index: 0xdead_beef,
            generation: 0xcdef,
        };
        for kind in [OpKind::Recv, OpKind::Send, OpKind::CancelConn] {
            assert_eq!(decode(user_data(kind, Some(slot))), (kind, slot));
        }
        assert_eq!(decode(user_data(OpKind::Waker, None)).0, OpKind::Waker);
    }

    #[test]
    fn removed_slot_is_stale() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut table = ConnTable::default();
        let id = SessionId::new(0, 3, 1);
        let slot = table.insert(Conn::new(a.into(), id));
        assert_eq!(table.slot_of(id), Some(slot));
        assert!(table.remove(slot).is_some());
        assert!(table.get_mut(slot).is_none());
        assert_eq!(table.slot_of(id), None);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_closed_burst_leaves_no_records_behind() {
        let mut table = ConnTable::default();
        let slots: Vec<ConnSlot> = (0..100)
            .map(|i| {
                let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
                table.insert(Conn::new(a.into(), SessionId::new(0, i, 0)))
            })
            .collect();
        for (i, slot) in slots.iter().enumerate() {
            table.unmap(SessionId::new(0, i, 0));
            assert!(table.remove(*slot).is_some());
        }
        table.shrink();
        assert_eq!(table.len(), 0);
        assert_eq!(table.records.slots(), 0);
        assert!(table.by_session.is_empty());
        assert!(slots.iter().all(|&s| table.get_mut(s).is_none()));
    }

    #[test]
    fn send_record_restores_the_unsent_rest() {
        let mut queue = SendQueue::new();
        queue.push(Bytes::from_static(b"abc"));
        queue.push(Bytes::from_static(b"defg"));
        let mut op = SendOp::new();
        let msg = op.prepare(&mut queue);
        // SAFETY: `msg` points into `op`, which is alive and unmoved.
        assert_eq!(unsafe { (*msg).msg_iovlen }, 2);
        assert!(queue.is_empty());
        queue.push(Bytes::from_static(b"h"));
        op.complete(4, &mut queue);
        assert_eq!(queue.len(), 4);
        op.clear();
    }
}
