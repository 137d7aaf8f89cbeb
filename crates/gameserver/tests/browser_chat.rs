//! The demo a newcomer opens first, in a real browser: headless Chromium (Debian `chromium` +
//! `chromium-driver`, installed by .ci/run) opens web/chat.html as gameserver serves it on its
//! WebSocket port, joins a room, and chats with a TCP client in the same room; the test
//! asserts what the page shows and saves a screenshot of it
//! (`target/tmp/chat-e2e-<model>.png`; docs/protocol.md, "Over WebSocket", says how to
//! reproduce it by hand).

// Unix only: the browser harness stops chromedriver by process group.
#![cfg(unix)]

mod util;

use std::time::Duration;

use bytes::Bytes;
use gameserver::protocol;
use servercore::websocket::WsConfig;
use servercore::{Model, ServiceConfig};
use testkit::browser::Browser;
use util::*;

const PAGE: &[u8] = include_bytes!("../../../web/chat.html");
const WAIT: Duration = Duration::from_secs(60);

/// A chat body as the page writes and reads it: name length, name, text.
fn chat_body(name: &str, text: &str) -> Vec<u8> {
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(text.as_bytes());
    body
}

fn browser_and_tcp_player_chat(model: Model) {
    let (service, _) = game_server(model, ServiceConfig::default());
    let ws = WsConfig::new(4096).with_page(Bytes::from_static(PAGE));
    let ws_addr = service.listen_websocket(loopback(), ws).unwrap();

    let browser = Browser::start().expect("headless chromium (installed by .ci/run)");
    browser.open(&format!("http://{ws_addr}/")).unwrap();
    browser.wait_for_text("#state", "open", WAIT).unwrap();
    let name = browser.find("#name").unwrap();
    name.clear().unwrap();
    name.send_keys("alice").unwrap();
    let room = browser.find("#room").unwrap();
    room.clear().unwrap();
    room.send_keys("7").unwrap();
    browser.find("#join").unwrap().click().unwrap();
    browser.wait_for_text("#joined", "7", WAIT).unwrap();
    assert_eq!(browser.find("#members").unwrap().text().unwrap(), "1");

    let mut tcp = connect(addr(&service));
    join(&mut tcp, 7);
    send_packet(&mut tcp, protocol::CHAT, &chat_body("bob", "hi from tcp"));
    assert_eq!(
        read_packet(&mut tcp).unwrap(),
        (protocol::CHAT_BROADCAST, chat_body("bob", "hi from tcp"))
    );
    browser.wait_for_text("#log", "hi from tcp", WAIT).unwrap();
    let senders = browser.texts("#log li.chat .sender").unwrap();
    let texts = browser.texts("#log li.chat .text").unwrap();
    assert_eq!(senders.last().map(String::as_str), Some("bob"));
    assert_eq!(texts.last().map(String::as_str), Some("hi from tcp"));

    browser
        .wait_until("#send enabled", WAIT, |b| b.find("#send")?.is_enabled())
        .unwrap();
    browser
        .find("#message")
        .unwrap()
        .send_keys("hello from the browser")
        .unwrap();
    browser.find("#send").unwrap().click().unwrap();
    assert_eq!(
        read_packet(&mut tcp).unwrap(),
        (
            protocol::CHAT_BROADCAST,
            chat_body("alice", "hello from the browser")
        ),
        "the TCP player sees the browser player's chat"
    );
    browser
        .wait_for_text("#log", "hello from the browser", WAIT)
        .unwrap();
    assert_eq!(browser.find("#state").unwrap().text().unwrap(), "open");
    save_screenshot(&browser, &format!("chat-e2e-{model}.png"));
}

both_models!(browser_chat, browser_and_tcp_player_chat);
