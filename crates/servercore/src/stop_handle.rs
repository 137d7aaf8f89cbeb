//! [`StopHandle`]: stops a running [`Service`](crate::Service) from any thread, and what
//! [`Service::wait`](crate::Service::wait) sleeps on.

use std::sync::{Arc, Condvar, Mutex};

use crate::mailbox::Mailbox;

/// Why a service should stop, as [`Service::wait`](crate::Service::wait) learns it.
#[derive(Debug, Default)]
pub(crate) struct Ending {
    state: Mutex<EndState>,
    changed: Condvar,
}

#[derive(Debug, Default, Clone, Copy)]
struct EndState {
    stop_requested: bool,
    loops_ended: usize,
}

impl Ending {
    /// A loop thread ended (it failed, or it was stopped).
    pub(crate) fn loop_ended(&self) {
        self.update(|s| s.loops_ended += 1);
    }

    fn update(&self, change: impl FnOnce(&mut EndState)) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut state);
        self.changed.notify_all();
    }

    /// Blocks until a stop was requested or a loop ended.
    pub(crate) fn wait(&self) {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let _ended = self
            .changed
            .wait_while(state, |s| !s.stop_requested && s.loops_ended == 0)
            .unwrap_or_else(|e| e.into_inner());
    }
}

/// Stops a service from any thread (a signal-handling thread, an admin command); cheap to
/// clone. The loops stop accepting and drain (see `ServiceConfig::shutdown_drain`), and
/// [`Service::wait`](crate::Service::wait) returns.
///
/// # Examples
/// ```
/// use servercore::{Context, Handler, Service, ServiceConfig, SessionId};
///
/// struct Echo;
/// impl Handler for Echo {
///     fn received(&mut self, ctx: &mut Context<'_>, id: SessionId, data: &[u8]) -> usize {
///         let _ = ctx.send_copy(id, data);
///         data.len()
///     }
/// }
///
/// let service = Service::bind("127.0.0.1:0".parse().unwrap(), ServiceConfig::default(), |_| Echo).unwrap();
/// let stop = service.stop_handle();
/// std::thread::spawn(move || stop.stop()); // e.g. on SIGTERM
/// for handler in service.wait() {
///     handler.unwrap(); // every loop ended cleanly
/// }
/// ```
#[derive(Clone, Debug)]
pub struct StopHandle {
    loops: Arc<[Arc<Mailbox>]>,
    ending: Arc<Ending>,
}

impl StopHandle {
    pub(crate) fn new(loops: Arc<[Arc<Mailbox>]>, ending: Arc<Ending>) -> StopHandle {
        StopHandle { loops, ending }
    }

    /// Asks every loop to stop (drain, then close) and wakes [`Service::wait`](crate::Service::wait).
    pub fn stop(&self) {
        for mailbox in self.loops.iter() {
            mailbox.request_stop();
        }
        self.ending.update(|s| s.stop_requested = true);
    }
}
