//! Sessions: one connected peer each, independent of the I/O model.
//!
//! A session is what the lecture's `struct Session` grew into: the receive buffer
//! ([`RecvBuffer`]), the send cursor (now a [`SendQueue`] of shared buffers), and a state.
//! Everything here is plain data; the drivers (`driver/epoll.rs`, `driver/uring.rs`) own the
//! sockets and move bytes between them and these buffers.

mod close_reason;
mod id;
pub(crate) mod pipeline;
mod record;
mod recv_buffer;
mod send_buffer;
mod send_queue;
mod table;
mod user_data;

pub use close_reason::{CloseReason, Violation};
pub use id::SessionId;
pub use record::{Record, Unrecorded};
pub(crate) use recv_buffer::RecvBuffer;
pub(crate) use send_buffer::SendBufferPool;
pub(crate) use send_queue::{SendQueue, MAX_IOVECS};
pub(crate) use table::SessionTable;
pub(crate) use user_data::UserData;

use std::net::SocketAddr;
use std::time::Instant;

use pipeline::Pipeline;

/// Where a session is in its life.
///
/// ```text
///   Open --(peer EOF / Context::close)--> Closing --(queue flushed)--> Lingering --(peer EOF)--> closed
///                                                  \--(peer EOF seen already)--> closed
///     |--(slow consumer, recv buffer full, a stage's abort)--> Aborting --(driver)--> closed
///     \--------------(socket error, reset)-----------------------------------------> closed
/// ```
///
/// A connection prelude (a PROXY header, a TLS handshake, a WebSocket upgrade) is not a
/// state: the session is `Open`, its pipeline is not ready yet, and the handler has not been
/// told of it (`Session::introduced`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionState {
    /// Reading and writing.
    Open,
    /// No more reads are delivered (input is read and discarded); queued bytes are flushed,
    /// then the session lingers (or, if the peer already finished, closes) with `reason`.
    Closing { reason: CloseReason },
    /// Everything was handed to the kernel and our side is shut down (`shutdown(SHUT_WR)`, a
    /// FIN behind the data); input is read and discarded until the peer's EOF (then the
    /// session closes with `reason`) or `ServiceConfig::lingering_time`. Closing a socket
    /// that still has unread input makes Linux send a reset, which throws away what is still
    /// in its send buffer: lingering is what makes a graceful close lose nothing.
    Lingering { reason: CloseReason },
    /// The driver closes the session at its next chance, dropping anything queued.
    Aborting { reason: CloseReason },
}

/// How a session's bytes are carried: as they are, or through its transport stages.
#[derive(Debug, Default)]
pub(crate) enum Transport {
    /// No stage: the handler's bytes are the socket's (and direct replies are possible).
    #[default]
    Raw,
    /// Through these stages (PROXY header, WebSocket, TLS).
    Staged(Box<Pipeline>),
    /// The stages are taken out while the session's own input runs through them; what the
    /// handler sends meanwhile waits in `Session::unframed` and is framed right after.
    Busy,
}

/// One connected peer, as the session layer sees it.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: SessionId,
    pub(crate) peer: SocketAddr,
    pub(crate) state: SessionState,
    pub(crate) recv: RecvBuffer,
    pub(crate) send: SendQueue,
    /// Reading is paused because the send queue is above `send_queue_pause` (backpressure:
    /// a peer that does not read its echoes stops being read).
    pub(crate) read_paused: bool,
    /// The session is on the loop's to-flush list.
    pub(crate) flush_scheduled: bool,
    /// The session's direct reply: its range in the loop's reply buffer, the head of its
    /// output (`loop_core/reply.rs`).
    pub(crate) reply: Option<std::ops::Range<usize>>,
    /// When the last byte arrived (the loop's cached clock: no syscall per read).
    pub(crate) last_recv: Instant,
    /// Since when unconsumed bytes (a partial message) have been held, if any.
    pub(crate) partial_since: Option<Instant>,
    /// Counted by the session caps (accepted, not adopted): released on close.
    pub(crate) admitted: bool,
    /// What the driver was last told: reading this session's socket is allowed.
    pub(crate) reading: bool,
    /// The last this many bytes of `recv` arrived while reading was paused and the handler
    /// has not been shown them yet (a completion driver may finish receives after the pause).
    pub(crate) held_unseen: usize,
    /// The peer's EOF arrived behind held bytes: reported once they have been shown.
    pub(crate) eof_held: bool,
    /// The service is stopping while bytes already read are held unseen: the session reads
    /// nothing new, shows the handler what it holds (as the queue drains), then closes
    /// gracefully with this reason. Input read into the process is answered, not dropped.
    pub(crate) close_after_held: Option<CloseReason>,
    /// What the application keeps on the session ([`Context::data`](crate::Context::data)).
    pub(crate) data: UserData,
    /// The handler was told of the session (`connected`), so it is told of its end.
    pub(crate) introduced: bool,
    /// The address the connection really came from (a load balancer), when `peer` is the
    /// client a PROXY header named.
    pub(crate) proxy: Option<SocketAddr>,
    /// The peer's EOF arrived: nothing is left to read, so no lingering is needed.
    pub(crate) peer_eof: bool,
    /// When the session began closing (seen by the sweep), to bound flushing and lingering.
    pub(crate) closing_since: Option<Instant>,
    /// Bytes read and thrown away while closing.
    pub(crate) discarded: usize,
    /// The transport stages between the socket and the handler, if any.
    pub(crate) transport: Transport,
    /// Messages sent while the stages were busy with the session's input, to be framed.
    pub(crate) unframed: Vec<bytes::Bytes>,
    /// When the session was opened (a prelude's deadline runs from it).
    pub(crate) opened_at: Instant,
    /// What was queued for the peer and it has not acknowledged ([`Context::record`]).
    ///
    /// [`Context::record`]: crate::Context::record
    pub(crate) record: Option<Box<Record>>,
}

impl Session {
    pub(crate) fn new(id: SessionId, peer: SocketAddr, recv_limit: usize, now: Instant) -> Session {
        Session {
            id,
            peer,
            state: SessionState::Open,
            recv: RecvBuffer::new(recv_limit),
            send: SendQueue::new(),
            read_paused: false,
            flush_scheduled: false,
            reply: None,
            last_recv: now,
            partial_since: None,
            admitted: false,
            reading: true,
            held_unseen: 0,
            eof_held: false,
            close_after_held: None,
            data: UserData::default(),
            introduced: false,
            proxy: None,
            peer_eof: false,
            closing_since: None,
            discarded: 0,
            transport: Transport::Raw,
            unframed: Vec::new(),
            opened_at: now,
            record: None,
        }
    }

    /// Queues `buf` for the peer through the session's transport stages, if it has any (as
    /// is without; framed after the session's own input while its stages are busy with it).
    pub(crate) fn queue(&mut self, buf: bytes::Bytes, pool: &mut SendBufferPool) {
        if let Some(record) = &mut self.record {
            record.push(buf.clone()); // past its limit it empties itself: the handler sees it
        }
        match &mut self.transport {
            Transport::Raw => self.send.push(buf),
            Transport::Staged(pipeline) => {
                for framed in pipeline.output(buf, pool).drain(..) {
                    self.send.push(framed);
                }
            }
            Transport::Busy => self.unframed.push(buf),
        }
    }

    /// True while the application may still queue data for the peer: when open, and after a
    /// half-close by the peer (it may still read what it is owed).
    pub(crate) fn accepts_sends(&self) -> bool {
        matches!(
            self.state,
            SessionState::Open
                | SessionState::Closing {
                    reason: CloseReason::PeerClosed
                }
        )
    }
}
