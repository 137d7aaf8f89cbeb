//! [`Notifier`]: how a thread outside the service gets a loop's handler to run.
//!
//! The loops never wait on anything but their kernel queue, so a thread that has work for a
//! handler (a backplane client, a game-logic thread, a timer wheel) puts it in a queue of its
//! own and calls [`Notifier::notify`]: the loop wakes (an `eventfd` write, the lecture's
//! `WSASetEvent`) and calls [`Handler::notified`](crate::Handler::notified), which drains
//! that queue on the loop's thread.

use std::sync::Arc;

use crate::mailbox::Mailbox;

/// Wakes a service's event loops from any thread; cheap to clone.
///
/// Notifications coalesce: a burst of `notify` calls costs one wake-up and one
/// `Handler::notified` call per loop iteration.
///
/// # Examples
/// ```
/// use std::sync::mpsc;
/// use std::sync::{Arc, Mutex};
/// use servercore::{Context, Handler, Service, ServiceConfig, SessionId};
///
/// struct Inbox(Arc<Mutex<mpsc::Receiver<String>>>, mpsc::Sender<String>);
/// impl Handler for Inbox {
///     fn received(&mut self, _: &mut Context<'_>, _: SessionId, data: &[u8]) -> usize {
///         data.len()
///     }
///     fn notified(&mut self, _ctx: &mut Context<'_>) {
///         for text in self.0.lock().unwrap().try_iter() {
///             self.1.send(format!("loop got {text}")).unwrap();
///         }
///     }
/// }
///
/// let (to_loop, inbox) = mpsc::channel();
/// let inbox = Arc::new(Mutex::new(inbox));
/// let (done_tx, done) = mpsc::channel();
/// let config = ServiceConfig { threads: 1, ..Default::default() };
/// let service = Service::unbound(config, |_| Inbox(inbox.clone(), done_tx.clone())).unwrap();
/// to_loop.send("hello".to_string()).unwrap();
/// service.notifier().notify(0);
/// assert_eq!(done.recv().unwrap(), "loop got hello");
/// service.stop();
/// ```
#[derive(Clone)]
pub struct Notifier {
    loops: Arc<[Arc<Mailbox>]>,
}

impl Notifier {
    pub(crate) fn new(loops: Arc<[Arc<Mailbox>]>) -> Notifier {
        Notifier { loops }
    }

    /// Number of loops (valid indexes for [`Notifier::notify`]).
    pub fn loops(&self) -> usize {
        self.loops.len()
    }

    /// Has loop `loop_index` call its handler's `notified` soon. Returns false if there is
    /// no such loop or it has failed (nothing will run there).
    pub fn notify(&self, loop_index: usize) -> bool {
        match self.loops.get(loop_index) {
            Some(mailbox) if !mailbox.failed() => {
                mailbox.notify();
                true
            }
            _ => false,
        }
    }

    /// Notifies every loop.
    pub fn notify_all(&self) {
        for index in 0..self.loops.len() {
            self.notify(index);
        }
    }
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("loops", &self.loops.len())
            .finish()
    }
}
