//! The demo a newcomer opens first, in a real browser: headless Chromium (Debian `chromium` +
//! `chromium-driver`, installed by .ci/run) opens web/chat.html as gameserver serves it on its
//! WebSocket port, joins a room, and chats with a TCP client in the same room; the test
//! asserts what the page shows and saves a screenshot of it
//! (`target/tmp/chat-e2e-<model>.png`; docs/protocol.md, "Over WebSocket", says how to
//! reproduce it by hand). Then the same over TLS: the page over `https://`, the chat over
//! `wss://`, the TCP player over TLS (`target/tmp/chat-tls-<model>.png`). And with connect
//! tokens (`gameserver --auth-secret`, the real binary): the page without a token is told why
//! it cannot join; with `#token=` it signs in and chats (`target/tmp/chat-token-<model>.png`).

// Unix only: the browser harness stops chromedriver by process group.
#![cfg(unix)]

mod util;

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use game_protocol::token::{mint, Claims};
use gameserver::protocol;
use servercore::tls::TlsConfig;
use servercore::websocket::WsConfig;
use servercore::{Model, ServiceConfig};
use testkit::browser::{Browser, Launch};
use testkit::tls::{tls_connect, TestPki};
use util::process::Gameserver;
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

/// The page at `url` in `browser` joins room 7 and chats with `tcp`, a player on the game
/// port (plain TCP or TLS); a screenshot is saved as `target/tmp/<shot>.png`.
fn chat_with_the_page(browser: &Browser, url: &str, tcp: &mut (impl Read + Write), shot: &str) {
    browser.open(url).unwrap();
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

    join(tcp, 7);
    send_packet(tcp, protocol::CHAT, &chat_body("bob", "hi from tcp"));
    assert_eq!(
        read_packet(tcp).unwrap(),
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
        read_packet(tcp).unwrap(),
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
    save_screenshot(browser, &format!("{shot}.png"));
}

fn browser_and_tcp_player_chat(model: Model) {
    let (service, _) = game_server(model, ServiceConfig::default());
    let ws = WsConfig::new(4096).with_page(Bytes::from_static(PAGE));
    let ws_addr = service.listen_websocket(loopback(), ws).unwrap();
    let browser = Browser::start().expect("headless chromium (installed by .ci/run)");
    let mut tcp = connect(addr(&service));
    let url = format!("http://{ws_addr}/");
    chat_with_the_page(&browser, &url, &mut tcp, &format!("chat-e2e-{model}"));
}

one_model!(browser_chat, browser_and_tcp_player_chat);

/// The same over TLS: the page over `https://localhost`, the chat over `wss://` (the page
/// picks the scheme from its own), the TCP player over TLS on the game port. The browser
/// trusts the test's certificate by its key's hash (`--ignore-certificate-errors-spki-list`),
/// made at test time. On both models: the TLS stage runs on each.
fn browser_over_https_and_wss(model: Model) {
    let pki = TestPki::new();
    let config = ServiceConfig {
        tls: Some(TlsConfig::from_pem_files(pki.cert_path(), pki.key_path()).unwrap()),
        ..ServiceConfig::default()
    };
    let (service, _) = game_server(model, config);
    let ws = WsConfig::new(4096).with_page(Bytes::from_static(PAGE));
    let ws_addr = service.listen_websocket(loopback(), ws).unwrap();
    let launch = Launch {
        extra_args: vec![format!(
            "--ignore-certificate-errors-spki-list={}",
            pki.spki_sha256_base64()
        )],
        ..Launch::default()
    };
    let browser = Browser::start_with(&launch).expect("headless chromium (installed by .ci/run)");
    let mut tcp = tls_connect(addr(&service), pki.client_config()).unwrap();
    let url = format!("https://localhost:{}/", ws_addr.port());
    chat_with_the_page(&browser, &url, &mut tcp, &format!("chat-tls-{model}"));
    let scheme = browser.execute("return location.protocol").unwrap();
    assert_eq!(scheme, "https:");
}

both_models!(browser_tls, browser_over_https_and_wss);

/// The secret of [`token_server`]'s tokens.
const TOKEN_SECRET: &[u8] = b"the browser test's token secret, 32+ bytes";

/// A packet-mode server with a WebSocket listener and connect tokens ([`TOKEN_SECRET`] in a
/// file named after `name`).
fn token_server(model: Model, name: &str) -> Gameserver {
    let file = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.secret"));
    std::fs::write(&file, TOKEN_SECRET).unwrap();
    let secret_flag = ["--auth-secret", file.to_str().unwrap()];
    let flags = ["--protocol", "packet", "--websocket", "127.0.0.1:0"];
    Gameserver::start(model, &[&flags[..], &secret_flag[..]].concat())
}

/// A token of `player`, signed with [`TOKEN_SECRET`].
fn sign(player: &str) -> String {
    mint(TOKEN_SECRET, &Claims::valid_for(player, 600)).unwrap()
}

/// With `--auth-secret`: the page without a token cannot join and says why; with `#token=` it
/// signs in (as the token's player), joins and chats with a TCP player who signed in too.
fn page_with_a_connect_token(model: Model) {
    let server = token_server(model, "browser-auth");
    let ws = server.websocket.expect("the WebSocket listener");
    let browser = Browser::start().expect("headless chromium (installed by .ci/run)");
    browser.open(&format!("http://{ws}/")).unwrap();
    browser.wait_for_text("#state", "open", WAIT).unwrap();
    browser.find("#join").unwrap().click().unwrap();
    browser
        .wait_for_text("#error", "not signed in", WAIT)
        .unwrap();
    assert!(browser
        .find("#error")
        .unwrap()
        .text()
        .unwrap()
        .contains("#token="));

    let mut tcp = connect(server.addr);
    send_packet(&mut tcp, protocol::HELLO, sign("bob").as_bytes());
    assert_eq!(read_packet(&mut tcp).unwrap().0, protocol::HELLO_OK);
    // A new document (a change of the fragment alone would not load the page again).
    browser.open("about:blank").unwrap();
    let url = format!("http://{ws}/#token={}", sign("alice"));
    chat_with_the_page(&browser, &url, &mut tcp, &format!("chat-token-{model}"));
    browser
        .wait_for_text("#log", "signed in as alice", WAIT)
        .unwrap();
}

one_model!(browser_token, page_with_a_connect_token);

/// The page keeps its seat through network blips: its connection (through a relay the test
/// cuts) drops mid-chat, again and again; it reconnects, RESUMEs, and the chat it shows has
/// every line of the TCP player's, once, in order — and what it sends after arrives once.
fn page_resumes_through_blips(model: Model) {
    let server = token_server(model, "browser-resume");
    let blip = testkit::blip::Blip::start(server.websocket.expect("the WebSocket listener"));
    // The page comes from the server; its WebSocket goes through the relay (?server=).
    let browser = Browser::start().expect("headless chromium (installed by .ci/run)");
    let ws = server.websocket.expect("the WebSocket listener");
    let url = format!(
        "http://{ws}/?server={}#token={}",
        blip.addr(),
        sign("alice")
    );
    browser.open(&url).unwrap();
    browser.wait_for_text("#state", "open", WAIT).unwrap();
    let room = browser.find("#room").unwrap();
    room.clear().unwrap();
    room.send_keys("7").unwrap();
    browser.find("#join").unwrap().click().unwrap();
    browser.wait_for_text("#joined", "7", WAIT).unwrap();

    let mut tcp = connect(server.addr);
    send_packet(&mut tcp, protocol::HELLO, sign("bob").as_bytes());
    assert_eq!(read_packet(&mut tcp).unwrap().0, protocol::HELLO_OK);
    join(&mut tcp, 7);
    let lines: Vec<String> = (0..30).map(|i| format!("line {i:02}")).collect();
    for round in lines.chunks(10) {
        for (i, line) in round.iter().enumerate() {
            send_packet(&mut tcp, protocol::CHAT, &chat_body("bob", line));
            if i == 4 {
                // Mid-chat: the page's connection drops; bob chats on.
                assert_eq!(blip.cut(), 1, "the page's one connection");
            }
        }
        browser.wait_for_text("#log", &round[9], WAIT).unwrap(); // resumed
    }
    let shown: Vec<String> = browser
        .texts("#log li.chat .text")
        .unwrap()
        .into_iter()
        .filter(|t| t.starts_with("line "))
        .collect();
    assert_eq!(shown, lines, "every line once, in order");
    let resumes = server.scrape_value("gameserver_resumes_total{result=\"ok\"}");
    assert!(resumes >= 3, "the page resumed after each cut ({resumes})");

    // The page's own chat after the blips reaches bob once.
    browser
        .wait_until("#send enabled", WAIT, |b| b.find("#send")?.is_enabled())
        .unwrap();
    browser.find("#message").unwrap().send_keys("back").unwrap();
    browser.find("#send").unwrap().click().unwrap();
    let mut heard = Vec::new();
    while heard.last().map(Vec::as_slice) != Some(chat_body("alice", "back").as_slice()) {
        let (id, body) = read_packet(&mut tcp).unwrap();
        match id {
            protocol::PLAYER_AWAY | protocol::PLAYER_BACK => assert_eq!(body, b"\x05alice"),
            _ => {
                assert_eq!(id, protocol::CHAT_BROADCAST);
                heard.push(body);
            }
        }
    }
    let backs = heard
        .iter()
        .filter(|b| b.as_slice() == chat_body("alice", "back").as_slice())
        .count();
    assert_eq!(backs, 1);
    save_screenshot(&browser, &format!("chat-resume-{model}.png"));
}

one_model!(browser_resume, page_resumes_through_blips);
