//! Raw echo: the lecture's server. Every byte received is sent back, in order.

use servercore::{Context, Handler, SessionId};

/// Echoes every byte back to its sender.
///
/// The bytes are copied once (`Context::send_copy`), as a direct reply: they go out with one
/// `send(2)` after the loop has read this iteration's input (on either model), and only what
/// the socket does not take is queued, to go out with the session's next vectored write. If the client does not read its echoes, its
/// send queue passes `send_queue_pause` and the session layer stops reading from it until the
/// queue drains: memory stays bounded and nothing is dropped.
#[derive(Debug, Default)]
pub struct Echo;

impl Handler for Echo {
    fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
        // An error means the session is already closing; its bytes have nowhere to go.
        let _ = ctx.send_copy(id, data);
        data.len()
    }
}
