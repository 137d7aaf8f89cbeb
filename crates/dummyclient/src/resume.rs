//! [`ResumeState`]: one load client's side of a held seat (`--resume`, docs/protocol.md
//! "Resume: a held seat"), with no I/O: packets and the time go in, what to send comes out.
//!
//! ```text
//!   Asking ──SEAT──> Live ──drop──> Away ──RESUME sent──> Resuming ──RESUMED──> Live
//!     │                │                                     │
//!     └──SEAT_LOST─────┴──────────SEAT_LOST──────────────────┴──────────────> Lost
//! ```
//!
//! Both directions are numbered in bytes modulo 2^32 ([`Position`]):
//!
//! ```text
//!   what the client sent (numbered from SEAT_ASK on):
//!       acknowledged by the server | kept: sent, not yet acknowledged | (next)
//!       ^ forgotten                  ^ kept.front                       ^ sent
//!   what the client received (numbered from SEAT on):
//!       ACKed | received since the last ACK
//!               ^ acked                    ^ received
//! ```
//!
//! - Every numbered packet the client writes goes through [`ResumeState::on_sent`], which
//!   keeps it until the server's ACK (or RESUMED) covers it, at most the SEAT's `buffer`
//!   bytes (past it the state overflows: an error, and the seat cannot be resumed). While
//!   the connection is down, or the RESUME is not answered yet, a packet is only kept: it
//!   goes out with the resend.
//! - Every packet from the server goes first through [`ResumeState::on_packet`]: the resume
//!   packets are handled here, any other is left to the scenario; each is counted (after
//!   SEAT) unless it is SEAT, RESUMED or SEAT_LOST. The server's ACKs are counted too (they
//!   travel in its stream and may come again in a replay: one older than what the client
//!   still keeps is harmless and ignored).
//! - [`ResumeState::ack_due`] says when to acknowledge: once `buffer / 4` bytes are
//!   unacknowledged, or [`ACK_DELAY`] after the first unacknowledged byte arrived (the
//!   protocol asks for within a second).
//! - RESUMED names how much of the client's stream the server had: what follows is sent
//!   again (and counts again from there), and the incoming count goes on from the RESUME's
//!   `received`.

use std::collections::VecDeque;
use std::fmt;

use bytes::Bytes;
use game_protocol::ids::{ACK, RESUMED, SEAT, SEAT_LOST};
use game_protocol::resume::Ticket;
use game_protocol::resume::{counts_to_client, parse_ack, parse_resumed, Position, Resume, Seat};
use servercore::packet::{PacketHeader, HEADER_LEN};

/// Longest a received byte waits for its ACK (the protocol asks for within a second).
pub const ACK_DELAY_NANOS: u64 = 100_000_000;

/// [`ACK_DELAY_NANOS`] as a duration, for the docs.
pub const ACK_DELAY: std::time::Duration = std::time::Duration::from_nanos(ACK_DELAY_NANOS);

/// Connections in a row that may end before their RESUME is answered; the next such end
/// loses the seat (a server that keeps closing resumed connections is not retried forever).
pub const MAX_ATTEMPTS: u32 = 5;

/// How much of its own stream a client keeps before the SEAT names the server's buffer (the
/// server's default `--resume-buffer`).
pub const DEFAULT_BUFFER: u32 = 256 * 1024;

/// Where a seat is (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// SEAT_ASK sent, SEAT not here yet: the server's packets are not numbered yet.
    Asking,
    /// Seated on a live connection: both directions numbered.
    Live,
    /// The connection dropped at `since` (nanoseconds on the run's clock); no RESUME sent yet.
    Away {
        /// When the connection dropped.
        since: u64,
    },
    /// RESUME sent at `asked` on a new connection; RESUMED not here yet.
    Resuming {
        /// When the connection dropped.
        since: u64,
        /// When the RESUME went out.
        asked: u64,
    },
    /// No seat any more (SEAT_LOST, or it could not be resumed).
    Lost,
}

/// What the server's resume packets broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumeError {
    /// A resume packet that cannot come now (SEAT twice, RESUMED without a RESUME, ...).
    Unexpected {
        /// The packet id.
        id: u16,
        /// Where the seat was.
        link: Link,
    },
    /// A resume packet whose body does not parse.
    Malformed {
        /// The packet id.
        id: u16,
    },
    /// An ACK or RESUMED position outside what the client sent and the server had not
    /// acknowledged, or not on a packet boundary.
    OutOfRange {
        /// The packet id.
        id: u16,
        /// The position it named.
        position: u32,
        /// The first byte the client still keeps.
        front: u32,
        /// The end of what the client sent.
        sent: u32,
    },
}

impl fmt::Display for ResumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResumeError::Unexpected { id, link } => {
                write!(f, "packet {id} cannot come when the seat is {link:?}")
            }
            ResumeError::Malformed { id } => write!(f, "packet {id} has a malformed body"),
            ResumeError::OutOfRange {
                id,
                position,
                front,
                sent,
            } => write!(
                f,
                "packet {id} names position {position}, outside the kept {front} ..= {sent} \
                 or not at a packet boundary"
            ),
        }
    }
}

/// What one packet from the server was, to the seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatEvent {
    /// Not a resume packet: the scenario's (counted if numbered).
    Other,
    /// SEAT: the seat is held from now on.
    Seated,
    /// ACK: the server had this much; what it covers is forgotten.
    Acked,
    /// RESUMED: the seat is back; send `resend` (in order) before anything new.
    Resumed(Resend),
    /// SEAT_LOST: the seat is gone, for this reason (the server's text).
    Lost(String),
    /// A resume packet the seat could not take.
    Error(ResumeError),
}

/// What RESUMED asks the client to send again, and what the resume cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resend {
    /// The client's packets after what the server had, in order (whole packets).
    pub chunks: Vec<Bytes>,
    /// Packets in `chunks`.
    pub packets: u64,
    /// Bytes in `chunks`.
    pub bytes: u64,
    /// Nanoseconds from the drop to RESUMED.
    pub latency_nanos: u64,
}

/// The client's own numbered stream, kept from the first unacknowledged byte on.
#[derive(Debug, Clone, Default)]
struct Kept {
    /// Position of the first kept byte.
    front: Position,
    chunks: VecDeque<Bytes>,
    bytes: usize,
}

impl Kept {
    fn push(&mut self, chunk: Bytes) {
        self.bytes += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// Forgets everything before `to` (which is within what is kept).
    fn forget_to(&mut self, to: Position) {
        let mut drop = to.since(self.front).unwrap_or(0).min(self.bytes);
        self.front = to;
        self.bytes -= drop;
        while drop > 0 {
            let first = self.chunks.front_mut().expect("bytes counts the chunks");
            if first.len() <= drop {
                drop -= first.len();
                self.chunks.pop_front();
            } else {
                *first = first.slice(drop..);
                drop = 0;
            }
        }
    }

    /// True if `at` is the start of a kept packet, or the end of what is kept.
    fn is_boundary(&self, at: Position) -> bool {
        let Some(offset) = at.since(self.front) else {
            return false;
        };
        let mut walked = 0;
        for chunk in &self.chunks {
            let mut rest = &chunk[..];
            while !rest.is_empty() {
                if offset == walked {
                    return true;
                }
                let Some(header) = PacketHeader::decode(rest) else {
                    return false;
                };
                let size = usize::from(header.size).clamp(HEADER_LEN, rest.len());
                rest = &rest[size..];
                walked += size;
                if walked > offset {
                    return false;
                }
            }
        }
        offset == walked
    }
}

/// Packets in `chunks` (whole packets, back to back).
fn count_packets(chunks: &[Bytes]) -> u64 {
    let mut packets = 0;
    for chunk in chunks {
        let mut rest = &chunk[..];
        while let Some(header) = PacketHeader::decode(rest) {
            packets += 1;
            rest = &rest[usize::from(header.size).clamp(HEADER_LEN, rest.len())..];
        }
    }
    packets
}

/// One client's seat: its ticket, both stream positions, its unacknowledged packets and the
/// ACK policy (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct ResumeState {
    player: String,
    link: Link,
    ticket: Option<Ticket>,
    /// Most bytes kept (the SEAT's buffer).
    buffer: u32,
    /// Numbered bytes received from the server.
    received: Position,
    /// The last position acknowledged to the server.
    acked: Position,
    /// When the first byte after `acked` arrived.
    unacked_since: Option<u64>,
    /// End of the client's numbered stream.
    sent: Position,
    kept: Kept,
    /// A packet did not fit the buffer: the seat cannot be resumed any more.
    overflowed: bool,
    /// RESUMEs sent since the last RESUMED.
    attempts: u32,
}

impl ResumeState {
    /// The seat of `player`, asked for: SEAT_ASK is on its way.
    pub fn new(player: impl Into<String>) -> ResumeState {
        ResumeState {
            player: player.into(),
            link: Link::Asking,
            ticket: None,
            buffer: DEFAULT_BUFFER,
            received: Position::default(),
            acked: Position::default(),
            unacked_since: None,
            sent: Position::default(),
            kept: Kept::default(),
            overflowed: false,
            attempts: 0,
        }
    }

    /// As [`ResumeState::new`], with both streams starting at `start` (for tests of
    /// wrap-around).
    pub fn starting_at(player: impl Into<String>, start: Position) -> ResumeState {
        let mut state = ResumeState::new(player);
        (state.received, state.acked, state.sent) = (start, start, start);
        state.kept.front = start;
        state
    }

    /// Where the seat is.
    pub fn link(&self) -> Link {
        self.link
    }

    /// The player.
    pub fn player(&self) -> &str {
        &self.player
    }

    /// Numbered bytes received.
    pub fn received(&self) -> Position {
        self.received
    }

    /// End of the client's numbered stream.
    pub fn sent(&self) -> Position {
        self.sent
    }

    /// Bytes kept for a resend.
    pub fn kept_bytes(&self) -> usize {
        self.kept.bytes
    }

    /// True once a packet did not fit the buffer (counted once, by the caller, when
    /// [`ResumeState::on_sent`] first returns `Err`).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// True if packets go on the wire now (else they are only kept, for the resend).
    pub fn on_wire(&self) -> bool {
        matches!(self.link, Link::Asking | Link::Live | Link::Lost)
    }

    /// Keeps a numbered chunk (whole packets) the client writes; `Ok(true)` if it goes on the
    /// wire now, `Ok(false)` if only kept (the connection is down or resuming).
    ///
    /// # Errors
    /// The chunk does not fit the buffer (the first time only): it is not kept, the seat
    /// cannot be resumed any more; it still goes out if the connection is live.
    pub fn on_sent(&mut self, chunk: Bytes) -> Result<bool, bool> {
        let on_wire = self.on_wire();
        if self.link == Link::Lost {
            return Ok(true);
        }
        self.sent = self.sent.after(chunk.len());
        if self.overflowed {
            return Ok(on_wire);
        }
        if self.kept.bytes + chunk.len() > self.buffer as usize {
            self.overflowed = true;
            self.kept = Kept {
                front: self.sent,
                ..Kept::default()
            };
            return Err(on_wire);
        }
        self.kept.push(chunk);
        Ok(on_wire)
    }

    /// Handles one packet from the server (`id`, `body`) at `now` (nanoseconds).
    pub fn on_packet(&mut self, id: u16, body: &[u8], now: u64) -> SeatEvent {
        if counts_to_client(id) && self.link == Link::Live {
            self.received = self.received.after(HEADER_LEN + body.len());
            self.unacked_since.get_or_insert(now);
        }
        match id {
            SEAT => self.on_seat(body),
            ACK => self.on_ack(body),
            RESUMED => self.on_resumed(body, now),
            SEAT_LOST => {
                self.lose();
                SeatEvent::Lost(String::from_utf8_lossy(body).into_owned())
            }
            _ => SeatEvent::Other,
        }
    }

    fn on_seat(&mut self, body: &[u8]) -> SeatEvent {
        if self.link != Link::Asking {
            return self.unexpected(SEAT);
        }
        let Some(seat) = Seat::parse(body) else {
            return SeatEvent::Error(ResumeError::Malformed { id: SEAT });
        };
        self.ticket = Some(seat.ticket);
        self.buffer = seat.buffer;
        self.link = Link::Live;
        SeatEvent::Seated
    }

    fn on_ack(&mut self, body: &[u8]) -> SeatEvent {
        if !matches!(self.link, Link::Live) {
            return self.unexpected(ACK);
        }
        let Some(position) = parse_ack(body) else {
            return SeatEvent::Error(ResumeError::Malformed { id: ACK });
        };
        if position != self.kept.front && self.kept.front.since(position).is_some() {
            return SeatEvent::Acked; // an older ACK (replayed): already covered
        }
        match self.forget_to(ACK, position) {
            Ok(()) => SeatEvent::Acked,
            Err(err) => SeatEvent::Error(err),
        }
    }

    fn on_resumed(&mut self, body: &[u8], now: u64) -> SeatEvent {
        let Link::Resuming { since, .. } = self.link else {
            return self.unexpected(RESUMED);
        };
        let Some((ticket, position)) = parse_resumed(body) else {
            return SeatEvent::Error(ResumeError::Malformed { id: RESUMED });
        };
        if let Err(err) = self.forget_to(RESUMED, position) {
            return SeatEvent::Error(err);
        }
        self.ticket = Some(ticket);
        self.link = Link::Live;
        self.attempts = 0;
        // The RESUME told the server what was received: that is acknowledged.
        self.acked = self.received;
        self.unacked_since = None;
        let chunks: Vec<Bytes> = self.kept.chunks.iter().cloned().collect();
        SeatEvent::Resumed(Resend {
            packets: count_packets(&chunks),
            bytes: self.kept.bytes as u64,
            chunks,
            latency_nanos: now.saturating_sub(since),
        })
    }

    /// The server had everything before `position`: forget it.
    fn forget_to(&mut self, id: u16, position: Position) -> Result<(), ResumeError> {
        let within =
            position.since(self.kept.front).is_some() && self.sent.since(position).is_some();
        if !within || (!self.overflowed && !self.kept.is_boundary(position)) {
            return Err(ResumeError::OutOfRange {
                id,
                position: position.0,
                front: self.kept.front.0,
                sent: self.sent.0,
            });
        }
        self.kept.forget_to(position);
        Ok(())
    }

    fn unexpected(&self, id: u16) -> SeatEvent {
        SeatEvent::Error(ResumeError::Unexpected {
            id,
            link: self.link,
        })
    }

    fn lose(&mut self) {
        self.link = Link::Lost;
        self.ticket = None;
        self.kept = Kept::default();
    }

    /// The position to acknowledge at `now`, if an ACK is due: `buffer / 4` bytes are
    /// unacknowledged, or the oldest has waited [`ACK_DELAY`]. It counts as sent.
    pub fn ack_due(&mut self, now: u64) -> Option<Position> {
        if self.link != Link::Live || self.received == self.acked {
            return None;
        }
        let unacked = self.received.since(self.acked).unwrap_or(0);
        let waited = self
            .unacked_since
            .is_some_and(|since| now.saturating_sub(since) >= ACK_DELAY_NANOS);
        if unacked >= (self.buffer / 4).max(1) as usize || waited {
            self.acked = self.received;
            self.unacked_since = None;
            return Some(self.received);
        }
        None
    }

    /// The connection dropped at `now`: true if the seat can be resumed (it is live or
    /// resuming, nothing overflowed, fewer than [`MAX_ATTEMPTS`] RESUMEs went unanswered).
    /// A seat that cannot is lost.
    pub fn on_drop(&mut self, now: u64) -> bool {
        match self.link {
            Link::Live | Link::Resuming { .. }
                if !self.overflowed && self.attempts < MAX_ATTEMPTS =>
            {
                let since = match self.link {
                    Link::Resuming { since, .. } => since,
                    _ => now,
                };
                self.link = Link::Away { since };
                true
            }
            Link::Away { .. } => true,
            Link::Asking | Link::Live | Link::Resuming { .. } | Link::Lost => {
                self.lose();
                false
            }
        }
    }

    /// The RESUME for a new connection, sent at `now`; `None` unless the seat is away.
    pub fn resume(&mut self, now: u64) -> Option<Resume> {
        let (Link::Away { since }, Some(ticket)) = (self.link, self.ticket) else {
            return None;
        };
        self.link = Link::Resuming { since, asked: now };
        self.attempts += 1;
        Some(Resume {
            player: self.player.clone(),
            ticket,
            received: self.received,
        })
    }

    /// The seat cannot be resumed (no connection could be made, or the connection broke
    /// the protocol): it is lost.
    pub fn give_up(&mut self) {
        self.lose();
    }

    /// True if the last drop lost the seat because [`MAX_ATTEMPTS`] RESUMEs in a row went
    /// unanswered.
    pub fn out_of_attempts(&self) -> bool {
        self.attempts >= MAX_ATTEMPTS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use game_protocol::ids::CHAT_BROADCAST;
    use game_protocol::resume::{ack, resumed, TICKET_LEN};
    use servercore::packet::encode;

    fn test_ticket(byte: u8) -> Ticket {
        Ticket([byte; TICKET_LEN])
    }

    fn seat(buffer: u32) -> Vec<u8> {
        Seat {
            ticket: test_ticket(1),
            window_s: 30,
            buffer,
        }
        .encode()
    }

    fn chat(len: usize) -> Bytes {
        encode(game_protocol::ids::CHAT, &vec![7; len - HEADER_LEN]).unwrap()
    }

    fn seated(buffer: u32) -> ResumeState {
        let mut s = ResumeState::new("dummy-1");
        assert_eq!(s.on_packet(SEAT, &seat(buffer), 0), SeatEvent::Seated);
        s
    }

    #[test]
    fn numbering_counts_whole_packets_after_seat_but_not_resume_packets() {
        let mut s = ResumeState::new("dummy-1");
        s.on_packet(game_protocol::ids::HELLO_OK, b"dummy-1", 0);
        assert_eq!(s.received(), Position(0), "before SEAT nothing counts");
        s.on_packet(SEAT, &seat(1 << 16), 0);
        s.on_packet(CHAT_BROADCAST, &[0; 20], 1);
        assert_eq!(s.received(), Position(24));
        s.on_packet(ACK, &ack(Position(0)), 2);
        assert_eq!(s.received(), Position(32), "the server's ACK is numbered");
        s.on_packet(RESUMED, &[], 2);
        assert_eq!(s.received(), Position(32), "RESUMED is not");
        assert_eq!(s.on_sent(chat(10)), Ok(true));
        assert_eq!(s.sent(), Position(10));
    }

    #[test]
    fn acks_forget_what_they_cover_and_refuse_what_was_never_sent() {
        let mut s = seated(1 << 16);
        for _ in 0..3 {
            s.on_sent(chat(10)).unwrap();
        }
        assert_eq!(s.on_packet(ACK, &ack(Position(10)), 0), SeatEvent::Acked);
        assert_eq!(s.kept_bytes(), 20);
        assert!(
            matches!(
                s.on_packet(ACK, &ack(Position(15)), 0),
                SeatEvent::Error(ResumeError::OutOfRange { .. })
            ),
            "inside a packet"
        );
        assert!(
            matches!(
                s.on_packet(ACK, &ack(Position(40)), 0),
                SeatEvent::Error(ResumeError::OutOfRange { .. })
            ),
            "beyond what was sent"
        );
        assert_eq!(
            s.on_packet(ACK, &ack(Position(0)), 0),
            SeatEvent::Acked,
            "an old ACK (replayed) is harmless"
        );
        assert_eq!(s.kept_bytes(), 20);
        assert_eq!(s.on_packet(ACK, &ack(Position(30)), 0), SeatEvent::Acked);
        assert_eq!(s.kept_bytes(), 0);
    }

    #[test]
    fn a_resume_resends_what_the_server_did_not_have_and_keeps_the_new_ticket() {
        let mut s = seated(1 << 16);
        s.on_sent(chat(10)).unwrap();
        s.on_sent(chat(12)).unwrap();
        s.on_packet(CHAT_BROADCAST, &[0; 36], 5); // 40 numbered bytes in
        assert!(s.on_drop(100));
        assert_eq!(s.on_sent(chat(14)), Ok(false), "kept, not on the wire");
        let resume = s.resume(150).unwrap();
        assert_eq!(
            (resume.player.as_str(), resume.received),
            ("dummy-1", Position(40))
        );
        assert_eq!(resume.ticket, test_ticket(1));
        assert_eq!(s.on_sent(chat(16)), Ok(false), "held until RESUMED");
        let event = s.on_packet(RESUMED, &resumed(&test_ticket(2), Position(10)), 400);
        let SeatEvent::Resumed(resend) = event else {
            panic!("{event:?}")
        };
        assert_eq!((resend.packets, resend.bytes), (3, 12 + 14 + 16));
        assert_eq!(resend.latency_nanos, 300, "from the drop");
        assert_eq!(s.link(), Link::Live);
        assert_eq!(s.ack_due(400), None, "the RESUME acknowledged 40");
        assert!(s.on_drop(500));
        assert_eq!(
            s.resume(500).unwrap().ticket,
            test_ticket(2),
            "the newer ticket"
        );
    }

    #[test]
    fn positions_wrap_around_2_pow_32() {
        let start = Position(u32::MAX - 14);
        let mut s = ResumeState::starting_at("dummy-1", start);
        s.on_packet(SEAT, &seat(1 << 16), 0);
        for _ in 0..3 {
            s.on_sent(chat(10)).unwrap();
        }
        assert_eq!(s.sent(), Position(15));
        assert_eq!(s.on_packet(ACK, &ack(start.after(20)), 0), SeatEvent::Acked);
        assert_eq!(s.kept_bytes(), 10);
        s.on_packet(CHAT_BROADCAST, &[0; 26], 0);
        assert_eq!(
            s.received(),
            Position(23),
            "the ACK's 8 bytes and the broadcast's 30"
        );
        s.on_drop(1);
        s.resume(2);
        let SeatEvent::Resumed(resend) =
            s.on_packet(RESUMED, &resumed(&test_ticket(3), Position(5)), 3)
        else {
            panic!("resumed")
        };
        assert_eq!(resend.bytes, 10);
    }

    #[test]
    fn acks_go_at_a_quarter_of_the_buffer_or_after_the_delay() {
        let mut s = seated(400);
        s.on_packet(CHAT_BROADCAST, &[0; 46], 1_000); // 50 bytes
        assert_eq!(s.ack_due(1_000), None);
        s.on_packet(CHAT_BROADCAST, &[0; 46], 2_000); // 100 = 400 / 4
        assert_eq!(s.ack_due(2_000), Some(Position(100)));
        assert_eq!(s.ack_due(2_000), None, "nothing new");
        s.on_packet(CHAT_BROADCAST, &[0; 6], 10_000);
        assert_eq!(s.ack_due(10_000 + ACK_DELAY_NANOS - 1), None);
        assert_eq!(s.ack_due(10_000 + ACK_DELAY_NANOS), Some(Position(110)));
    }

    #[test]
    fn what_is_kept_is_bounded_by_the_seats_buffer() {
        let mut s = seated(25);
        s.on_sent(chat(10)).unwrap();
        s.on_sent(chat(10)).unwrap();
        assert_eq!(
            s.on_sent(chat(10)),
            Err(true),
            "30 > 25: overflow, still sent"
        );
        assert!(s.overflowed());
        assert_eq!(s.kept_bytes(), 0);
        assert_eq!(s.on_sent(chat(10)), Ok(true), "counted once");
        assert!(!s.on_drop(5), "an overflowed seat cannot be resumed");
        assert_eq!(s.link(), Link::Lost);
    }

    #[test]
    fn unexpected_and_lost_seats() {
        let mut s = ResumeState::new("p");
        assert!(matches!(
            s.on_packet(RESUMED, &resumed(&test_ticket(1), Position(0)), 0),
            SeatEvent::Error(ResumeError::Unexpected { .. })
        ));
        assert_eq!(
            s.on_packet(SEAT, b"short", 0),
            SeatEvent::Error(ResumeError::Malformed { id: SEAT })
        );
        assert!(!s.clone().on_drop(0), "no seat yet: nothing to resume");
        assert_eq!(
            s.on_packet(SEAT_LOST, b"off", 0),
            SeatEvent::Lost("off".into())
        );
        assert_eq!(s.resume(0), None);
        assert_eq!(s.on_sent(chat(10)), Ok(true), "no seat: sent, not kept");
        assert_eq!(s.kept_bytes(), 0);
    }

    #[test]
    fn resumes_that_keep_failing_lose_the_seat() {
        let mut s = seated(1 << 16);
        for attempt in 0..MAX_ATTEMPTS {
            assert!(s.on_drop(u64::from(attempt)), "attempt {attempt}");
            assert!(s.resume(u64::from(attempt)).is_some());
        }
        assert!(s.out_of_attempts());
        assert!(!s.on_drop(99));
        assert_eq!(s.link(), Link::Lost);
    }
}
