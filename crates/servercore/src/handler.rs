//! [`Handler`]: what the application implements; the session layer calls it.

use bytes::Bytes;

use crate::{CloseReason, Context, SessionId};

/// The application's side of a service: called on the event loop's thread for every session
/// event of that loop. Each loop has its own handler instance (made by the factory given to
/// [`Service::bind`](crate::Service::bind)), so a handler needs no locks for its own state.
///
/// Calls for one session arrive in order: `connected`, then any number of `received` and
/// `sent`, then exactly one `disconnected`. Handlers must not block: the whole loop waits.
///
/// # Examples
/// The lecture's echo server:
/// ```
/// use servercore::{Context, Handler, SessionId};
///
/// struct Echo;
///
/// impl Handler for Echo {
///     fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
///         let _ = ctx.send_copy(id, data); // an error means the session is closing anyway
///         data.len()
///     }
/// }
/// ```
pub trait Handler: Send + 'static {
    /// A session was accepted (or adopted) and is ready for sends.
    fn connected(&mut self, ctx: &mut Context<'_>, id: SessionId) {
        let _ = (ctx, id);
    }

    /// Bytes arrived. `data` is everything received and not yet consumed, oldest first.
    /// Return how many bytes were consumed: the rest is kept (up to
    /// `ServiceConfig::recv_buffer_limit`) and offered again, followed by new bytes, on the
    /// next call. A packet handler returns the length of the whole packets it decoded.
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize;

    /// The kernel accepted `bytes` more bytes of this session's send queue.
    fn sent(&mut self, ctx: &mut Context<'_>, id: SessionId, bytes: usize) {
        let _ = (ctx, id, bytes);
    }

    /// The session is gone; `id` is stale from now on. Called exactly once per session.
    fn disconnected(&mut self, ctx: &mut Context<'_>, id: SessionId, reason: CloseReason) {
        let _ = (ctx, id, reason);
    }

    /// A send, close or abort was made to `id`, an id this loop holds past its connection
    /// ([`Context::hold`]): from this loop's handler or another's, in the order made. Called
    /// at the end of the iteration. A game that keeps a player's seat records or forwards it.
    fn held(&mut self, ctx: &mut Context<'_>, id: SessionId, request: HeldRequest) {
        let _ = (ctx, id, request);
    }

    /// Another thread called [`Notifier::notify`](crate::Notifier::notify) for this loop.
    /// Notifications coalesce: however many arrive while the loop is busy, this runs once,
    /// at the end of the loop's next iteration (and sends made here leave in that iteration).
    /// Drain your own queue here (for example messages from a backplane thread).
    fn notified(&mut self, ctx: &mut Context<'_>) {
        let _ = ctx;
    }

    /// Called about every `ServiceConfig::tick` (if set), for timers and paced sends.
    fn tick(&mut self, ctx: &mut Context<'_>) {
        let _ = ctx;
    }
}

/// What was asked of a held id ([`Handler::held`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldRequest {
    /// [`Context::send`] (or `send_copy`): the buffer.
    Send(Bytes),
    /// [`Context::close_with`]: a graceful close.
    Close(CloseReason),
    /// [`Context::abort`].
    Abort(CloseReason),
}
