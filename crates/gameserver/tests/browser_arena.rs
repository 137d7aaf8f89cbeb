//! The arena page in real browsers: two headless Chromium pages open web/arena.html as
//! gameserver serves it on its WebSocket port and join one arena; one player moves by held
//! arrow keys, and the other page sees it move. A screenshot of each page is saved
//! (`target/tmp/arena-e2e-<model>-mover.png` and `-watcher.png`; the paths are printed).

// Unix only: the browser harness stops chromedriver by process group.
#![cfg(unix)]

mod util;

use std::time::Duration;

use bytes::Bytes;
use game_protocol::arena::{Rules, QUANTA};
use gameserver::arena::ArenaConfig;
use servercore::websocket::WsConfig;
use servercore::Model;
use testkit::browser::{Browser, BrowserError, ARROW_LEFT, ARROW_RIGHT};
use util::arena::ArenaServer;
use util::*;

const PAGE: &[u8] = include_bytes!("../../../web/arena.html");
const WAIT: Duration = Duration::from_secs(60);

/// Opens the page at `url`, joins arena 2 as `name`; returns the player's entity id.
fn join(browser: &Browser, url: &str, name: &str) -> u64 {
    browser.open(url).unwrap();
    browser.wait_for_text("#state", "open", WAIT).unwrap();
    let field = browser.find("#name").unwrap();
    field.clear().unwrap();
    field.send_keys(name).unwrap();
    let room = browser.find("#room").unwrap();
    room.clear().unwrap();
    room.send_keys("2").unwrap();
    browser.find("#join").unwrap().click().unwrap();
    browser
        .wait_until("the welcome", WAIT, |b| Ok(b.find("#you")?.text()? != "-"))
        .unwrap();
    browser
        .find("#you")
        .unwrap()
        .text()
        .unwrap()
        .parse()
        .expect("an id")
}

/// Where the page last saw player `id` (x in quanta), if it sees it.
fn seen_x(browser: &Browser, id: u64) -> Result<Option<i64>, BrowserError> {
    let script = format!("const e = window.arena.entities.get({id}); return e ? e.x : null;");
    Ok(browser.execute(&script)?.as_i64())
}

fn one_page_sees_the_other_move(model: Model) {
    let config = ArenaConfig {
        rules: Rules {
            tick_hz: 20,
            size: 100,
            view_radius: 200, // everyone sees everyone
            max_speed: 60,
            tag_radius: 10,
            max_in_view: 64,
        },
        capacity: 10,
    };
    let server = ArenaServer::start(model, config);
    let ws = WsConfig::new(4096).with_page(Bytes::from_static(PAGE));
    let url = format!(
        "http://{}/",
        server.service.listen_websocket(loopback(), ws).unwrap()
    );

    let mover = Browser::start().expect("headless chromium (installed by .ci/run)");
    let watcher = Browser::start().expect("headless chromium");
    let mover_id = join(&mover, &url, "mover");
    let watcher_id = join(&watcher, &url, "watcher");
    assert_ne!(mover_id, watcher_id);
    let mut start = None;
    watcher
        .wait_until("the watcher to see the mover", WAIT, |b| {
            start = seen_x(b, mover_id)?;
            Ok(start.is_some())
        })
        .unwrap();
    let start = start.unwrap();
    // Toward the farther side, so the wall does not stop it.
    let middle = i64::from(config.rules.size) * i64::from(QUANTA) / 2;
    let (key, sign) = if start < middle {
        (ARROW_RIGHT, 1)
    } else {
        (ARROW_LEFT, -1)
    };
    mover.find("#view").unwrap().click().unwrap(); // the canvas takes the keys
    mover.key_down(key).unwrap();
    let far_enough = 10 * i64::from(QUANTA); // 10 units
    watcher
        .wait_until("the watcher to see the mover move", WAIT, |b| {
            Ok(seen_x(b, mover_id)?.is_some_and(|x| (x - start) * sign >= far_enough))
        })
        .unwrap();
    mover.key_up(key).unwrap();
    let own = mover.find("#pos").unwrap().text().unwrap();
    assert_ne!(own, "-", "the mover knows where it is");
    assert_eq!(mover.find("#error").unwrap().text().unwrap(), "");
    assert_eq!(watcher.find("#error").unwrap().text().unwrap(), "");
    for (role, browser) in [("mover", &mover), ("watcher", &watcher)] {
        browser.execute("window.scrollTo(0, 0);").unwrap(); // the header and the canvas
        save_screenshot(browser, &format!("arena-e2e-{model}-{role}.png"));
    }
}

one_model!(browser_arena, one_page_sees_the_other_move);
