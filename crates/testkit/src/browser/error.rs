//! [`BrowserError`]: everything that can go wrong between a test and headless Chromium, with
//! enough said (the hint to install the packages, chromedriver's log, the last text seen) to
//! fix it from a CI log alone.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// What the install hint says, in every error about a missing or broken browser.
pub const INSTALL_HINT: &str = "install chromium chromium-driver; .ci/run does";

/// An error of [`Browser`](super::Browser) or [`Element`](super::Element).
#[derive(Debug)]
pub enum BrowserError {
    /// A program the harness needs is not there (`chromedriver` on `PATH`, the Chromium binary).
    Missing {
        /// The program looked for.
        program: PathBuf,
    },
    /// `chromedriver` could not be run, or never said it was ready.
    DriverStart {
        /// What happened.
        reason: String,
        /// The end of chromedriver's own output.
        log: String,
    },
    /// An HTTP exchange with chromedriver failed below WebDriver (connection, timeout, a body
    /// that is not JSON).
    Http {
        /// The request, e.g. `POST /session`.
        request: String,
        /// The transport's error.
        error: ureq::Error,
    },
    /// chromedriver answered with a WebDriver error (W3C WebDriver, "Errors").
    WebDriver {
        /// The request, e.g. `POST /session/…/element`.
        request: String,
        /// The HTTP status.
        status: u16,
        /// The WebDriver error code, e.g. `no such element`.
        error: String,
        /// chromedriver's message.
        message: String,
    },
    /// chromedriver answered 200 with JSON that does not have the shape WebDriver says.
    Protocol {
        /// The request.
        request: String,
        /// What was expected and what came.
        detail: String,
    },
    /// A condition polled for did not hold before its deadline.
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        waited: Duration,
        /// The last thing seen (e.g. an element's text), empty if nothing useful.
        last: String,
    },
    /// A local file (the screenshot) could not be written.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
}

impl BrowserError {
    /// True for the WebDriver error `code` (e.g. `"no such element"`).
    pub fn is_webdriver(&self, code: &str) -> bool {
        matches!(self, BrowserError::WebDriver { error, .. } if error == code)
    }
}

impl fmt::Display for BrowserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrowserError::Missing { program } => {
                write!(f, "{} not found ({INSTALL_HINT})", program.display())
            }
            BrowserError::DriverStart { reason, log } => {
                write!(f, "chromedriver did not start: {reason} ({INSTALL_HINT})")?;
                if !log.is_empty() {
                    write!(f, "\nchromedriver's output ends with:\n{log}")?;
                }
                Ok(())
            }
            BrowserError::Http { request, error } => write!(f, "{request}: {error}"),
            BrowserError::WebDriver {
                request,
                status,
                error,
                message,
            } => write!(f, "{request}: HTTP {status}, {error}: {message}"),
            BrowserError::Protocol { request, detail } => {
                write!(f, "{request}: unexpected answer: {detail}")
            }
            BrowserError::Timeout { what, waited, last } => {
                write!(f, "timed out after {waited:?} waiting for {what}")?;
                if !last.is_empty() {
                    write!(f, " (last seen: {last:?})")?;
                }
                Ok(())
            }
            BrowserError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for BrowserError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BrowserError::Http { error, .. } => Some(error),
            BrowserError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_names_the_program_and_the_packages() {
        let err = BrowserError::Missing {
            program: PathBuf::from("/usr/bin/chromium"),
        };
        let text = err.to_string();
        assert!(text.contains("/usr/bin/chromium"), "{text}");
        assert!(text.contains("chromium-driver"), "{text}");
    }

    #[test]
    fn timeout_shows_what_and_the_last_text() {
        let err = BrowserError::Timeout {
            what: "#log to contain \"hi\"".into(),
            waited: Duration::from_secs(3),
            last: "hello".into(),
        };
        let text = err.to_string();
        assert!(
            text.contains("#log") && text.contains("\"hello\""),
            "{text}"
        );
    }

    #[test]
    fn is_webdriver_matches_the_code_only() {
        let err = BrowserError::WebDriver {
            request: "POST /x".into(),
            status: 404,
            error: "no such element".into(),
            message: "gone".into(),
        };
        assert!(err.is_webdriver("no such element"));
        assert!(!err.is_webdriver("stale element reference"));
    }
}
