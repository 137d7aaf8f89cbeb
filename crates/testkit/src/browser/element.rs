//! [`Element`]: one element of the page a [`Browser`] shows, by its WebDriver reference.
//!
//! A reference goes stale when the page replaces the element (a navigation, a re-render):
//! its commands then fail with the WebDriver error `stale element reference`
//! ([`BrowserError::is_webdriver`]); find it again.

use serde_json::{json, Value};

use super::wire::Method;
use super::{Browser, BrowserError};

/// An element found by [`Browser::find`] (or its siblings); valid while its page is.
#[derive(Debug, Clone)]
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
}

impl<'b> Element<'b> {
    pub(crate) fn new(browser: &'b Browser, id: String) -> Element<'b> {
        Element { browser, id }
    }

    /// Its rendered text (`innerText`-like: what a person sees, trimmed by the browser).
    ///
    /// # Errors
    /// A WebDriver error (e.g. `stale element reference`) or a transport error.
    pub fn text(&self) -> Result<String, BrowserError> {
        self.string("/text")
    }

    /// Its `value` property: what an `<input>` holds now (empty for elements without one).
    ///
    /// # Errors
    /// As [`Element::text`].
    pub fn value(&self) -> Result<String, BrowserError> {
        let value = self.property("value")?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// Its DOM property `name` as JSON (`null` if it has none).
    ///
    /// # Errors
    /// As [`Element::text`].
    pub fn property(&self, name: &str) -> Result<Value, BrowserError> {
        self.command(Method::Get, &format!("/property/{name}"), None)
    }

    /// True unless it is a disabled form control.
    ///
    /// # Errors
    /// As [`Element::text`].
    pub fn is_enabled(&self) -> Result<bool, BrowserError> {
        let value = self.command(Method::Get, "/enabled", None)?;
        value
            .as_bool()
            .ok_or_else(|| self.browser.protocol("/enabled", &value, "a boolean"))
    }

    /// Types `text` into it as key presses (focusing it first), after what it already holds.
    ///
    /// # Errors
    /// A WebDriver error (e.g. `element not interactable` for a disabled input) or a
    /// transport error.
    pub fn send_keys(&self, text: &str) -> Result<(), BrowserError> {
        let body = json!({ "text": text });
        self.command(Method::Post, "/value", Some(&body)).map(drop)
    }

    /// Empties an input or a text area.
    ///
    /// # Errors
    /// As [`Element::send_keys`].
    pub fn clear(&self) -> Result<(), BrowserError> {
        self.command(Method::Post, "/clear", None).map(drop)
    }

    /// Clicks its centre, scrolling it into view first.
    ///
    /// # Errors
    /// A WebDriver error (e.g. `element click intercepted`) or a transport error.
    pub fn click(&self) -> Result<(), BrowserError> {
        self.command(Method::Post, "/click", None).map(drop)
    }

    fn string(&self, suffix: &str) -> Result<String, BrowserError> {
        let value = self.command(Method::Get, suffix, None)?;
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.browser.protocol(suffix, &value, "a string"))
    }

    /// `method /session/S/element/ID{suffix}`.
    fn command(
        &self,
        method: Method,
        suffix: &str,
        body: Option<&Value>,
    ) -> Result<Value, BrowserError> {
        let path = format!("/element/{}{suffix}", self.id);
        self.browser.command(method, &path, body)
    }
}
