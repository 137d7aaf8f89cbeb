//! The chat scenario: the chat body, which client is in which room ([`RoomPlan`]), and the
//! verifier each room member runs over the broadcasts it receives ([`Member`]).
//!
//! Every chat is a `CHAT` packet whose body is `size` bytes:
//!
//! ```text
//!   offset  0        4        8                  16            size
//!           +--------+--------+------------------+--- ... -----+
//!           | sender | seq    | sent_nanos       | pattern     |
//!           | u32 LE | u32 LE | u64 LE           | bytes       |
//!           +--------+--------+------------------+--- ... -----+
//! ```
//!
//! - `sender`: the sending client's id; `seq`: its chats numbered 0, 1, 2, ...
//! - `sent_nanos`: when it was queued, in nanoseconds since the run's base `Instant` (one base
//!   for every loop, so a member on another loop can take the fan-out latency).
//! - pattern: [`crate::pattern`], seeded from the three fields and the body length; at least
//!   [`MIN_CHAT_SIZE`] bytes in all, so a changed header field is caught too.
//!
//! Client `i` of `N` is in room `i % R`. The server broadcasts each chat as `CHAT_BROADCAST`
//! (same body) to every member of the room, the sender included, so every member must receive
//! every chat of every member of its room (its own too) exactly once, and each sender's in the
//! order they were sent. A member checks that with one counter per sender of its room: the
//! next `seq` due, plus the `seq`s a gap skipped (which may still come, late).
//!
//! ```text
//!   from sender s:  next = 7, missing = [3]      received 0 1 2 _ 4 5 6
//!     seq 7  -> in order (next = 8)
//!     seq 3  -> out of order, late (missing = [])
//!     seq 9  -> out of order, gap (missing = [8], next = 10)
//!     seq 5  -> duplicate
//! ```
//!
//! What was lost is known only at the end, when every sender's count is in: for each sender,
//! `sent - next + missing`.

use bytes::{BufMut, BytesMut};
use servercore::packet::Packet;

use crate::message::Corruption;
use crate::pattern;
use crate::stats::Verdict;
use crate::wire::{CHAT_BROADCAST, ROOM_JOINED, ROOM_JOINED_LEN};

/// Bytes of header at the front of every chat body.
pub const CHAT_HEADER_LEN: usize = 16;

/// Smallest chat body: the header and one pattern word.
pub const MIN_CHAT_SIZE: usize = CHAT_HEADER_LEN + 8;

/// Largest jump ahead in one sender's sequence taken as a gap (its `seq`s are remembered as
/// missing); a bigger one is corrupt.
pub const MAX_GAP: u32 = 4096;

/// The header at the front of every chat body (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatHeader {
    /// The sending client's id.
    pub sender: u32,
    /// The chat's number in its sender's sequence.
    pub seq: u32,
    /// Send time in nanoseconds since the run's base instant.
    pub sent_nanos: u64,
}

impl ChatHeader {
    /// Reads the header from the front of `body`, or `None` if it is too short.
    pub fn read(body: &[u8]) -> Option<ChatHeader> {
        let head: &[u8; CHAT_HEADER_LEN] = body.get(..CHAT_HEADER_LEN)?.try_into().ok()?;
        let [s0, s1, s2, s3, q0, q1, q2, q3, t @ ..] = *head;
        Some(ChatHeader {
            sender: u32::from_le_bytes([s0, s1, s2, s3]),
            seq: u32::from_le_bytes([q0, q1, q2, q3]),
            sent_nanos: u64::from_le_bytes(t),
        })
    }

    /// The seed of the pattern of a `len`-byte body with this header.
    fn seed(&self, len: usize) -> u64 {
        let a = pattern::mix(u64::from(self.sender) ^ 0x243f_6a88_85a3_08d3);
        let b = pattern::mix(a ^ u64::from(self.seq) ^ ((len as u64) << 32));
        pattern::mix(b ^ self.sent_nanos)
    }
}

/// Appends a `size`-byte chat body with `header` to `out`.
///
/// # Panics
/// If `size` is below [`CHAT_HEADER_LEN`].
pub fn write_chat(out: &mut BytesMut, header: &ChatHeader, size: usize) {
    assert!(
        size >= CHAT_HEADER_LEN,
        "a chat body is at least {CHAT_HEADER_LEN} bytes"
    );
    out.reserve(size);
    out.put_u32_le(header.sender);
    out.put_u32_le(header.seq);
    out.put_u64_le(header.sent_nanos);
    pattern::put(out, header.seed(size), CHAT_HEADER_LEN, size);
}

/// Checks a received chat body on its own: `size` bytes, the pattern its header implies.
///
/// # Errors
/// The first thing found wrong ([`Corruption::Length`] carries `size` as the field).
pub fn check_chat(body: &[u8], size: usize) -> Result<ChatHeader, Corruption> {
    let header = ChatHeader::read(body).ok_or(Corruption::Short { len: body.len() })?;
    if body.len() != size {
        return Err(Corruption::Length {
            field: u32::try_from(size).unwrap_or(u32::MAX),
            actual: body.len(),
        });
    }
    match pattern::mismatch(body, header.seed(size), CHAT_HEADER_LEN) {
        Some(offset) => Err(Corruption::Pattern { offset }),
        None => Ok(header),
    }
}

/// Who is in which room: client `i` of `clients` is in room `i % rooms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomPlan {
    clients: u32,
    rooms: u32,
}

impl RoomPlan {
    /// `clients` clients over `rooms` rooms.
    ///
    /// # Panics
    /// If `rooms` is 0.
    pub fn new(clients: u32, rooms: u32) -> RoomPlan {
        assert!(rooms > 0, "at least one room");
        RoomPlan { clients, rooms }
    }

    /// The room of `client`.
    pub fn room_of(&self, client: u32) -> u32 {
        client % self.rooms
    }

    /// How many clients are in `room`.
    pub fn members(&self, room: u32) -> u32 {
        self.clients.saturating_sub(room).div_ceil(self.rooms)
    }

    /// `client`'s place among the members of its room (0, 1, 2, ...).
    fn slot(&self, client: u32) -> usize {
        (client / self.rooms) as usize
    }

    /// The client in place `slot` of `room`.
    fn member(&self, room: u32, slot: usize) -> u32 {
        room + slot as u32 * self.rooms
    }
}

/// What a member's counter for one sender made of a `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrival {
    /// The one due next.
    InOrder,
    /// Ahead of the one due (those between are now missing), or a missing one, late.
    OutOfOrder,
    /// Already received.
    Duplicate,
    /// Too far ahead to be a real gap.
    TooFar,
}

/// One member's view of one sender: the next `seq` due and the ones a gap skipped.
#[derive(Debug, Clone, Default)]
struct FromSender {
    next: u32,
    /// Skipped by a gap and not (yet) received; usually empty.
    missing: Vec<u32>,
}

impl FromSender {
    fn accept(&mut self, seq: u32) -> Arrival {
        if seq == self.next {
            self.next += 1;
            Arrival::InOrder
        } else if seq > self.next {
            if seq - self.next > MAX_GAP {
                return Arrival::TooFar;
            }
            self.missing.extend(self.next..seq);
            self.next = seq + 1;
            Arrival::OutOfOrder
        } else if let Some(at) = self.missing.iter().position(|&m| m == seq) {
            self.missing.swap_remove(at);
            Arrival::OutOfOrder
        } else {
            Arrival::Duplicate
        }
    }

    /// True if `seq` is due or missing (so a corrupt copy of it settles it).
    fn owes(&self, seq: u32) -> bool {
        seq == self.next || self.missing.contains(&seq)
    }

    /// Chats of this sender received once.
    fn received(&self) -> u64 {
        u64::from(self.next) - self.missing.len() as u64
    }

    /// Chats of a sender that sent `sent` not received.
    fn lost(&self, sent: u64) -> u64 {
        sent.saturating_sub(u64::from(self.next)) + self.missing.len() as u64
    }
}

/// What a member made of one packet from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatEvent {
    /// `ROOM_JOINED` for this member's room: it is in.
    Joined,
    /// A broadcast (or an unexpected packet, as [`Verdict::Corrupt`]).
    Message(Verdict),
}

/// One chat client: its room, the chats it sent, and a counter per sender of its room.
#[derive(Debug, Clone)]
pub struct Member {
    client: u32,
    room: u32,
    plan: RoomPlan,
    size: usize,
    joined: bool,
    sent: u32,
    /// By the sender's place in the room ([`RoomPlan::slot`]).
    from: Vec<FromSender>,
}

impl Member {
    /// Client `client` of `plan`, sending `size`-byte bodies.
    ///
    /// # Panics
    /// If `size` is below [`MIN_CHAT_SIZE`].
    pub fn new(client: u32, plan: RoomPlan, size: usize) -> Member {
        assert!(
            size >= MIN_CHAT_SIZE,
            "a chat body is at least {MIN_CHAT_SIZE} bytes"
        );
        let room = plan.room_of(client);
        Member {
            client,
            room,
            plan,
            size,
            joined: false,
            sent: 0,
            from: vec![FromSender::default(); plan.members(room) as usize],
        }
    }

    /// The client's id.
    pub fn client(&self) -> u32 {
        self.client
    }

    /// The client's room (the `ENTER_ROOM` body).
    pub fn room(&self) -> u32 {
        self.room
    }

    /// Chats sent so far.
    pub fn sent(&self) -> u64 {
        u64::from(self.sent)
    }

    /// Own chats sent and not yet broadcast back.
    pub fn outstanding(&self) -> usize {
        let own = &self.from[self.plan.slot(self.client)];
        self.sent().saturating_sub(own.received()) as usize
    }

    /// Deliveries the chats sent so far owe the room: one per member, the sender included.
    pub fn owed(&self) -> u64 {
        self.sent() * u64::from(self.plan.members(self.room))
    }

    /// Chats received once, over every sender.
    pub fn received(&self) -> u64 {
        self.from.iter().map(FromSender::received).sum()
    }

    /// Chats of this member's room never received, given every client's sends by id.
    pub fn lost(&self, sent: &[u64]) -> u64 {
        self.from
            .iter()
            .enumerate()
            .map(|(slot, from)| {
                let sender = self.plan.member(self.room, slot) as usize;
                from.lost(sent.get(sender).copied().unwrap_or(0))
            })
            .sum()
    }

    /// Appends the member's next chat body, stamped `now_nanos`, to `out`.
    pub fn write_next(&mut self, out: &mut BytesMut, now_nanos: u64) {
        let header = ChatHeader {
            sender: self.client,
            seq: self.sent,
            sent_nanos: now_nanos,
        };
        write_chat(out, &header, self.size);
        self.sent += 1;
    }

    /// Handles one packet from the server, received at `now_nanos`.
    pub fn receive(&mut self, packet: Packet<'_>, now_nanos: u64) -> ChatEvent {
        match packet.id {
            ROOM_JOINED if !self.joined && self.is_my_room_joined(packet.body) => {
                self.joined = true;
                ChatEvent::Joined
            }
            CHAT_BROADCAST => ChatEvent::Message(self.broadcast(packet.body, now_nanos)),
            _ => ChatEvent::Message(Verdict::Corrupt),
        }
    }

    fn is_my_room_joined(&self, body: &[u8]) -> bool {
        body.len() == ROOM_JOINED_LEN && body[..4] == self.room.to_le_bytes()
    }

    /// Verifies one broadcast body. A corrupt one whose header still names a chat this
    /// member is owed settles it, so one flipped byte is corrupt and not also lost.
    fn broadcast(&mut self, body: &[u8], now_nanos: u64) -> Verdict {
        let header = match check_chat(body, self.size) {
            Ok(header) => header,
            Err(_) => {
                if let Some(header) = ChatHeader::read(body) {
                    if let Some(from) = self.counter_for(header.sender) {
                        if from.owes(header.seq) {
                            from.accept(header.seq);
                        }
                    }
                }
                return Verdict::Corrupt;
            }
        };
        let Some(from) = self.counter_for(header.sender) else {
            return Verdict::Corrupt; // not from this room
        };
        let latency_nanos = now_nanos.saturating_sub(header.sent_nanos);
        match from.accept(header.seq) {
            Arrival::InOrder => Verdict::InOrder { latency_nanos },
            Arrival::OutOfOrder => Verdict::OutOfOrder { latency_nanos },
            Arrival::Duplicate => Verdict::Duplicate,
            Arrival::TooFar => Verdict::Corrupt,
        }
    }

    /// The counter for `sender`, if it is a member of this room.
    fn counter_for(&mut self, sender: u32) -> Option<&mut FromSender> {
        if sender >= self.plan.clients || self.plan.room_of(sender) != self.room {
            return None;
        }
        self.from.get_mut(self.plan.slot(sender))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chats `seqs` of `sender` (in `plan`) as `CHAT_BROADCAST` bodies.
    fn chats(plan: RoomPlan, sender: u32, count: u32, size: usize) -> Vec<Vec<u8>> {
        let mut member = Member::new(sender, plan, size);
        (0..count)
            .map(|t| {
                let mut out = BytesMut::new();
                member.write_next(&mut out, u64::from(t) * 10);
                out.to_vec()
            })
            .collect()
    }

    fn deliver(member: &mut Member, body: &[u8]) -> ChatEvent {
        member.receive(
            Packet {
                id: CHAT_BROADCAST,
                body,
            },
            1000,
        )
    }

    #[test]
    fn plan_spreads_clients_round_robin() {
        let plan = RoomPlan::new(10, 3);
        assert_eq!([0, 1, 2, 3].map(|c| plan.room_of(c)), [0, 1, 2, 0]);
        assert_eq!([0, 1, 2].map(|r| plan.members(r)), [4, 3, 3]);
        assert_eq!(plan.slot(9), 3);
        assert_eq!(plan.member(0, 3), 9);
        assert_eq!(RoomPlan::new(2, 5).members(4), 0);
    }

    #[test]
    fn body_round_trips_and_every_flipped_bit_is_caught() {
        let mut out = BytesMut::new();
        let header = ChatHeader {
            sender: 3,
            seq: 7,
            sent_nanos: 99,
        };
        write_chat(&mut out, &header, 40);
        assert_eq!(&out[..4], &3u32.to_le_bytes());
        assert_eq!(check_chat(&out, 40), Ok(header));
        assert!(matches!(
            check_chat(&out, 48),
            Err(Corruption::Length { .. })
        ));
        for byte in 0..40 {
            for bit in 0..8 {
                let mut bad = out.to_vec();
                bad[byte] ^= 1 << bit;
                assert!(check_chat(&bad, 40).is_err(), "byte {byte} bit {bit}");
            }
        }
    }

    #[test]
    fn every_chat_of_the_room_once_in_order() {
        let plan = RoomPlan::new(4, 2); // room 0: clients 0 and 2
        let mut me = Member::new(0, plan, 32);
        let mut sent = vec![0; 4];
        for sender in [0, 2] {
            for body in chats(plan, sender, 3, 32) {
                assert!(matches!(
                    deliver(&mut me, &body),
                    ChatEvent::Message(Verdict::InOrder { .. })
                ));
            }
            sent[sender as usize] = 3;
        }
        assert_eq!(me.received(), 6);
        assert_eq!(me.lost(&sent), 0);
    }

    #[test]
    fn gaps_late_duplicates_and_strangers_are_told_apart() {
        let plan = RoomPlan::new(4, 2);
        let mut me = Member::new(0, plan, 24);
        let m = chats(plan, 2, 5, 24);
        let verdict = |me: &mut Member, body: &[u8]| match deliver(me, body) {
            ChatEvent::Message(v) => v,
            ChatEvent::Joined => panic!("not a join"),
        };
        assert!(matches!(verdict(&mut me, &m[0]), Verdict::InOrder { .. }));
        assert!(matches!(
            verdict(&mut me, &m[2]),
            Verdict::OutOfOrder { .. }
        ));
        assert!(
            matches!(verdict(&mut me, &m[1]), Verdict::OutOfOrder { .. }),
            "late"
        );
        assert_eq!(verdict(&mut me, &m[1]), Verdict::Duplicate);
        assert!(matches!(
            verdict(&mut me, &m[4]),
            Verdict::OutOfOrder { .. }
        ));
        assert_eq!(
            verdict(&mut me, &chats(plan, 1, 1, 24)[0]),
            Verdict::Corrupt,
            "room 1"
        );
        let mut sent = vec![0; 4];
        sent[2] = 6;
        assert_eq!(me.lost(&sent), 2, "seq 3 skipped, seq 5 never came");
    }

    #[test]
    fn corrupt_broadcast_settles_its_chat() {
        let plan = RoomPlan::new(1, 1);
        let mut me = Member::new(0, plan, 32);
        let mut body = chats(plan, 0, 1, 32).remove(0);
        me.sent = 1;
        body[20] ^= 0xff;
        assert_eq!(
            deliver(&mut me, &body),
            ChatEvent::Message(Verdict::Corrupt)
        );
        assert_eq!(me.lost(&[1]), 0);
        assert_eq!(me.outstanding(), 0);
    }

    #[test]
    fn joins_its_own_room_once() {
        let plan = RoomPlan::new(4, 2);
        let mut me = Member::new(1, plan, 24);
        let mut body = [0; 8];
        body[..4].copy_from_slice(&1u32.to_le_bytes());
        let joined = Packet {
            id: ROOM_JOINED,
            body: &body,
        };
        let other = Packet {
            id: ROOM_JOINED,
            body: &[0; 8],
        };
        assert_eq!(me.receive(other, 0), ChatEvent::Message(Verdict::Corrupt));
        assert_eq!(me.receive(joined, 0), ChatEvent::Joined);
        assert_eq!(me.receive(joined, 0), ChatEvent::Message(Verdict::Corrupt));
        assert_eq!(me.owed(), 0);
        assert_eq!(me.room(), 1);
    }
}
