//! [`LoadHandler`]: the load generator's servercore handler, one per event loop, and the
//! shared state through which the main thread ([`crate::load::run`]) steers the loops.
//!
//! ```text
//!   connected     a Client: echo (ClientStream) is ready at once; chat (Member) sends
//!                 ENTER_ROOM and is ready at its ROOM_JOINED. Shared::ready counts both.
//!   tick (1 ms)   follows the phase: Sending starts the closed-loop window, then paces the
//!                 open loop; Draining publishes what this loop is still owed; every
//!                 PUBLISH_EVERY_NANOS (100 ms) publishes its counts for the progress bar
//!   received      Wire::split -> one packet at a time -> the client's verifier -> a Verdict
//!                 -> Stats; closed loop sends one message per echo
//!   disconnected  counted (unless Shutdown; after a farewell packet under its name:
//!                 `server_full`, `rate_limited`); the client stays, its counts settle `lost`
//! ```
//!
//! With `--resume` each client also holds a seat ([`crate::resume`]): SEAT_ASK follows its
//! HELLO, every packet it writes after that is kept until the server acknowledges it, and
//! what arrives goes through the seat first (SEAT, ACK, RESUMED, SEAT_LOST; the rest is
//! counted). Each tick sends the ACKs due and, with `--chaos`, aborts the clients
//! [`crate::chaos`] picks. A client whose connection ends without a farewell leaves this
//! loop for [`crate::reconnect`]'s pool; the loop that adopts its new connection sends its
//! RESUME, and on RESUMED sends again what the server did not have (that part of the
//! handler is `handler_seat.rs`).
//!
//! Latency is taken with the loop's clock (`Context::now`, read once per loop iteration) at
//! both ends, against one base `Instant` for every loop: from the start of the iteration that
//! queued a message to the start of the iteration that read it (chat: on any member's loop).
//! Open loop stamps a message with the time its schedule said it was due, not when it was
//! actually queued: a send that went out late (the client's loop was stalled, or the client
//! was catching up) carries that lateness in its latency, so a stalling server cannot hide in
//! the percentiles (coordinated omission). Scheduled sends skipped altogether because the
//! client was too far behind count as `late_sends`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use game_protocol::ids::{ACK, SEAT_ASK};
use game_protocol::resume::ack;
use servercore::packet::{Packet, PacketContext};
use servercore::{first_bytes, CloseReason, Context, Handler, Lookalike, SessionId};

use crate::chaos::Chaos;
use crate::chat::{Member, RoomPlan};
use crate::client::{Client, Received, Role};
use crate::load::{LoadConfig, Pacing, ResumeConfig, Scenario, CATCH_UP};
use crate::login::Tokens;
use crate::message::ClientStream;
use crate::reconnect::Rejoin;
use crate::resume::{Link, ResumeState};
use crate::spread::Spread;
use crate::stats::Stats;
use crate::websocket::{split_packets, Inbound};
use crate::wire::{Farewell, Wire, ENTER_ROOM};

/// Where the run is; set by the main thread, followed by each loop on its tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Phase {
    /// Clients are being connected (and, for chat, put in their rooms); nothing is sent.
    Connecting = 0,
    /// Sending for `--duration`.
    Sending = 1,
    /// No new sends; waiting for what is still owed.
    Draining = 2,
}

/// One loop's published drain counts (`owed` is `u64::MAX` until the loop publishes).
#[derive(Debug)]
pub(crate) struct DrainCounts {
    /// Messages this loop's clients sent, times the receivers each one owes (echo: 1).
    pub(crate) owed: AtomicU64,
    /// Messages this loop's clients received once.
    pub(crate) received: AtomicU64,
}

/// One loop's counts as of its last publication (every [`PUBLISH_EVERY_NANOS`]), for the
/// progress bar.
#[derive(Debug, Default)]
pub(crate) struct LoopProgress {
    /// Clients of this loop whose connection is open.
    pub(crate) connections: AtomicU64,
    /// See [`Stats::sent`].
    pub(crate) sent: AtomicU64,
    /// See [`Stats::messages`].
    pub(crate) messages: AtomicU64,
    /// See [`Stats::deliveries`].
    pub(crate) deliveries: AtomicU64,
    /// Errors known so far: corrupt, out of order, duplicates, disconnects (lost is settled at
    /// the end).
    pub(crate) errors: AtomicU64,
}

/// How often a loop publishes its [`LoopProgress`]: on the first tick this long after the
/// last one.
pub(crate) const PUBLISH_EVERY_NANOS: u64 = 100_000_000;

/// What the main thread and the loops share. No lock: the phase is read on each tick, the
/// counters are published per tick or per client, never per message.
#[derive(Debug)]
pub(crate) struct Shared {
    phase: AtomicU8,
    /// When sending started, in nanoseconds since the run's base instant.
    pub(crate) start_nanos: AtomicU64,
    /// Hands out client ids (0, 1, 2, ...) as loops open the adopted sockets.
    next_client: AtomicU32,
    /// With several servers: the ids planned for each (see `spread`).
    spread: Option<Spread>,
    /// Clients ready to send (echo: opened; chat: in their room), or closed before that.
    pub(crate) ready: AtomicU32,
    /// Per loop, while draining.
    pub(crate) drain: Box<[DrainCounts]>,
    /// Per loop, published every [`PUBLISH_EVERY_NANOS`].
    pub(crate) progress: Box<[LoopProgress]>,
    /// `--resume`: the clients waiting for a new connection.
    pub(crate) rejoin: Option<Rejoin<Client>>,
}

impl Shared {
    /// Shared state for `loops` event loops, in phase `Connecting`.
    pub(crate) fn new(loops: usize) -> Shared {
        Shared {
            phase: AtomicU8::new(Phase::Connecting as u8),
            start_nanos: AtomicU64::new(0),
            next_client: AtomicU32::new(0),
            spread: None,
            ready: AtomicU32::new(0),
            drain: (0..loops)
                .map(|_| DrainCounts {
                    owed: AtomicU64::new(u64::MAX),
                    received: AtomicU64::new(0),
                })
                .collect(),
            progress: (0..loops).map(|_| LoopProgress::default()).collect(),
            rejoin: None,
        }
    }

    /// With `--resume`: dropped clients wait in `rejoin` for a new connection.
    pub(crate) fn with_rejoin(self, rejoin: Rejoin<Client>) -> Shared {
        Shared {
            rejoin: Some(rejoin),
            ..self
        }
    }

    /// Clients between two connections (`--resume`).
    fn away(&self) -> u32 {
        self.rejoin.as_ref().map_or(0, Rejoin::away)
    }

    /// Gives out client ids by server, as `spread` plans (several servers).
    pub(crate) fn with_spread(self, spread: Spread) -> Shared {
        Shared {
            spread: Some(spread),
            ..self
        }
    }

    /// The id of a client that just opened, connected to `server`.
    fn client_index(&self, server: Option<SocketAddr>) -> u32 {
        let planned = self.spread.as_ref().zip(server);
        planned
            .and_then(|(spread, server)| spread.index_for(server))
            .unwrap_or_else(|| self.next_client.fetch_add(1, Ordering::AcqRel))
    }

    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Connecting,
            1 => Phase::Sending,
            _ => Phase::Draining,
        }
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// Once every loop has published: true if every owed message was received.
    pub(crate) fn drained(&self) -> bool {
        if self.away() > 0 {
            return false; // a client's counts are off the loops until it is back
        }
        let mut owed = 0u64;
        let mut received = 0u64;
        for loop_counts in self.drain.iter() {
            let o = loop_counts.owed.load(Ordering::Acquire);
            if o == u64::MAX {
                return false;
            }
            owed += o;
            received += loop_counts.received.load(Ordering::Acquire);
        }
        received >= owed
    }

    /// Messages received since draining began, over every loop that has published.
    pub(crate) fn drain_received(&self) -> u64 {
        self.drain
            .iter()
            .map(|c| c.received.load(Ordering::Acquire))
            .sum()
    }
}

/// Disconnects logged one by one; the rest are only counted (by reason, in the report).
const LOGGED_DISCONNECTS: u64 = 10;

/// What a "cannot frame the server's packets" line adds when the answer is not packets at
/// all: what it looks like, and what that usually means.
fn answer_hint(data: &[u8]) -> String {
    let Some(lookalike) = Lookalike::of(data) else {
        return String::new();
    };
    let meaning = match lookalike {
        Lookalike::HttpResponse => {
            "; is this a WebSocket port? Add --websocket (gameserver's --websocket ADDR)"
        }
        _ => "",
    };
    format!(
        "; the answer looks like {lookalike} ({}){meaning}",
        first_bytes(data)
    )
}

/// The load generator's handler: one per event loop.
#[derive(Debug)]
pub struct LoadHandler {
    shared: Arc<Shared>,
    base: Instant,
    wire: Wire,
    scenario: Scenario,
    clients_total: u64,
    pacing: Pacing,
    backlog: usize,
    catch_up: u64,
    /// Open loop: see [`LoadConfig::send_batch`], in nanoseconds.
    send_batch: u64,
    clients: HashMap<SessionId, Client>,
    /// `--websocket`: each session's frame reader.
    inbound: Option<HashMap<SessionId, Inbound>>,
    /// `--auth-secret`: the clients' tokens.
    tokens: Option<Arc<Tokens>>,
    /// `--resume`.
    resume: Option<ResumeConfig>,
    /// `--chaos`: this loop's drops (made on its first tick).
    chaos: Option<Chaos>,
    phase: Phase,
    /// When sending started (nanoseconds since `base`), once this loop saw it.
    start_nanos: u64,
    /// When this loop last published its [`LoopProgress`].
    published_nanos: u64,
    stats: Stats,
}

impl LoadHandler {
    pub(crate) fn new(shared: Arc<Shared>, base: Instant, config: &LoadConfig) -> LoadHandler {
        let catch_up = match config.pacing {
            Pacing::Open { rate } => {
                let window = (CATCH_UP + config.send_batch).as_secs_f64();
                let per_tick = rate as f64 * window / config.clients as f64;
                (per_tick.ceil() as u64).max(1)
            }
            Pacing::Closed { .. } => 0,
        };
        LoadHandler {
            shared,
            base,
            wire: config.wire(),
            scenario: config.scenario,
            clients_total: config.clients as u64,
            pacing: config.pacing,
            backlog: config.backlog(),
            catch_up,
            send_batch: config.send_batch.as_nanos() as u64,
            tokens: config.tokens.clone(),
            resume: config.resume,
            chaos: None,
            clients: HashMap::new(),
            inbound: config.websocket.then(HashMap::new),
            phase: Phase::Connecting,
            start_nanos: 0,
            published_nanos: 0,
            stats: Stats::with_timeline(config.timeline),
        }
    }

    /// This loop's counts (after [`Service::stop`](servercore::Service::stop), all of them
    /// but `lost`: see [`LoadHandler::lost`]).
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// After the run: writes each of this loop's clients' sends into `sent`, by client id.
    pub fn record_sent(&self, sent: &mut [u64]) {
        for client in self.clients.values() {
            if let Some(slot) = sent.get_mut(client.index as usize) {
                *slot = client.sent();
            }
        }
    }

    /// After the run: messages owed to this loop's clients that never arrived, given every
    /// client's sends by id (from [`LoadHandler::record_sent`] over all loops).
    pub fn lost(&self, sent: &[u64]) -> u64 {
        self.clients.values().map(|c| c.lost(sent)).sum()
    }

    /// After the run (`--resume`): counts the seats that did not make it to the end: still
    /// resuming, past their buffer, or never given (no SEAT).
    pub fn settle_seats(&mut self) {
        for seat in self.clients.values().filter_map(|c| c.seat.as_ref()) {
            match seat.link() {
                Link::Resuming { .. } | Link::Away { .. } => {
                    self.stats.resume.lose_seat("unresumed")
                }
                Link::Lost => {}
                Link::Asking | Link::Live if seat.overflowed() => {
                    self.stats.resume.lose_seat("client_buffer")
                }
                Link::Asking => self.stats.resume.lose_seat("no_seat"), // SEAT never came
                Link::Live => {}
            }
        }
    }

    /// Client `index`'s state, for this run's scenario.
    fn new_client(&self, index: u32) -> Client {
        let role = match self.scenario {
            Scenario::Echo => Role::Echo(ClientStream::new(index, self.wire.size())),
            Scenario::Chat { rooms } => {
                let plan = RoomPlan::new(self.clients_total as u32, rooms as u32);
                Role::Chat(Member::new(index, plan, self.wire.size()))
            }
        };
        Client {
            role,
            index: u64::from(index),
            scheduled: 0,
            ready: false,
            open: true,
            farewell: None,
            seat: self
                .resume
                .map(|_| ResumeState::new(format!("dummy-{index}"))),
            server: None,
            replay_before: None,
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.base).as_nanos() as u64
    }

    fn mark_ready(&mut self, id: SessionId) {
        if let Some(client) = self.clients.get_mut(&id) {
            if !client.ready {
                client.ready = true;
                self.shared.ready.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// Sending starts: closed loop fills each client's window.
    fn start(&mut self, ctx: &mut Context<'_>) {
        let Pacing::Closed { inflight } = self.pacing else {
            return;
        };
        let now = self.nanos(ctx.now());
        for (&id, client) in self.clients.iter_mut().filter(|(_, c)| c.open) {
            self.stats.sent += send(ctx, id, client, &self.wire, inflight, |_| now);
        }
    }

    /// Open loop: sends what each client's schedule says is due by now.
    fn pace(&mut self, ctx: &mut Context<'_>) {
        let Pacing::Open { rate } = self.pacing else {
            return;
        };
        let now = self.nanos(ctx.now());
        let Some(elapsed) = now.checked_sub(self.shared.start_nanos.load(Ordering::Acquire)) else {
            return;
        };
        for (&id, client) in self.clients.iter_mut().filter(|(_, c)| c.open) {
            let due_total = scheduled_by(elapsed, rate, client.index, self.clients_total);
            let due = due_total.saturating_sub(client.scheduled);
            let batch = Batch {
                hold: self.send_batch,
                rate,
                index: client.index,
                clients: self.clients_total,
            };
            if due == 0 || !batch.oldest_waited(elapsed, client.scheduled) {
                continue;
            }
            client.scheduled = due_total;
            let room = self.backlog.saturating_sub(client.outstanding()) as u64;
            let n = due.min(self.catch_up).min(room);
            self.stats.late_sends += due - n;
            if n > 0 {
                // The last `n` of the due sends go out; each is stamped with its own slot.
                let (start, clients, index) = (now - elapsed, self.clients_total, client.index);
                let first = due_total - n;
                let stamp = |k: u64| start + slot_nanos(index + (first + k) * clients, rate);
                self.stats.sent += send(ctx, id, client, &self.wire, n as usize, stamp);
            }
        }
    }

    /// Publishes this loop's counts for the progress bar (a few relaxed stores).
    fn publish_progress(&self, loop_index: usize) {
        let Some(progress) = self.shared.progress.get(loop_index) else {
            return;
        };
        let s = &self.stats;
        let open = self.clients.values().filter(|c| c.open).count() as u64;
        progress.connections.store(open, Ordering::Relaxed);
        progress.sent.store(s.sent, Ordering::Relaxed);
        progress.messages.store(s.messages, Ordering::Relaxed);
        progress.deliveries.store(s.deliveries, Ordering::Relaxed);
        let errors = s.corrupt + s.out_of_order + s.duplicates + s.disconnects;
        progress.errors.store(errors, Ordering::Relaxed);
    }

    /// Draining: publishes what this loop's clients are owed and have received.
    fn publish_drain(&self, loop_index: usize) {
        let (owed, received) = self
            .clients
            .values()
            .map(Client::drain_counts)
            .fold((0, 0), |(o, r), (co, cr)| (o + co, r + cr));
        let counts = &self.shared.drain[loop_index];
        counts.received.store(received, Ordering::Release);
        counts.owed.store(owed, Ordering::Release);
    }
}

/// Open loop: how many sends of client `index` (of `clients`) are due `elapsed` nanoseconds
/// after the start, at `rate` messages per second in total. The run-wide schedule has one
/// slot every `1 / rate` seconds, slot 0 at the start; client `i` owns slots `i`,
/// `i + clients`, `i + 2 * clients`, ...
/// Open loop: when slot `slot` of the run-wide schedule is due, in nanoseconds after the
/// start (the inverse of [`scheduled_by`]).
pub(crate) fn slot_nanos(slot: u64, rate: u64) -> u64 {
    (u128::from(slot) * 1_000_000_000 / u128::from(rate)) as u64
}

/// Open loop with [`LoadConfig::send_batch`]: one client's schedule and how long it holds
/// its due messages.
struct Batch {
    /// Nanoseconds the oldest due message waits before the client sends.
    hold: u64,
    rate: u64,
    index: u64,
    clients: u64,
}

impl Batch {
    /// Has the oldest due message (the client's next unsent slot, after its first
    /// `scheduled`) waited the hold by `elapsed`?
    fn oldest_waited(&self, elapsed: u64, scheduled: u64) -> bool {
        if self.hold == 0 {
            return true; // no hold: whatever is due goes at once
        }
        elapsed.checked_sub(self.hold).is_some_and(|since| {
            scheduled_by(since, self.rate, self.index, self.clients) > scheduled
        })
    }
}

pub(crate) fn scheduled_by(elapsed: u64, rate: u64, index: u64, clients: u64) -> u64 {
    let slots = (u128::from(elapsed) * u128::from(rate) / 1_000_000_000) as u64 + 1;
    if slots > index {
        (slots - 1 - index) / clients + 1
    } else {
        0
    }
}

/// Queues `n` messages of `client` on session `id` as one buffer, the `k`-th stamped with
/// `stamp(k)` (nanoseconds since the base); returns `n`. If the queue refuses them the
/// session is closing, and they will be counted lost when the run ends.
fn send(
    ctx: &mut Context<'_>,
    id: SessionId,
    client: &mut Client,
    wire: &Wire,
    n: usize,
    stamp: impl Fn(u64) -> u64,
) -> u64 {
    let buf = ctx.alloc(n * wire.framed_len(), |out| {
        for k in 0..n as u64 {
            client.write_next(wire, out, stamp(k));
        }
    });
    client.put(ctx, id, buf);
    n as u64
}

impl Handler for LoadHandler {
    fn connected(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        let server = ctx.peer_addr(id);
        let rejoin = self.shared.rejoin.as_ref();
        if let Some(client) = server.and_then(|server| rejoin?.take(server)) {
            self.rejoined(ctx, id, client);
            return;
        }
        let index = self.shared.client_index(server);
        let mut client = self.new_client(index);
        client.server = server;
        let room = match &client.role {
            Role::Chat(member) => Some(member.room()),
            Role::Echo(_) => None,
        };
        self.clients.insert(id, client);
        if let Some(inbound) = &mut self.inbound {
            inbound.insert(id, Inbound::default());
        }
        if let Some(tokens) = &self.tokens {
            // First on the wire: the server reads what follows only once it is signed in.
            let _ = ctx.send(id, self.wire.wrap(tokens.hello_of_client(u64::from(index))));
            if self.resume.is_some() {
                // Pipelined behind HELLO; what the client writes from here on is numbered.
                let _ = ctx.send(id, seat::resume_packet(SEAT_ASK, &[]));
            }
        }
        match room {
            // A chat client is ready once the server has put it in its room.
            Some(room) => {
                if let Ok(packet) = ctx.packet(ENTER_ROOM, &room.to_le_bytes()) {
                    let packet = self.wire.wrap(packet);
                    if let Some(client) = self.clients.get_mut(&id) {
                        client.put(ctx, id, packet);
                    }
                }
            }
            None => self.mark_ready(id),
        }
    }

    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        let now = self.nanos(ctx.now());
        let Some(client) = self.clients.get_mut(&id) else {
            return data.len();
        };
        let (stats, size) = (&mut self.stats, self.wire.size());
        stats.timeline.set_now(now.saturating_sub(self.start_nanos));
        let corrupt_before = stats.corrupt;
        let (mut messages, mut joined) = (0, false);
        let mut seat_events = Vec::new();
        let on_packet = |packet: Packet<'_>| match client.receive(packet, now, stats, size) {
            Received::Message => messages += 1,
            Received::Joined => joined = true,
            Received::Farewell(farewell) => client.farewell = Some(farewell),
            Received::SignedIn | Received::Notice => {}
            Received::Seat(event) => seat_events.push(event),
        };
        let split = split_packets(self.inbound.as_mut(), ctx, id, &self.wire, data, on_packet);
        if stats.corrupt > corrupt_before && corrupt_before < 10 {
            tracing::warn!(session = %id, client = client.id(), "corrupt message");
        }
        let consumed = match split {
            Ok(consumed) => consumed,
            Err(err) => {
                stats.corrupt += 1;
                if let Some(seat) = client.seat.as_mut().filter(|s| s.link() != Link::Lost) {
                    seat.give_up(); // a broken stream is not resumed
                    stats.resume.lose_seat("framing");
                }
                tracing::warn!(session = %id, client = client.id(), "cannot frame the server's packets: {err}{}", answer_hint(data));
                ctx.abort(id, err.close_reason());
                return data.len();
            }
        };
        for event in seat_events {
            seat::seat_event(ctx, id, client, event, &mut self.stats.resume);
        }
        if let Some(position) = client.seat.as_mut().and_then(|seat| seat.ack_due(now)) {
            let _ = ctx.send(id, seat::resume_packet(ACK, &ack(position)));
        }
        if self.phase == Phase::Sending
            && messages > 0
            && matches!(self.pacing, Pacing::Closed { .. })
        {
            self.stats.sent += send(ctx, id, client, &self.wire, messages, |_| now);
        }
        if joined {
            self.mark_ready(id);
        }
        consumed
    }

    fn disconnected(&mut self, ctx: &mut Context<'_>, id: SessionId, reason: CloseReason) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        client.open = false;
        if let Some(inbound) = &mut self.inbound {
            inbound.remove(&id);
        }
        if reason != CloseReason::Shutdown && client.farewell.is_none() {
            let now = self.nanos(ctx.now());
            if self.dropped(id, now) {
                return;
            }
        }
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        let (client_id, farewell) = (client.id(), client.farewell);
        // Closed before it was ready: the main thread need not wait for it any more.
        self.mark_ready(id);
        if reason == CloseReason::Shutdown {
            return;
        }
        if self.stats.disconnects < LOGGED_DISCONNECTS {
            match farewell {
                Some(farewell) => {
                    tracing::warn!(session = %id, client = client_id, %reason, "server closed a client: {farewell}");
                }
                None => {
                    tracing::warn!(session = %id, client = client_id, %reason, "server closed a client")
                }
            }
        }
        self.stats.disconnects += 1;
        let name = farewell.map_or(reason.name(), Farewell::name);
        *self.stats.disconnect_reasons.entry(name).or_default() += 1;
        if let Some(farewell) = farewell {
            self.stats.farewell = Some(farewell);
        }
    }

    fn tick(&mut self, ctx: &mut Context<'_>) {
        let phase = self.shared.phase();
        if phase != self.phase {
            let previous = std::mem::replace(&mut self.phase, phase);
            if previous == Phase::Connecting && phase == Phase::Sending {
                self.start_nanos = self.shared.start_nanos.load(Ordering::Acquire);
                self.start(ctx);
                self.publish_progress(ctx.loop_index());
            }
            if phase == Phase::Draining {
                self.stats.end_sending();
            }
        }
        let now = self.nanos(ctx.now());
        if now.saturating_sub(self.published_nanos) >= PUBLISH_EVERY_NANOS {
            self.published_nanos = now;
            self.publish_progress(ctx.loop_index());
        }
        match self.phase {
            Phase::Connecting => {}
            Phase::Sending => {
                self.pace(ctx);
                self.chaos(ctx, now);
            }
            Phase::Draining => self.publish_drain(ctx.loop_index()),
        }
        if self.resume.is_some() {
            self.acknowledge(ctx, now);
        }
    }
}

#[path = "handler_seat.rs"]
mod seat;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_spreads_the_rate_over_clients() {
        let total = |elapsed| {
            (0..10)
                .map(|i| scheduled_by(elapsed, 1000, i, 10))
                .sum::<u64>()
        };
        assert_eq!(total(0), 1, "slot 0 is due at the start");
        assert_eq!(total(999_999_999), 1000);
        assert_eq!(total(5_000_000), 6);
        assert_eq!(scheduled_by(5_000_000, 1000, 5, 10), 1);
        assert_eq!(scheduled_by(5_000_000, 1000, 6, 10), 0);
        assert_eq!(scheduled_by(25_000_000, 1000, 6, 10), 2, "slots 6 and 16");
    }

    #[test]
    fn slot_times_invert_the_schedule() {
        // Slot 16 at 1000/s is due 16 ms after the start; a client is due exactly as many
        // sends at a slot's time as the slot makes it.
        assert_eq!(slot_nanos(16, 1000), 16_000_000);
        for slot in [0, 5, 16, 999] {
            let (index, clients) = (slot % 10, 10);
            let at = slot_nanos(slot, 1000);
            assert_eq!(scheduled_by(at, 1000, index, clients), slot / clients + 1);
            if at > 0 {
                assert_eq!(scheduled_by(at - 1, 1000, index, clients), slot / clients);
            }
        }
    }

    #[test]
    fn a_batch_goes_once_its_oldest_message_waited_the_hold() {
        // 1000/s over 10 clients: client 3 owns slots 3, 13, 23, ... (3 ms, 13 ms, ...).
        let batch = Batch {
            hold: 20_000_000,
            rate: 1000,
            index: 3,
            clients: 10,
        };
        assert!(
            !batch.oldest_waited(5_000_000, 0),
            "before the hold ran out"
        );
        assert!(
            !batch.oldest_waited(22_999_999, 0),
            "slot 3 has waited 19.999 ms"
        );
        assert!(
            batch.oldest_waited(23_000_000, 0),
            "slot 3 has waited 20 ms"
        );
        assert!(!batch.oldest_waited(23_000_000, 1), "slot 3 already sent");
        assert!(
            batch.oldest_waited(33_000_000, 1),
            "slot 13 has waited 20 ms"
        );
        let none = Batch { hold: 0, ..batch };
        assert!(
            none.oldest_waited(3_000_000, 0),
            "no hold: whatever is due goes"
        );
    }

    #[test]
    fn drained_waits_for_every_loop_and_every_message() {
        let shared = Shared::new(2);
        assert!(!shared.drained(), "nothing published");
        shared.drain[0].owed.store(10, Ordering::Release);
        shared.drain[0].received.store(4, Ordering::Release);
        assert!(!shared.drained(), "loop 1 has not published");
        shared.drain[1].owed.store(0, Ordering::Release);
        shared.drain[1].received.store(5, Ordering::Release);
        assert!(!shared.drained(), "9 of 10");
        shared.drain[1].received.store(6, Ordering::Release);
        assert!(shared.drained());
    }
}
