//! [`Wire`]: the HTTP/1.1 + JSON half of W3C WebDriver, blocking (`ureq`).
//!
//! Every WebDriver answer is a JSON object `{"value": …}`; an error is `{"value": {"error":
//! code, "message": text, …}}` with a 4xx/5xx status. [`Wire`] turns the first into the inner
//! `value` and the second into [`BrowserError::WebDriver`], so callers see only what they asked
//! for.

use std::time::Duration;

use serde_json::Value;

use super::BrowserError;

/// How long one ordinary command may take. Generous: on a busy 2-core machine a click or a
/// navigation can stall for seconds; a stuck chromedriver must still fail the test, not hang it.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// Largest answer read (a full-window PNG screenshot in base64 is well under this).
const MAX_BODY: u64 = 64 << 20;

/// A blocking JSON client for one chromedriver at `http://127.0.0.1:PORT`.
#[derive(Debug)]
pub(crate) struct Wire {
    agent: ureq::Agent,
    base: String,
}

/// An HTTP method of the WebDriver commands used here.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

impl Wire {
    /// A client for chromedriver on `127.0.0.1:port`.
    pub(crate) fn new(port: u16) -> Wire {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false) // WebDriver's errors are in the JSON body
            .timeout_global(Some(COMMAND_TIMEOUT))
            .build()
            .into();
        Wire {
            agent,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// One command: `method path` (with a JSON `body` for POST), at most `timeout`.
    ///
    /// # Errors
    /// [`BrowserError::Http`] if the exchange fails, [`BrowserError::WebDriver`] for an error
    /// answer, [`BrowserError::Protocol`] for a 200 without `value`.
    pub(crate) fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, BrowserError> {
        let request = format!("{} {path}", method.name());
        let url = format!("{}{path}", self.base);
        let sent = match method {
            Method::Get => self
                .agent
                .get(&url)
                .config()
                .timeout_global(Some(timeout))
                .build()
                .call(),
            Method::Delete => self
                .agent
                .delete(&url)
                .config()
                .timeout_global(Some(timeout))
                .build()
                .call(),
            Method::Post => {
                let empty = Value::Object(Default::default());
                let builder = self
                    .agent
                    .post(&url)
                    .config()
                    .timeout_global(Some(timeout))
                    .build();
                builder.send_json(body.unwrap_or(&empty))
            }
        };
        let http = |error| BrowserError::Http {
            request: request.clone(),
            error,
        };
        let mut response = sent.map_err(http)?;
        let status = response.status().as_u16();
        let json: Value = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_json()
            .map_err(http)?;
        answer(request, status, json)
    }
}

/// The `value` of a WebDriver answer, or the error it carries.
fn answer(request: String, status: u16, mut json: Value) -> Result<Value, BrowserError> {
    let Some(value) = json.get_mut("value").map(Value::take) else {
        let detail = format!("HTTP {status} without \"value\": {json}");
        return Err(BrowserError::Protocol { request, detail });
    };
    let code = value.get("error").and_then(Value::as_str);
    if status == 200 && code.is_none() {
        return Ok(value);
    }
    let text = |key| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    Err(BrowserError::WebDriver {
        request,
        status,
        error: code.map_or_else(|| "unknown error".to_owned(), str::to_owned),
        message: text("message"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_success_gives_the_inner_value() {
        let got = answer("GET /x".into(), 200, json!({"value": {"ready": true}})).unwrap();
        assert_eq!(got, json!({"ready": true}));
        let null = answer("POST /y".into(), 200, json!({"value": null})).unwrap();
        assert_eq!(null, Value::Null);
    }

    #[test]
    fn an_error_answer_gives_its_code_and_message() {
        let body =
            json!({"value": {"error": "no such element", "message": "gone", "stacktrace": ""}});
        let err = answer("POST /e".into(), 404, body).unwrap_err();
        assert!(err.is_webdriver("no such element"), "{err}");
        assert!(err.to_string().contains("HTTP 404") && err.to_string().contains("gone"));
    }

    #[test]
    fn a_failing_status_without_a_code_is_still_an_error() {
        let err = answer("GET /z".into(), 500, json!({"value": "odd"})).unwrap_err();
        assert!(err.is_webdriver("unknown error"), "{err}");
    }

    #[test]
    fn an_answer_without_value_is_a_protocol_error() {
        let err = answer("GET /z".into(), 200, json!({"status": 0})).unwrap_err();
        assert!(matches!(err, BrowserError::Protocol { .. }), "{err}");
    }
}
