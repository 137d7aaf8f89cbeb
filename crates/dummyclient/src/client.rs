//! [`Client`]: one load client as a loop sees it — its verifier ([`Role`]), whether it is ready
//! and open, its open-loop schedule, its seat (`--resume`), and what one packet from the
//! server was for it ([`Received`]).

use std::net::SocketAddr;

use bytes::Bytes;
use game_protocol::ids::{PLAYER_AWAY, PLAYER_BACK};
use servercore::packet::Packet;
use servercore::{Context, SessionId};

use crate::chat::{ChatEvent, Member};
use crate::message::ClientStream;
use crate::resume::{Link, ResumeState, SeatEvent};
use crate::resume_stats::ResumeStats;
use crate::stats::{Stats, Verdict};
use crate::wire::{Farewell, Wire, CHAT, ECHO, HELLO_OK};

/// What one packet from the server was, for the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Received {
    /// A message (echo or broadcast), verified and counted.
    Message,
    /// This client's `ROOM_JOINED`: it is ready.
    Joined,
    /// `SERVER_FULL`, `RATE_LIMITED`, `UNAUTHENTICATED`, `SESSION_REPLACED`: the server
    /// closes the client, and said why.
    Farewell(Farewell),
    /// `HELLO_OK` (`--auth-secret`): signed in; not a message.
    SignedIn,
    /// `PLAYER_AWAY`, `PLAYER_BACK`: news of another member; not a message.
    Notice,
    /// `--resume`: a resume packet (SEAT, ACK, RESUMED, SEAT_LOST), or one that broke it.
    Seat(SeatEvent),
}

/// A client's verifier, by scenario.
#[derive(Debug)]
pub(crate) enum Role {
    /// Echo: its own stream comes back.
    Echo(ClientStream),
    /// Chat: a room member.
    Chat(Member),
}

/// One client: its verifier, whether it is ready and open, and its open-loop schedule.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) role: Role,
    /// Position in the run-wide send schedule (its client id).
    pub(crate) index: u64,
    /// Open loop: scheduled sends already made or skipped.
    pub(crate) scheduled: u64,
    pub(crate) ready: bool,
    pub(crate) open: bool,
    /// What the server said before closing the client, if it did.
    pub(crate) farewell: Option<Farewell>,
    /// `--resume`: the seat.
    pub(crate) seat: Option<ResumeState>,
    /// The server it is connected to (where a resume reconnects).
    pub(crate) server: Option<SocketAddr>,
    /// `--resume`: when the last RESUME went out; a verified message stamped before it and
    /// received after its RESUMED was replayed.
    pub(crate) replay_before: Option<u64>,
}

impl Client {
    pub(crate) fn id(&self) -> u32 {
        self.index as u32
    }

    /// The client's id, as an index into the run's per-client tables.
    pub(crate) fn index(&self) -> usize {
        self.index as usize
    }

    /// Own messages sent and not yet received back (echo: echoed; chat: broadcast to it).
    pub(crate) fn outstanding(&self) -> usize {
        match &self.role {
            Role::Echo(stream) => stream.outstanding(),
            Role::Chat(member) => member.outstanding(),
        }
    }

    pub(crate) fn sent(&self) -> u64 {
        match &self.role {
            Role::Echo(stream) => stream.sent(),
            Role::Chat(member) => member.sent(),
        }
    }

    /// (owed, received once) for the drain. A closed echo client is owed nothing more; a
    /// closed chat member still counts, since its chats are owed to the others.
    pub(crate) fn drain_counts(&self) -> (u64, u64) {
        match &self.role {
            Role::Echo(_) if !self.open => (0, 0),
            Role::Echo(stream) => (stream.sent(), stream.sent() - stream.outstanding() as u64),
            Role::Chat(member) => (member.owed(), member.received()),
        }
    }

    /// Messages owed to this client and never received, given every client's sends by id.
    pub(crate) fn lost(&self, sent: &[u64]) -> u64 {
        match &self.role {
            Role::Echo(stream) => stream.outstanding() as u64,
            Role::Chat(member) => member.lost(sent),
        }
    }

    /// Appends the next message, framed, stamped `now`.
    pub(crate) fn write_next(&mut self, wire: &Wire, out: &mut bytes::BytesMut, now: u64) {
        match &mut self.role {
            Role::Echo(stream) => wire.frame(out, ECHO, |out| stream.write_next(out, now)),
            Role::Chat(member) => wire.frame(out, CHAT, |out| member.write_next(out, now)),
        }
    }

    /// Puts `buf` (whole numbered packets) on session `id`, kept by the seat (`--resume`)
    /// until the server has it; while the seat is away or resuming it is only kept.
    pub(crate) fn put(&mut self, ctx: &mut Context<'_>, id: SessionId, buf: Bytes) {
        let on_wire = match &mut self.seat {
            // Err: past the seat's buffer, not kept (settled as a lost seat at the drop or the end).
            Some(seat) => matches!(seat.on_sent(buf.clone()), Ok(true) | Err(true)),
            None => true,
        };
        if on_wire {
            if let Err(err) = ctx.send(id, buf) {
                tracing::debug!(session = %id, "send: {err}");
            }
        }
    }

    /// A client that never got back from the pool: its seat counted lost (given up, or
    /// still away when the run ended).
    pub(crate) fn settle_away(&self, stats: &mut ResumeStats) {
        match self.seat.as_ref().map(ResumeState::link) {
            Some(Link::Lost) => stats.lose_seat("unreachable"),
            _ => stats.lose_seat("unresumed"),
        }
    }

    /// No new connection could be made: the seat is lost. True if the client was not
    /// ready yet (the barrier must stop waiting for it).
    pub(crate) fn give_up(&mut self) -> bool {
        if let Some(seat) = &mut self.seat {
            seat.give_up();
        }
        !std::mem::replace(&mut self.ready, true)
    }

    /// Handles one received packet; a message is verified into `stats`.
    pub(crate) fn receive(
        &mut self,
        packet: Packet<'_>,
        now: u64,
        stats: &mut Stats,
        size: usize,
    ) -> Received {
        if let Some(seat) = &mut self.seat {
            match seat.on_packet(packet.id, packet.body, now) {
                SeatEvent::Other => {}
                event => return Received::Seat(event),
            }
        }
        if let Some(farewell) = Farewell::of(&packet) {
            return Received::Farewell(farewell);
        }
        if packet.id == HELLO_OK {
            return Received::SignedIn;
        }
        if matches!(packet.id, PLAYER_AWAY | PLAYER_BACK) {
            return Received::Notice;
        }
        let verdict = match &mut self.role {
            Role::Echo(stream) if packet.id == ECHO => stream.verify(packet.body, now),
            Role::Echo(_) => Verdict::Corrupt,
            Role::Chat(member) => match member.receive(packet, now) {
                ChatEvent::Joined => return Received::Joined,
                ChatEvent::Message(verdict) => verdict,
            },
        };
        if let (
            Some(before),
            Verdict::InOrder { latency_nanos } | Verdict::OutOfOrder { latency_nanos },
        ) = (self.replay_before, verdict)
        {
            if now.saturating_sub(latency_nanos) < before {
                stats.resume.replayed += 1;
                stats.resume.replayed_bytes += size as u64;
            }
        }
        stats.record(verdict, size);
        Received::Message
    }
}
