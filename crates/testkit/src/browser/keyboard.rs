//! Holding keys: [`Browser::key_down`] and [`Browser::key_up`] press and release a key in the
//! focused element with W3C WebDriver's "Perform Actions" (a key source), so a page sees a
//! key held for as long as the test wants — a game's movement keys — where
//! [`Element::send_keys`](super::Element::send_keys) types (presses and releases at once).

use serde_json::json;

use super::wire::Method;
use super::{Browser, BrowserError};

/// WebDriver's code point of the left arrow key.
pub const ARROW_LEFT: &str = "\u{E012}";
/// WebDriver's code point of the up arrow key.
pub const ARROW_UP: &str = "\u{E013}";
/// WebDriver's code point of the right arrow key.
pub const ARROW_RIGHT: &str = "\u{E014}";
/// WebDriver's code point of the down arrow key.
pub const ARROW_DOWN: &str = "\u{E015}";

impl Browser {
    /// Presses `key` (a character, or a code point such as [`ARROW_RIGHT`]) and keeps it down:
    /// the focused element gets `keydown` (and repeats, as the browser does) until
    /// [`Browser::key_up`].
    ///
    /// # Errors
    /// A WebDriver or transport error.
    pub fn key_down(&self, key: &str) -> Result<(), BrowserError> {
        self.key("keyDown", key)
    }

    /// Releases `key`: the focused element gets `keyup`.
    ///
    /// # Errors
    /// A WebDriver or transport error.
    pub fn key_up(&self, key: &str) -> Result<(), BrowserError> {
        self.key("keyUp", key)
    }

    fn key(&self, action: &str, key: &str) -> Result<(), BrowserError> {
        let body = json!({"actions": [{
            "type": "key",
            "id": "keyboard",
            "actions": [{"type": action, "value": key}],
        }]});
        self.command(Method::Post, "/actions", Some(&body))
            .map(drop)
    }
}
