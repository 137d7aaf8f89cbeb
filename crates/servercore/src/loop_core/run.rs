//! [`LoopCore::run`]: the event loop, once for both models (muduo's `EventLoop::loop()`).

use std::io;

use super::LoopCore;
use crate::driver::{Driver, Event};
use crate::mailbox::Command;
use crate::{CloseReason, Context, Handler};

impl<H: Handler> LoopCore<H> {
    /// Runs the loop over `driver` until stop is requested and the sessions drained (or the
    /// drain deadline passed), then closes what is left and lets the driver finish.
    ///
    /// ```text
    ///   loop {
    ///       poll the kernel          (epoll_wait | io_uring_enter)
    ///       dispatch its events      (accept, input, writable, released)
    ///       run mailbox commands     (adopted sockets, sends and closes from other loops)
    ///       carry out pending work   (flush direct replies and queued output, close,
    ///                                 pause/resume reading)
    ///       tick, notified, sweep; post to other loops; carry out what they queued
    ///   }
    /// ```
    ///
    /// # Errors
    /// The driver's kernel wait failed for good; the caller closes the sessions.
    pub(crate) fn run<D: Driver>(&mut self, driver: &mut D) -> io::Result<()> {
        let mut events = Vec::new();
        while self.iterate(driver, &mut events)? {}
        for id in self.session_ids() {
            self.close_session(driver, id, CloseReason::Shutdown); // drain deadline passed
        }
        debug_assert_eq!(self.session_count(), 0);
        let finished = driver.finish();
        self.publish_stats(driver.counters()); // the final figures, for `Service::stats`
        finished
    }

    /// One iteration; false once the loop was stopped and has drained (or the drain deadline
    /// passed). `events` is a reused list. Tests drive the loop with it, one step at a time.
    pub(super) fn iterate<D: Driver>(
        &mut self,
        driver: &mut D,
        events: &mut Vec<Event<D::Socket>>,
    ) -> io::Result<bool> {
        driver.poll(self.timeout(), events)?;
        self.begin_iteration();
        for event in events.drain(..) {
            self.dispatch(driver, event);
        }
        self.run_commands(driver);
        self.carry_out_pending(driver);
        self.end_iteration(driver);
        self.carry_out_pending(driver);
        self.trim(driver);
        if self.accept_backoff.resume_due(self.state.now) {
            driver.resume_accepting(); // a descriptor came free, or the pause ran out
        }
        if self.mailbox().stop_requested() {
            driver.stop_accepting();
            self.begin_shutdown();
            self.carry_out_pending(driver);
            if self.drained() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Handles one thing the kernel said.
    pub(super) fn dispatch<D: Driver>(&mut self, driver: &mut D, event: Event<D::Socket>) {
        match event {
            Event::Accepted { stream, peer } => self.admit(driver, stream, peer),
            Event::AcceptFailed(err) => self.accept_failed(&err),
            Event::Readable(id) => self.take_input(driver, id),
            Event::Writable(id) => self.flush(driver, id),
            Event::Released => self.accept_backoff.descriptor_freed(self.state.now),
        }
    }

    /// Work other threads posted: adopted sockets, and sends, closes and aborts that other
    /// loops' handlers aimed at this loop's sessions.
    fn run_commands<D: Driver>(&mut self, driver: &mut D) {
        let mut commands = std::mem::take(&mut self.scratch_commands);
        self.mailbox().drain_into(&mut commands);
        for command in commands.drain(..) {
            let mut ctx = Context::new(&mut self.state);
            match command {
                Command::Adopt { stream, arrival } => self.adopt(driver, stream, arrival),
                Command::Send { id, buf } => {
                    let _ = ctx.send(id, buf); // a stale id or a full queue: handled there
                }
                Command::Close { id, reason } => ctx.close_with(id, reason),
                Command::Abort { id, reason } => ctx.abort(id, reason),
            }
        }
        self.scratch_commands = commands;
    }
}
