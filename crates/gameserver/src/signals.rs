//! The signals of `gameserver`. A stop signal: the first asks the server to stop accepting and
//! drain, the second ends the process at once; both leave it with exit status 0. With TLS,
//! `SIGHUP` reloads the certificate and key for new connections.
//!
//! | platform | what counts as a stop signal                   | how it is heard                  |
//! |----------|------------------------------------------------|----------------------------------|
//! | Unix     | `SIGINT` (Ctrl-C), `SIGTERM`                   | `signal-hook`'s iterator thread  |
//! | Windows  | the console's `CTRL_C_EVENT`, `CTRL_BREAK_EVENT` | `ctrlc` (`SetConsoleCtrlHandler`) |
//!
//! Either way the signal is heard on a thread of its own, never inside an event loop, and what
//! happens next is the same ([`Relay`]). Windows has no `SIGHUP`: a new certificate takes a
//! restart there.

use std::sync::mpsc;

use anyhow::Context as _;

/// Receives the name of the first stop signal (`"SIGTERM"`, `"Ctrl-C/Ctrl-Break"`).
pub(crate) type Stop = mpsc::Receiver<&'static str>;

/// What `SIGHUP` does (reload the TLS certificate), run on the signal thread.
pub(crate) type Reload = Box<dyn FnMut() + Send>;

/// What a stop signal does: the first is passed on (stop and drain), the second exits now.
struct Relay {
    first: Option<mpsc::Sender<&'static str>>,
}

impl Relay {
    /// A relay and the receiver of its first signal.
    fn new() -> (Relay, Stop) {
        let (first, stop) = mpsc::channel();
        (Relay { first: Some(first) }, stop)
    }

    /// Signal `name` arrived.
    fn arrived(&mut self, name: &'static str) {
        match self.first.take() {
            // The receiver may already be gone (the server is stopping of its own accord).
            Some(first) => drop(first.send(name)),
            None => {
                tracing::warn!(
                    signal = name,
                    "second signal: exiting without waiting for the drain"
                );
                std::process::exit(0);
            }
        }
    }
}

/// Starts hearing the stop signals, and `SIGHUP` if there is something to `reload` (else it
/// keeps its default: it ends the process); installed before the loops start, so a signal
/// during start-up is not lost.
///
/// # Errors
/// The handlers could not be installed, or their thread not started.
#[cfg(unix)]
pub(crate) fn watch(mut reload: Option<Reload>) -> anyhow::Result<Stop> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    let mut heard = vec![SIGINT, SIGTERM];
    if reload.is_some() {
        heard.push(SIGHUP);
    }
    let mut signals = Signals::new(heard).context("installing signal handlers")?;
    let (mut relay, stop) = Relay::new();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                match (signal, reload.as_mut()) {
                    (SIGHUP, Some(reload)) => reload(),
                    (SIGINT, _) => relay.arrived("SIGINT"),
                    _ => relay.arrived("SIGTERM"),
                }
            }
        })
        .context("starting the signal thread")?;
    Ok(stop)
}

/// Starts hearing the stop signals; installed before the loops start, so a signal during
/// start-up is not lost. Closing the console window or logging off is not one: Windows ends
/// the process then.
///
/// # Errors
/// The console handler could not be installed, or its thread not started.
#[cfg(windows)]
pub(crate) fn watch(_reload: Option<Reload>) -> anyhow::Result<Stop> {
    let (mut relay, stop) = Relay::new();
    ctrlc::set_handler(move || relay.arrived("Ctrl-C/Ctrl-Break"))
        .context("installing the console control handler")?;
    Ok(stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_signal_is_passed_on_once() {
        let (mut relay, stop) = Relay::new();
        assert!(stop.try_recv().is_err());
        relay.arrived("SIGTERM");
        assert_eq!(stop.try_recv(), Ok("SIGTERM"));
        assert!(relay.first.is_none(), "a second signal would exit");
        assert_eq!(stop.try_recv(), Err(mpsc::TryRecvError::Disconnected));
    }

    #[test]
    fn a_first_signal_nobody_waits_for_is_dropped() {
        let (mut relay, stop) = Relay::new();
        drop(stop);
        relay.arrived("SIGINT");
        assert!(relay.first.is_none());
    }
}
