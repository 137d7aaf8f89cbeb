//! Tests of the server's handshake ([`answer_request`](super::answer_request)).

use super::*;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn request(extra: &str) -> String {
    format!(
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
         Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

fn upgrade_request() -> String {
    request(&format!("Sec-WebSocket-Key: {KEY}\r\n"))
}

fn answer_text(text: &str) -> Result<Option<(usize, Answer)>, WsError> {
    answer_request(
        text.as_bytes(),
        8192,
        Some(&Bytes::from_static(b"<p>page</p>")),
    )
}

fn response_text(answer: &Answer) -> String {
    let (Answer::Upgrade { response, .. } | Answer::Page { response }) = answer;
    String::from_utf8(response.to_vec()).unwrap()
}

#[test]
fn valid_upgrade_gets_101_with_the_rfc_accept_value() {
    let text = upgrade_request();
    let (len, answer) = answer_text(&text).unwrap().unwrap();
    assert_eq!(len, text.len());
    assert!(matches!(
        answer,
        Answer::Upgrade {
            subprotocol: false,
            ..
        }
    ));
    let response = response_text(&answer);
    assert!(
        response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{response}"
    );
    assert!(response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert!(!response.contains("Sec-WebSocket-Protocol"));
    assert!(response.ends_with("\r\n\r\n"));
}

#[test]
fn the_packet_subprotocol_is_selected_only_when_offered() {
    let offered = request(&format!(
        "Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Protocol: chat, {SUBPROTOCOL}\r\n"
    ));
    let (_, answer) = answer_text(&offered).unwrap().unwrap();
    assert!(matches!(
        answer,
        Answer::Upgrade {
            subprotocol: true,
            ..
        }
    ));
    assert!(response_text(&answer).contains("Sec-WebSocket-Protocol: servercore.packet.v1\r\n"));
    let other = request(&format!(
        "Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Protocol: chat\r\n"
    ));
    let (_, answer) = answer_text(&other).unwrap().unwrap();
    assert!(matches!(
        answer,
        Answer::Upgrade {
            subprotocol: false,
            ..
        }
    ));
}

#[test]
fn a_request_split_at_every_byte_waits_then_answers() {
    let text = upgrade_request() + "\u{82}"; // frame bytes may follow the request
    let end = upgrade_request().len();
    for cut in 0..end {
        assert_eq!(answer_text(&text[..cut]), Ok(None), "cut at {cut}");
    }
    let (len, _) = answer_text(&text).unwrap().unwrap();
    assert_eq!(len, end);
}

#[test]
fn oversized_request_is_refused_with_431() {
    let padding = format!("X-Padding: {}\r\n", "a".repeat(9000));
    let text = request(&format!("Sec-WebSocket-Key: {KEY}\r\n{padding}"));
    let err = answer_text(&text).unwrap_err();
    assert_eq!(err, WsError::RequestTooLarge { limit: 8192 });
    // Still incomplete but already over the bound: refused without waiting for the rest.
    let err = answer_text(&text[..8500]).unwrap_err();
    assert_eq!(err, WsError::RequestTooLarge { limit: 8192 });
    assert!(String::from_utf8_lossy(&http_error(&err)).starts_with("HTTP/1.1 431 "));
    let many: String = (0..40).map(|i| format!("X-{i}: v\r\n")).collect();
    let err = answer_text(&request(&many)).unwrap_err();
    assert_eq!(
        err,
        WsError::MalformedRequest(httparse::Error::TooManyHeaders)
    );
}

#[test]
fn bad_keys_and_versions_are_refused() {
    let cases = [
        (request(""), WsError::BadKey),
        (
            request("Sec-WebSocket-Key: not base64!\r\n"),
            WsError::BadKey,
        ),
        (request("Sec-WebSocket-Key: AAAA\r\n"), WsError::BadKey),
        (
            upgrade_request().replace("Version: 13", "Version: 8"),
            WsError::BadVersion,
        ),
        (
            upgrade_request().replace("Sec-WebSocket-Version: 13\r\n", ""),
            WsError::BadVersion,
        ),
        (
            upgrade_request().replace("keep-alive, Upgrade", "keep-alive"),
            WsError::BadUpgrade {
                what: "Connection: upgrade",
            },
        ),
        (
            upgrade_request().replace("Upgrade: websocket", "Upgrade: h2c"),
            WsError::BadUpgrade {
                what: "Upgrade: websocket",
            },
        ),
        (
            upgrade_request().replace("HTTP/1.1", "HTTP/1.0"),
            WsError::BadUpgrade { what: "HTTP/1.1" },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(answer_text(&text), Err(expected.clone()), "{text}");
    }
    let version = http_error(&WsError::BadVersion);
    let version = String::from_utf8_lossy(&version);
    assert!(version.starts_with("HTTP/1.1 426 "), "{version}");
    assert!(version.contains("Sec-WebSocket-Version: 13\r\n"));
}

#[test]
fn plain_get_of_the_root_serves_the_page_and_others_are_refused() {
    let (_, page) = answer_text("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap()
        .unwrap();
    let text = response_text(&page);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Content-Length: 11\r\n"));
    assert!(text.ends_with("\r\n\r\n<p>page</p>"));
    assert!(matches!(
        answer_text("GET /?room=3 HTTP/1.1\r\n\r\n"),
        Ok(Some((_, Answer::Page { .. })))
    ));

    let not_found = answer_text("GET /secret HTTP/1.1\r\n\r\n").unwrap_err();
    assert_eq!(
        not_found,
        WsError::NotFound {
            path: "/secret".into()
        }
    );
    let no_page = answer_request(b"GET / HTTP/1.1\r\n\r\n", 8192, None).unwrap_err();
    assert_eq!(no_page.http_status(), Some(404));
    let post = answer_text("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").unwrap_err();
    assert_eq!(
        post,
        WsError::MethodNotAllowed {
            method: "POST".into()
        }
    );
    let garbage = answer_text("\x16\x03\x01 TLS hello\r\n\r\n").unwrap_err();
    assert!(
        matches!(garbage, WsError::MalformedRequest(_)),
        "{garbage:?}"
    );
    let reply = http_error(&garbage);
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 400 Bad Request\r\n"));
}
