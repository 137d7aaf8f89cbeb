//! [`Mailbox`]: how other threads reach an event loop (new sockets, cross-loop sends, stop).

use std::io;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;

use crate::{CloseReason, LoopStats, SessionId};

/// Wakes a loop blocked in its kernel wait (`epoll_wait`, `io_uring_enter`). Each driver
/// supplies its own: an eventfd-backed `mio::Waker`, or an eventfd the ring reads.
pub(crate) trait Wake: Send + Sync {
    fn wake(&self) -> io::Result<()>;
}

/// How a socket handed to a loop came.
#[derive(Debug)]
pub(crate) enum Arrival {
    /// A client's socket (`Service::adopt`): bytes as they are, or through the stages it
    /// comes with (`Service::adopt_tls`: its TLS client connection); not under the caps.
    Adopted(Option<Box<crate::session::pipeline::Pipeline>>),
    /// Accepted by a listener of its own thread (the WebSocket listener): admitted under the
    /// caps like any accepted connection, with the stages its listener gives.
    Accepted(crate::session::pipeline::Recipe),
}

/// Work handed to a loop from outside it.
#[derive(Debug)]
pub(crate) enum Command {
    /// Take this connected socket as a new session: a client socket (`Service::adopt`), or a
    /// connection from an accept thread (`Service::listen_websocket`).
    Adopt { stream: TcpStream, arrival: Arrival },
    /// Queue `buf` on session `id` of this loop (a send from another loop's handler).
    Send { id: SessionId, buf: Bytes },
    /// Close session `id` of this loop after flushing it (`Context::close_with`).
    Close { id: SessionId, reason: CloseReason },
    /// Close session `id` of this loop at once, dropping its queue (`Context::abort`).
    Abort { id: SessionId, reason: CloseReason },
}

impl Command {
    /// Bytes of payload the command carries (what counts against `mailbox_limit`).
    pub(crate) fn payload_len(&self) -> usize {
        match self {
            Command::Send { buf, .. } => buf.len(),
            Command::Adopt { .. } | Command::Close { .. } | Command::Abort { .. } => 0,
        }
    }
}

/// The part of a loop that other threads share: its inbox, its waker, its stop flag and its
/// live-session count.
///
/// Posting is batched: a loop collects everything it sends to each other loop during one
/// iteration and posts it with one lock and at most one wake-up, and a wake-up is only
/// issued when the inbox was empty (otherwise one is already pending).
#[derive(Default)]
pub(crate) struct Mailbox {
    inbox: Mutex<Vec<Command>>,
    /// Set (under the lock) when something is posted, cleared by the drain.
    has_mail: AtomicBool,
    /// Payload bytes in the inbox (see `ServiceConfig::mailbox_limit`); changed only under
    /// the inbox lock, read without it.
    pending_bytes: AtomicUsize,
    waker: OnceLock<Box<dyn Wake>>,
    stop: AtomicBool,
    /// The loop's thread ended with an error: nothing posted here will be taken.
    failed: AtomicBool,
    live: AtomicUsize,
    stats: Mutex<LoopStats>,
    /// Set by [`Mailbox::notify`], cleared when the loop calls its handler's `notified`.
    notified: AtomicBool,
}

impl Mailbox {
    /// Installs the loop's waker (once, when the loop thread has built its driver).
    pub(crate) fn set_waker(&self, waker: Box<dyn Wake>) {
        if self.waker.set(waker).is_err() {
            unreachable!("a loop's waker is set once");
        }
    }

    /// Appends commands to the inbox and wakes the loop if it might be asleep.
    /// Once the loop has failed, commands are dropped here instead (sockets in `Adopt` are
    /// closed).
    pub(crate) fn post(&self, commands: impl IntoIterator<Item = Command>) {
        let was_empty = {
            let mut inbox = self.inbox.lock().unwrap_or_else(|e| e.into_inner());
            if self.failed() {
                return; // checked under the lock: `mark_failed` sets it holding the lock
            }
            let was_empty = inbox.is_empty();
            let mut bytes = 0;
            inbox.extend(commands.into_iter().inspect(|c| bytes += c.payload_len()));
            self.pending_bytes.fetch_add(bytes, Ordering::Relaxed);
            self.has_mail.store(true, Ordering::Release);
            was_empty
        };
        if was_empty {
            self.wake();
        }
    }

    /// Moves everything in the inbox into `out`. Takes the lock only when something was
    /// posted since the last drain (one atomic load per loop iteration otherwise).
    pub(crate) fn drain_into(&self, out: &mut Vec<Command>) {
        if !self.has_mail.swap(false, Ordering::Acquire) {
            return;
        }
        let mut inbox = self.inbox.lock().unwrap_or_else(|e| e.into_inner());
        // Everything is taken, and the count only changes under this lock.
        self.pending_bytes.store(0, Ordering::Relaxed);
        out.append(&mut inbox);
    }

    /// Payload bytes posted to this loop and not yet taken by it.
    pub(crate) fn pending_bytes(&self) -> usize {
        self.pending_bytes.load(Ordering::Relaxed)
    }

    /// Asks the loop to call its handler's `notified` (once, however many notifications
    /// arrive before it does) and wakes it if this is the first since the last call.
    pub(crate) fn notify(&self) {
        if !self.failed() && !self.notified.swap(true, Ordering::AcqRel) {
            self.wake();
        }
    }

    /// True (once) if a notification arrived since the last call.
    pub(crate) fn take_notification(&self) -> bool {
        self.notified.load(Ordering::Relaxed) && self.notified.swap(false, Ordering::AcqRel)
    }

    /// Asks the loop to stop and wakes it.
    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake();
    }

    /// The loop failed: later posts are dropped, and what waits in the inbox is dropped now.
    pub(crate) fn mark_failed(&self) {
        let mut inbox = self.inbox.lock().unwrap_or_else(|e| e.into_inner());
        self.failed.store(true, Ordering::Release);
        inbox.clear();
        self.pending_bytes.store(0, Ordering::Relaxed);
        self.live.store(0, Ordering::Relaxed);
    }

    /// True once the loop has failed.
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    pub(crate) fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    pub(crate) fn set_live(&self, n: usize) {
        self.live.store(n, Ordering::Relaxed);
    }

    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Replaces the loop's published stats (called by the loop about every 100 ms).
    pub(crate) fn publish(&self, stats: &LoopStats) {
        self.stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone_from(stats);
    }

    /// The loop's last published stats.
    pub(crate) fn stats(&self) -> LoopStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn wake(&self) {
        if let Some(waker) = self.waker.get() {
            if let Err(err) = waker.wake() {
                tracing::error!("cannot wake event loop: {err}");
            }
        }
    }
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox")
            .field("stop", &self.stop_requested())
            .field("live", &self.live())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(len: usize) -> Command {
        Command::Send {
            id: SessionId::new(1, 0, 1),
            buf: Bytes::from(vec![0; len]),
        }
    }

    #[test]
    fn pending_bytes_follow_posts_and_drains() {
        let mailbox = Mailbox::default();
        mailbox.post([
            send(10),
            Command::Close {
                id: SessionId::new(1, 1, 1),
                reason: CloseReason::Local,
            },
            send(5),
        ]);
        assert_eq!(mailbox.pending_bytes(), 15);
        let mut out = Vec::new();
        mailbox.drain_into(&mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(mailbox.pending_bytes(), 0);
    }

    #[test]
    fn a_failed_loop_takes_nothing_more() {
        let mailbox = Mailbox::default();
        mailbox.post([send(10)]);
        mailbox.mark_failed();
        assert!(mailbox.failed());
        assert_eq!(mailbox.pending_bytes(), 0, "what waited is dropped");
        mailbox.post([send(7)]);
        let mut out = Vec::new();
        mailbox.drain_into(&mut out);
        assert!(out.is_empty(), "posts after the failure are dropped");
        assert_eq!(mailbox.pending_bytes(), 0);
    }
}
