//! The live progress bar of a load run (on stderr, when it is a terminal): connections up,
//! messages/s (chat: deliveries/s), errors so far, time left.
//!
//! It is fed from [`load::run_observed`](crate::load::run_observed) every 250 ms with counts
//! the loops publish every 100 ms: drawing it never touches the loops' message path.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::load::Progress;

/// Draws [`Progress`] samples as one line on stderr.
#[derive(Debug)]
pub struct ProgressLine {
    bar: ProgressBar,
    clients: u64,
    chat: bool,
    /// The previous sample's elapsed time and count, for the rate.
    last: (Duration, u64),
}

impl ProgressLine {
    /// A bar for a run of `clients` clients sending for `duration` (`chat`: counts deliveries).
    pub fn new(duration: Duration, clients: u64, chat: bool) -> ProgressLine {
        let bar = ProgressBar::with_draw_target(
            Some(duration.as_millis() as u64),
            ProgressDrawTarget::stderr_with_hz(4),
        );
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        ProgressLine {
            bar,
            clients,
            chat,
            last: (Duration::ZERO, 0),
        }
    }

    /// Shows `p`.
    pub fn update(&mut self, p: &Progress) {
        let count = if self.chat { p.deliveries } else { p.messages };
        let (then, before) = self.last;
        let span = p.elapsed.saturating_sub(then).as_secs_f64();
        let rate = if span > 0.0 {
            count.saturating_sub(before) as f64 / span
        } else {
            0.0
        };
        self.last = (p.elapsed, count);
        self.bar
            .set_position((p.elapsed.as_millis() as u64).min(p.duration.as_millis() as u64));
        let when = if p.draining {
            "draining".to_string()
        } else {
            format!(
                "{:.1} s left",
                p.duration.saturating_sub(p.elapsed).as_secs_f64()
            )
        };
        self.bar.set_message(format!(
            "{}/{} conns  {rate:.0} {}/s  {} errors  {when}",
            p.connections,
            self.clients,
            if self.chat { "deliveries" } else { "msgs" },
            p.errors
        ));
    }

    /// Removes the bar (before the report is printed).
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
