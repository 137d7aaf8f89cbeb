//! [`ChromeDriver`]: the `chromedriver` child process (Debian package `chromium-driver`) on a
//! free loopback port, in its own process group so that dropping it kills Chromium too.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::wire::{Method, Wire};
use super::BrowserError;
use crate::free_port;

/// How long chromedriver may take to say it is ready (it starts in well under a second on an
/// idle machine; a busy one can stall it for many).
const READY: Duration = Duration::from_secs(60);

/// How many ports are tried when chromedriver exits at once (another process took the port).
const PORT_TRIES: usize = 5;

/// How much of chromedriver's output an error shows.
const LOG_TAIL: u64 = 4096;

/// A running `chromedriver --port=PORT`, killed (with its whole process group, so the
/// Chromium it started too) and reaped on drop.
#[derive(Debug)]
pub(crate) struct ChromeDriver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl ChromeDriver {
    /// Runs `program` on a free loopback port and waits until its `/status` says ready. Its
    /// output goes to `dir/chromedriver.log`.
    ///
    /// # Errors
    /// [`BrowserError::Missing`] if `program` cannot be found, [`BrowserError::DriverStart`]
    /// (with the log's end) if it exits or is not ready in time on every port tried.
    pub(crate) fn start(program: &Path, dir: &Path) -> Result<ChromeDriver, BrowserError> {
        let log = dir.join("chromedriver.log");
        let mut reason = String::new();
        for _ in 0..PORT_TRIES {
            let mut driver = ChromeDriver::spawn(program, free_port(), &log)?;
            match driver.wait_ready() {
                Ok(()) => return Ok(driver),
                Err(why) => reason = why,
            }
        }
        Err(BrowserError::DriverStart {
            reason,
            log: tail(&log),
        })
    }

    fn spawn(program: &Path, port: u16, log: &Path) -> Result<ChromeDriver, BrowserError> {
        let io_error = |error| BrowserError::Io {
            path: log.to_owned(),
            error,
        };
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(io_error)?;
        let err = out.try_clone().map_err(io_error)?;
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0) // its own group: Drop kills Chromium with it
            .spawn()
            .map_err(|error| spawn_error(program, error))?;
        Ok(ChromeDriver {
            child,
            port,
            log: log.to_owned(),
        })
    }

    /// Polls `/status` until it says ready; `Err(reason)` if it exits or the deadline passes.
    fn wait_ready(&mut self) -> Result<(), String> {
        let wire = Wire::new(self.port);
        let deadline = Instant::now() + READY;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("it exited ({status}) on port {}", self.port));
            }
            let answer = wire.call(Method::Get, "/status", None, Duration::from_secs(5));
            if let Ok(value) = answer {
                // Ready, and still ours: not another driver that holds the port we lost.
                let ready = value.get("ready").and_then(|r| r.as_bool()) == Some(true);
                if ready && matches!(self.child.try_wait(), Ok(None)) {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("/status not ready after {READY:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its port on 127.0.0.1.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The end of its output so far, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        tail(&self.log)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) has no memory-safety preconditions. `-pid` names the process
            // group this child leads (spawned with `process_group(0)`); the child is not yet
            // reaped (only `self.child` reaps it, below), so the id is still ours.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `Missing` for a program that is not there, `DriverStart` for any other spawn failure.
fn spawn_error(program: &Path, error: io::Error) -> BrowserError {
    if error.kind() == io::ErrorKind::NotFound {
        return BrowserError::Missing {
            program: program.to_owned(),
        };
    }
    BrowserError::DriverStart {
        reason: format!("cannot run {}: {error}", program.display()),
        log: String::new(),
    }
}

/// The last [`LOG_TAIL`] bytes of `path` (lossy UTF-8), empty if unreadable.
fn tail(path: &Path) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_reported_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let err =
            ChromeDriver::start(Path::new("/nonexistent/chromedriver"), dir.path()).unwrap_err();
        assert!(matches!(err, BrowserError::Missing { .. }), "{err}");
        assert!(err.to_string().contains("chromium-driver"), "{err}");
    }

    #[test]
    fn a_program_that_exits_is_a_start_error_with_its_output() {
        let dir = tempfile::tempdir().unwrap();
        // `false` exits at once, whatever its arguments: every port try fails the same way.
        let err = ChromeDriver::start(Path::new("false"), dir.path()).unwrap_err();
        assert!(matches!(err, BrowserError::DriverStart { .. }), "{err}");
        assert!(err.to_string().contains("exited"), "{err}");
    }

    #[test]
    fn tail_keeps_the_end_of_a_long_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let text = format!("{}END", "x".repeat(10_000));
        std::fs::write(&path, &text).unwrap();
        let got = tail(&path);
        assert_eq!(got.len() as u64, LOG_TAIL);
        assert!(got.ends_with("END"));
        assert_eq!(tail(&dir.path().join("none")), "");
    }
}
