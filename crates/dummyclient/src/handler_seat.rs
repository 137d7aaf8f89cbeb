//! `--resume`'s part of [`LoadHandler`](super::LoadHandler): a client back on a new
//! connection sends its RESUME ([`LoadHandler::rejoined`]), a connection that ends without a
//! farewell parks its client for [`crate::reconnect`] ([`LoadHandler::dropped`]), the seat's
//! events are carried out ([`seat_event`]: the resend after RESUMED, lost seats, violations),
//! and each tick sends the ACKs due and the `--chaos` drops.

use bytes::Bytes;
use game_protocol::ids::{ACK, RESUME};
use game_protocol::resume::ack;
use servercore::packet::encode;
use servercore::{CloseReason, Context, SessionId};

use super::{Client, LoadHandler, LOGGED_DISCONNECTS};
use crate::chaos::Chaos;
use crate::resume::{Link, SeatEvent};
use crate::resume_stats::ResumeStats;

/// Resume packets the client sends, encoded.
pub(super) fn resume_packet(id: u16, body: &[u8]) -> Bytes {
    encode(id, body).expect("a resume packet fits a packet")
}

/// `--resume`: what the handler does with a seat's event on session `id`.
pub(super) fn seat_event(
    ctx: &mut Context<'_>,
    id: SessionId,
    client: &mut Client,
    event: SeatEvent,
    stats: &mut ResumeStats,
) {
    match event {
        SeatEvent::Other | SeatEvent::Seated | SeatEvent::Acked => {}
        SeatEvent::Resumed(resend) => {
            stats.resumes += 1;
            stats
                .latency_us
                .saturating_record(resend.latency_nanos / 1000);
            stats.resent_packets += resend.packets;
            stats.resent_bytes += resend.bytes;
            for chunk in resend.chunks {
                if let Err(err) = ctx.send(id, chunk) {
                    tracing::debug!(session = %id, "resend: {err}");
                }
            }
        }
        SeatEvent::Lost(reason) => {
            if stats.seats_lost_total() < LOGGED_DISCONNECTS {
                tracing::warn!(session = %id, client = client.id(), "seat lost: {reason}");
            }
            stats.lose_seat(game_protocol::text::cut(&reason, 64));
        }
        SeatEvent::Error(err) => {
            if stats.violations < LOGGED_DISCONNECTS {
                tracing::warn!(session = %id, client = client.id(), "resume: {err}");
            }
            stats.violations += 1;
        }
    }
}

impl LoadHandler {
    /// A client back from [`Rejoin`] on its new session `id`: its RESUME goes first.
    pub(super) fn rejoined(&mut self, ctx: &mut Context<'_>, id: SessionId, mut client: Client) {
        let now = self.nanos(ctx.now());
        client.open = true;
        if let Some(resume) = client.seat.as_mut().and_then(|seat| seat.resume(now)) {
            let body = resume.encode().expect("dummy-N is a valid player id");
            let _ = ctx.send(id, resume_packet(RESUME, &body));
            client.replay_before = Some(now);
        }
        self.clients.insert(id, client);
    }

    /// Session `id` ended without a farewell at `now`: true if its client left for
    /// [`Rejoin`] to resume its seat; otherwise a seat it could not keep is counted lost.
    pub(super) fn dropped(&mut self, id: SessionId, now: u64) -> bool {
        let Some(client) = self.clients.get_mut(&id) else {
            return false;
        };
        let Some(seat) = client.seat.as_mut() else {
            return false;
        };
        let (before, overflowed) = (seat.link(), seat.overflowed());
        if !seat.on_drop(now) {
            match before {
                Link::Lost => {} // counted when SEAT_LOST came
                _ if overflowed => self.stats.resume.lose_seat("client_buffer"),
                _ if seat.out_of_attempts() => self.stats.resume.lose_seat("resume_failed"),
                _ => self.stats.resume.lose_seat("no_seat"),
            }
            return false;
        }
        let (Some(rejoin), Some(server)) = (&self.shared.rejoin, client.server) else {
            return false;
        };
        if !matches!(before, Link::Away { .. }) {
            self.stats.resume.server_drops += 1; // the chaos marks its own drops away first
        }
        let client = self.clients.remove(&id).expect("looked up above");
        rejoin.park(server, client);
        true
    }

    /// `--chaos`: aborts the clients due to be dropped by now.
    pub(super) fn chaos(&mut self, ctx: &mut Context<'_>, now: u64) {
        let Some(config) = self.resume.filter(|r| r.chaos > 0) else {
            return;
        };
        let Some(elapsed) = now.checked_sub(self.start_nanos) else {
            return;
        };
        let chaos = self.chaos.get_or_insert_with(|| {
            Chaos::new(
                config.chaos,
                config.seed,
                ctx.loop_index(),
                ctx.loop_count(),
            )
        });
        let due = chaos.due(elapsed);
        if due == 0 {
            return;
        }
        let mut candidates: Vec<SessionId> = self
            .clients
            .iter()
            .filter(|(_, c)| {
                c.open
                    && c.seat
                        .as_ref()
                        .is_some_and(|s| matches!(s.link(), Link::Live | Link::Resuming { .. }))
            })
            .map(|(&id, _)| id)
            .collect();
        candidates.sort_unstable_by_key(|id| self.clients[id].index); // the seed decides, not the map
        for _ in 0..due {
            let Some(id) = chaos.pick(&candidates) else {
                return;
            };
            candidates.retain(|&c| c != id);
            if let Some(seat) = self.clients.get_mut(&id).and_then(|c| c.seat.as_mut()) {
                if matches!(seat.link(), Link::Resuming { .. }) {
                    self.stats.resume.handshake_drops += 1; // folds into the resume it cut
                }
                seat.on_drop(now);
                self.stats.resume.drops += 1;
                ctx.abort(id, CloseReason::Local);
            }
        }
    }

    /// `--resume`: sends the ACKs due by `now`.
    pub(super) fn acknowledge(&mut self, ctx: &mut Context<'_>, now: u64) {
        for (&id, client) in self.clients.iter_mut().filter(|(_, c)| c.open) {
            if let Some(position) = client.seat.as_mut().and_then(|seat| seat.ack_due(now)) {
                let _ = ctx.send(id, resume_packet(ACK, &ack(position)));
            }
        }
    }
}
