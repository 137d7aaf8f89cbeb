//! [`Browser`]: a real headless Chromium driven over W3C WebDriver, for end-to-end tests of
//! pages such as `web/chat.html`. Synchronous, no async runtime.
//!
//! ```text
//! test ──HTTP/1.1 JSON (ureq)──▶ chromedriver (child, own process group) ──CDP──▶ chromium
//! ```
//!
//! [`Browser::start`] runs `chromedriver --port=<free port>` (Debian package
//! `chromium-driver`), waits until its `/status` says ready, and opens a session of
//! `/usr/bin/chromium` (package `chromium`) headless, with a fresh profile in a temporary
//! directory and every host name but loopback (`localhost`, `127.*`, `::1`) unresolvable, so a test stays on loopback.
//! Dropping the [`Browser`] ends the session and kills chromedriver's process group by PID
//! (Chromium with it). Waiting is always polling against a deadline ([`Browser::wait_until`],
//! [`Browser::find`], [`Browser::wait_for_text`]), never a fixed sleep.
//!
//! Why no WebDriver crate: the maintained Rust clients (`fantoccini`, `thirtyfour`) are async
//! on tokio; the dozen commands a test needs are a few lines each over a blocking HTTP client
//! (`ureq`, the well-kept one), which keeps testkit free of a runtime.
//!
//! # Examples
//!
//! ```no_run
//! use std::time::Duration;
//! use testkit::browser::Browser;
//!
//! let browser = Browser::start()?;
//! browser.open("http://127.0.0.1:7778/")?;
//! browser.find("#name")?.clear()?;
//! browser.find("#name")?.send_keys("alice")?;
//! browser.find("#join")?.click()?;
//! browser.wait_for_text("#joined", "1", Duration::from_secs(30))?;
//! browser.screenshot(std::path::Path::new("target/chat.png"))?;
//! # Ok::<(), testkit::browser::BrowserError>(())
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

mod chromedriver;
mod element;
mod error;
mod keyboard;
mod wire;

use chromedriver::ChromeDriver;
pub use element::Element;
pub use error::{BrowserError, INSTALL_HINT};
pub use keyboard::{ARROW_DOWN, ARROW_LEFT, ARROW_RIGHT, ARROW_UP};
use wire::{Method, Wire};

/// How long [`Browser::find`] waits for an element to appear.
pub const FIND_WAIT: Duration = Duration::from_secs(30);

/// The Enter key, for [`Element::send_keys`] (WebDriver's code point for it).
pub const ENTER: &str = "\u{E007}";

/// How long creating the session (starting Chromium) may take: seconds on an idle machine,
/// much more on a busy one.
const SESSION_START: Duration = Duration::from_secs(120);

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(50);

/// The WebDriver key of an element reference (W3C WebDriver, "Elements").
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// What to start: the programs and the window size. [`Launch::default`] is Debian's.
#[derive(Debug, Clone)]
pub struct Launch {
    /// chromedriver, looked up on `PATH` if not a path (default `chromedriver`).
    pub chromedriver: PathBuf,
    /// The Chromium binary (default `/usr/bin/chromium`).
    pub chromium: PathBuf,
    /// The window's width and height in CSS pixels (default 1000 x 800).
    pub window: (u32, u32),
    /// More Chromium arguments, e.g. `--ignore-certificate-errors-spki-list=HASH` to trust a
    /// test certificate ([`crate::tls::TestPki::spki_sha256_base64`]).
    pub extra_args: Vec<String>,
}

impl Default for Launch {
    fn default() -> Self {
        Launch {
            chromedriver: PathBuf::from("chromedriver"),
            chromium: PathBuf::from("/usr/bin/chromium"),
            window: (1000, 800),
            extra_args: Vec::new(),
        }
    }
}

impl Launch {
    /// The `goog:chromeOptions` arguments: headless, no sandbox (tests run as root), a fresh
    /// profile in `profile`, no background traffic, and no host names but `localhost`.
    fn chromium_args(&self, profile: &Path) -> Vec<String> {
        let (width, height) = self.window;
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.*, EXCLUDE ::1",
        ]
        .map(String::from)
        .into();
        args.push(format!("--window-size={width},{height}"));
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// The body of `POST /session`.
    fn capabilities(&self, profile: &Path) -> Value {
        json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"implicit": 0, "pageLoad": 90_000, "script": 30_000},
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": self.chromium_args(profile),
            },
        }}})
    }
}

/// One headless Chromium session and the chromedriver behind it. Dropping it deletes the
/// session and kills both.
#[derive(Debug)]
pub struct Browser {
    wire: Wire,
    session: String,
    // Held for its Drop, which kills chromedriver and Chromium.
    _driver: ChromeDriver,
    // Dropped after `_driver` (fields drop in order): Chromium is gone before its profile.
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium as [`Launch::default`] says.
    ///
    /// # Errors
    /// [`BrowserError::Missing`] (saying what to install) if chromedriver or Chromium is not
    /// there; [`BrowserError::DriverStart`] or a WebDriver error (`session not created`, with
    /// chromedriver's log) if they do not come up.
    pub fn start() -> Result<Browser, BrowserError> {
        Browser::start_with(&Launch::default())
    }

    /// Starts chromedriver and a headless Chromium as `launch` says.
    ///
    /// # Errors
    /// As [`Browser::start`].
    pub fn start_with(launch: &Launch) -> Result<Browser, BrowserError> {
        if !launch.chromium.is_file() {
            let program = launch.chromium.clone();
            return Err(BrowserError::Missing { program });
        }
        let profile = tempfile::Builder::new()
            .prefix("testkit-browser-")
            .tempdir()
            .map_err(|error| BrowserError::Io {
                path: std::env::temp_dir(),
                error,
            })?;
        let driver = ChromeDriver::start(&launch.chromedriver, profile.path())?;
        let wire = Wire::new(driver.port());
        let body = launch.capabilities(&profile.path().join("profile"));
        let created = wire.call(Method::Post, "/session", Some(&body), SESSION_START);
        let session = created
            .and_then(|value| session_id(&value))
            .map_err(|err| with_driver_log(err, &driver))?;
        Ok(Browser {
            wire,
            session,
            _driver: driver,
            _profile: profile,
        })
    }

    /// Navigates to `url` and waits until the page has loaded.
    ///
    /// # Errors
    /// A WebDriver error (e.g. the page cannot be reached), or a transport error.
    pub fn open(&self, url: &str) -> Result<(), BrowserError> {
        self.command(Method::Post, "/url", Some(&json!({ "url": url })))
            .map(drop)
    }

    /// The current page's URL.
    ///
    /// # Errors
    /// A WebDriver or transport error.
    pub fn url(&self) -> Result<String, BrowserError> {
        let value = self.command(Method::Get, "/url", None)?;
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.protocol("/url", &value, "a string"))
    }

    /// The first element matching the CSS selector `css`, waiting up to [`FIND_WAIT`] for it
    /// to appear.
    ///
    /// # Errors
    /// [`BrowserError::Timeout`] if none appears; a WebDriver error (e.g. `invalid selector`).
    pub fn find(&self, css: &str) -> Result<Element<'_>, BrowserError> {
        self.find_within(css, FIND_WAIT)
    }

    /// As [`Browser::find`], waiting up to `timeout`.
    ///
    /// # Errors
    /// As [`Browser::find`].
    pub fn find_within(&self, css: &str, timeout: Duration) -> Result<Element<'_>, BrowserError> {
        let what = format!("an element matching {css:?}");
        poll(what, timeout, |_| self.try_find(css))
    }

    /// The first element matching `css` now, or `None`.
    ///
    /// # Errors
    /// A WebDriver error other than `no such element`, or a transport error.
    pub fn try_find(&self, css: &str) -> Result<Option<Element<'_>>, BrowserError> {
        let query = json!({"using": "css selector", "value": css});
        match self.command(Method::Post, "/element", Some(&query)) {
            Ok(value) => self.element(&value).map(Some),
            Err(err) if err.is_webdriver("no such element") => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Every element matching `css` now, in document order (maybe none).
    ///
    /// # Errors
    /// A WebDriver or transport error.
    pub fn find_all(&self, css: &str) -> Result<Vec<Element<'_>>, BrowserError> {
        let query = json!({"using": "css selector", "value": css});
        let value = self.command(Method::Post, "/elements", Some(&query))?;
        let list = value
            .as_array()
            .ok_or_else(|| self.protocol("/elements", &value, "an array"))?;
        list.iter().map(|item| self.element(item)).collect()
    }

    /// The texts of every element matching `css` now, in document order: e.g. the lines of a
    /// list, `texts("#log li.chat .text")`.
    ///
    /// # Errors
    /// A WebDriver or transport error.
    pub fn texts(&self, css: &str) -> Result<Vec<String>, BrowserError> {
        self.find_all(css)?.iter().map(Element::text).collect()
    }

    /// Runs `script` in the page as the body of a function (so `return x;` gives `x`) and
    /// gives its result as JSON.
    ///
    /// # Errors
    /// A WebDriver error (`javascript error` for a script that throws), or a transport error.
    pub fn execute(&self, script: &str) -> Result<Value, BrowserError> {
        let body = json!({"script": script, "args": []});
        self.command(Method::Post, "/execute/sync", Some(&body))
    }

    /// Polls `cond` until it gives `true`, at most `timeout`; `what` names the condition in the
    /// error.
    ///
    /// # Errors
    /// [`BrowserError::Timeout`] if it never held; the first error `cond` gives.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&Browser) -> Result<bool, BrowserError>,
    ) -> Result<(), BrowserError> {
        poll(what.to_owned(), timeout, |_| Ok(cond(self)?.then_some(())))
    }

    /// Waits until the text of the first element matching `css` contains `needle`, at most
    /// `timeout`, and gives that text.
    ///
    /// # Errors
    /// [`BrowserError::Timeout`], showing the last text seen; a WebDriver or transport error.
    pub fn wait_for_text(
        &self,
        css: &str,
        needle: &str,
        timeout: Duration,
    ) -> Result<String, BrowserError> {
        let what = format!("the text of {css:?} to contain {needle:?}");
        poll(what, timeout, |last| {
            let Some(element) = self.try_find(css)? else {
                return Ok(None);
            };
            *last = element.text()?;
            Ok(last.contains(needle).then(|| last.clone()))
        })
    }

    /// Saves a PNG of the viewport to `path` (creating its directory).
    ///
    /// # Errors
    /// A WebDriver or transport error, [`BrowserError::Protocol`] if the answer is not base64,
    /// [`BrowserError::Io`] if the file cannot be written.
    pub fn screenshot(&self, path: &Path) -> Result<(), BrowserError> {
        let value = self.command(Method::Get, "/screenshot", None)?;
        let png = value
            .as_str()
            .and_then(|b64| data_encoding::BASE64.decode(b64.as_bytes()).ok())
            .ok_or_else(|| self.protocol("/screenshot", &Value::Null, "base64 text"))?;
        let io_error = |error| BrowserError::Io {
            path: path.to_owned(),
            error,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_error)?;
        }
        std::fs::write(path, png).map_err(io_error)
    }

    /// `method /session/ID{suffix}`: the answer's `value`.
    pub(crate) fn command(
        &self,
        method: Method,
        suffix: &str,
        body: Option<&Value>,
    ) -> Result<Value, BrowserError> {
        let path = format!("/session/{}{suffix}", self.session);
        self.wire.call(method, &path, body, wire::COMMAND_TIMEOUT)
    }

    /// An [`Element`] from a WebDriver element reference.
    fn element(&self, value: &Value) -> Result<Element<'_>, BrowserError> {
        match value.get(ELEMENT_KEY).and_then(Value::as_str) {
            Some(id) => Ok(Element::new(self, id.to_owned())),
            None => Err(self.protocol("/element", value, "an element reference")),
        }
    }

    /// A [`BrowserError::Protocol`] for an answer to `suffix` that is not `expected`.
    pub(crate) fn protocol(&self, suffix: &str, got: &Value, expected: &str) -> BrowserError {
        BrowserError::Protocol {
            request: format!("/session/{}{suffix}", self.session),
            detail: format!("expected {expected}, got {got}"),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends Chromium cleanly; the driver's own Drop then kills whatever is left.
        let path = format!("/session/{}", self.session);
        let _ = self
            .wire
            .call(Method::Delete, &path, None, Duration::from_secs(30));
    }
}

/// The `sessionId` of a `POST /session` answer.
fn session_id(value: &Value) -> Result<String, BrowserError> {
    match value.get("sessionId").and_then(Value::as_str) {
        Some(id) => Ok(id.to_owned()),
        None => Err(BrowserError::Protocol {
            request: "POST /session".to_owned(),
            detail: format!("no sessionId in {value}"),
        }),
    }
}

/// `err` with chromedriver's log appended to its message when the session did not start.
fn with_driver_log(err: BrowserError, driver: &ChromeDriver) -> BrowserError {
    match err {
        BrowserError::WebDriver {
            request,
            status,
            error,
            message,
        } => BrowserError::WebDriver {
            request,
            status,
            error,
            message: format!("{message} ({INSTALL_HINT})\n{}", driver.log_tail()),
        },
        other => other,
    }
}

/// Calls `attempt` until it gives `Some`, at most `timeout` (and at least once). `attempt`
/// may record what it saw in its argument for the timeout error.
fn poll<T>(
    what: String,
    timeout: Duration,
    mut attempt: impl FnMut(&mut String) -> Result<Option<T>, BrowserError>,
) -> Result<T, BrowserError> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        if let Some(found) = attempt(&mut last)? {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            return Err(BrowserError::Timeout {
                what,
                waited: timeout,
                last,
            });
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_chromium_is_reported_before_anything_starts() {
        let launch = Launch {
            chromium: PathBuf::from("/nonexistent/chromium"),
            ..Launch::default()
        };
        let err = Browser::start_with(&launch).unwrap_err();
        assert!(matches!(err, BrowserError::Missing { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/chromium"), "{err}");
    }

    #[test]
    fn capabilities_name_the_binary_headless_and_the_window() {
        let launch = Launch {
            window: (640, 480),
            ..Launch::default()
        };
        let caps = launch.capabilities(Path::new("/tmp/p"));
        let options = &caps["capabilities"]["alwaysMatch"]["goog:chromeOptions"];
        assert_eq!(options["binary"], "/usr/bin/chromium");
        let args: Vec<&str> = options["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        for wanted in ["--headless=new", "--no-sandbox", "--window-size=640,480"] {
            assert!(args.contains(&wanted), "{wanted} missing from {args:?}");
        }
        assert!(args.contains(&"--user-data-dir=/tmp/p"), "{args:?}");
    }

    #[test]
    fn poll_gives_the_value_or_a_timeout_with_the_last_seen() {
        let mut calls = 0;
        let got = poll("three calls".into(), Duration::from_secs(30), |_| {
            calls += 1;
            Ok((calls == 3).then_some(calls))
        });
        assert_eq!(got.unwrap(), 3);
        let err = poll::<()>("never".into(), Duration::from_millis(10), |last| {
            *last = "seen".into();
            Ok(None)
        })
        .unwrap_err();
        assert!(err.to_string().contains("never") && err.to_string().contains("seen"));
    }
}
