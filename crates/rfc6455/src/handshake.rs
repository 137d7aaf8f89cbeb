//! The server's half of the opening handshake: one HTTP/1.1 request in, one response out.
//!
//! ```text
//!   GET /chat HTTP/1.1                          HTTP/1.1 101 Switching Protocols
//!   Host: 127.0.0.1:7778                        Upgrade: websocket
//!   Upgrade: websocket                   -->    Connection: Upgrade
//!   Connection: keep-alive, Upgrade             Sec-WebSocket-Accept: base64(sha1(key + GUID))
//!   Sec-WebSocket-Version: 13                   Sec-WebSocket-Protocol: servercore.packet.v1
//!   Sec-WebSocket-Key: <16 bytes, base64>         (only if the client offered it)
//!   Sec-WebSocket-Protocol: servercore.packet.v1
//! ```
//!
//! A request with no `Upgrade` header is an ordinary page request: `GET /` is answered `200`
//! with the page the server was configured with (the chat page), anything else `404`/`405`,
//! and the connection is closed after the answer. The request is parsed with `httparse`
//! (which never allocates) and must be complete within a bound (8 KiB by default): a peer
//! cannot make the server buffer more while it dribbles headers.

use bytes::Bytes;

use super::error::WsError;

/// The subprotocol browsers ask for to speak docs/protocol.md's packets.
pub const SUBPROTOCOL: &str = "servercore.packet.v1";

/// Headers an accepted request may have (more is refused as too large).
const MAX_HEADERS: usize = 32;

/// How a complete request is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A valid upgrade: send the 101 `response`, then frames follow.
    Upgrade {
        /// The 101 response.
        response: Bytes,
        /// The client offered [`SUBPROTOCOL`] and the response selects it.
        subprotocol: bool,
    },
    /// A plain `GET /`: send the 200 `response` (the page), then close.
    Page {
        /// The 200 response with the page.
        response: Bytes,
    },
}

/// Parses the request at the front of `data`: `Ok(None)` while incomplete (and within
/// `max_request` bytes), else the request's length and its answer.
///
/// # Errors
/// The request is too large, malformed, or not something this server serves: answer it with
/// [`http_error`] and close.
pub fn answer_request(
    data: &[u8],
    max_request: usize,
    page: Option<&Bytes>,
) -> Result<Option<(usize, Answer)>, WsError> {
    let window = &data[..data.len().min(max_request)];
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(window) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if data.len() >= max_request => {
            return Err(WsError::RequestTooLarge { limit: max_request })
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => return Err(WsError::MalformedRequest(err)),
    };
    let method = request.method.unwrap_or_default();
    if method != "GET" {
        return Err(WsError::MethodNotAllowed {
            method: method.chars().take(16).collect(),
        });
    }
    let answer = match header(&request, "upgrade") {
        Some(_) => upgrade(&request)?,
        None => page_answer(request.path.unwrap_or_default(), page)?,
    };
    Ok(Some((len, answer)))
}

/// The value of the first header called `name` (case-insensitive), as text.
fn header<'a>(request: &httparse::Request<'_, 'a>, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::trim)
}

/// True if any header `name` lists `token` among its comma-separated values.
fn lists(request: &httparse::Request<'_, '_>, name: &str, token: &str) -> bool {
    request
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case(token))
}

/// Checks an upgrade request (RFC 6455 4.2.1) and builds the 101 response.
fn upgrade(request: &httparse::Request<'_, '_>) -> Result<Answer, WsError> {
    if request.version != Some(1) {
        return Err(WsError::BadUpgrade { what: "HTTP/1.1" });
    }
    if !lists(request, "upgrade", "websocket") {
        return Err(WsError::BadUpgrade {
            what: "Upgrade: websocket",
        });
    }
    if !lists(request, "connection", "upgrade") {
        return Err(WsError::BadUpgrade {
            what: "Connection: upgrade",
        });
    }
    if header(request, "sec-websocket-version") != Some("13") {
        return Err(WsError::BadVersion);
    }
    let key = header(request, "sec-websocket-key").ok_or(WsError::BadKey)?;
    match data_encoding::BASE64.decode(key.as_bytes()) {
        Ok(decoded) if decoded.len() == 16 => {}
        _ => return Err(WsError::BadKey),
    }
    let subprotocol = lists(request, "sec-websocket-protocol", SUBPROTOCOL);
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n"
    );
    if subprotocol {
        response.push_str(&format!("Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n"));
    }
    response.push_str("\r\n");
    Ok(Answer::Upgrade {
        response: Bytes::from(response),
        subprotocol,
    })
}

/// A plain GET: the page at `/` (query ignored), if there is one.
fn page_answer(path: &str, page: Option<&Bytes>) -> Result<Answer, WsError> {
    let route = path.split('?').next().unwrap_or_default();
    match page {
        Some(page) if route == "/" || route == "/index.html" => Ok(Answer::Page {
            response: http_response(200, "text/html; charset=utf-8", page),
        }),
        _ => Err(WsError::NotFound {
            path: path.chars().take(64).collect(),
        }),
    }
}

/// An HTTP/1.1 response with `status`, `body`, and `Connection: close`.
fn http_response(status: u16, content_type: &str, body: &[u8]) -> Bytes {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let extra = match status {
        405 => "Allow: GET\r\n",
        426 => "Sec-WebSocket-Version: 13\r\n",
        _ => "",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    Bytes::from(out)
}

/// The HTTP response refusing a handshake-phase `error` (its [`WsError::http_status`], 400 if
/// it has none), with the error as a plain-text body.
pub fn http_error(error: &WsError) -> Bytes {
    let status = error.http_status().unwrap_or(400);
    http_response(
        status,
        "text/plain; charset=utf-8",
        format!("{error}\n").as_bytes(),
    )
}

#[cfg(test)]
#[path = "handshake_tests.rs"]
mod tests;
