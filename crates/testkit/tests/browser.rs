//! The browser harness against a real headless Chromium: a tiny std HTTP server serves a page
//! with an input, a button and a list; the tests type, click, wait for what the page shows,
//! run scripts and take a screenshot. Needs the Debian packages `chromium` and
//! `chromium-driver` (`.ci/run` installs them).

// Unix only: the browser harness stops chromedriver by process group.
#![cfg(unix)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use testkit::browser::{Browser, BrowserError, ENTER};

/// Generous: a busy 2-core machine can stall Chromium for seconds.
const WAIT: Duration = Duration::from_secs(60);

/// Clicking #add (or Enter in #text) appends #text's value to #out as a `<p>`, a little later (so the test must
/// wait for it rather than read at once).
const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>browser smoke</title></head>
<body>
  <input id="text" autocomplete="off"> <button id="add">Add</button>
  <button id="off" disabled>Off</button>
  <div id="out"></div>
  <script>
    "use strict";
    function add() {
      const text = document.getElementById("text").value;
      setTimeout(() => {
        const line = document.createElement("p");
        line.textContent = text;
        document.getElementById("out").appendChild(line);
      }, 200);
    }
    document.getElementById("add").addEventListener("click", add);
    document.getElementById("text").addEventListener("keydown", (event) => {
      if (event.key === "Enter") add();
    });
  </script>
</body></html>
"#;

/// Serves [`PAGE`] at `/` (404 elsewhere) on a loopback port from a thread; counts the page's
/// requests.
struct PageServer {
    addr: SocketAddr,
    served: Arc<AtomicUsize>,
}

impl PageServer {
    fn start() -> PageServer {
        let listener = TcpListener::bind(testkit::loopback()).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let served = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&served);
        std::thread::spawn(move || {
            // A thread per connection: Chromium opens speculative connections that send
            // nothing, which must not hold up the page's request.
            for stream in listener.incoming().flatten() {
                let count = Arc::clone(&count);
                std::thread::spawn(move || serve(stream, &count));
            }
        });
        PageServer { addr, served }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

/// Answers one HTTP/1.1 request and closes.
fn serve(mut stream: TcpStream, served: &AtomicUsize) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let (status, body) = if head.starts_with("GET / ") {
        served.fetch_add(1, Ordering::SeqCst);
        ("200 OK", PAGE)
    } else {
        ("404 Not Found", "not found")
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

fn start_browser() -> Browser {
    let started = Instant::now();
    let browser = Browser::start().unwrap_or_else(|err| panic!("{err}"));
    eprintln!("browser session started in {:?}", started.elapsed());
    browser
}

fn screenshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

#[test]
fn types_clicks_waits_for_the_page_and_takes_a_screenshot() {
    let server = PageServer::start();
    let browser = start_browser();
    browser.open(&server.url()).unwrap();
    assert_eq!(server.served.load(Ordering::SeqCst), 1);
    assert_eq!(browser.url().unwrap(), server.url());

    let input = browser.find("#text").unwrap();
    input.send_keys("hello ").unwrap();
    input.send_keys("browser").unwrap();
    assert_eq!(input.value().unwrap(), "hello browser");
    browser.find("#add").unwrap().click().unwrap();
    let shown = browser
        .wait_for_text("#out", "hello browser", WAIT)
        .unwrap();
    assert_eq!(shown, "hello browser");

    input.clear().unwrap();
    assert_eq!(input.value().unwrap(), "");
    input.send_keys("second line").unwrap();
    browser.find("#add").unwrap().click().unwrap();
    browser
        .wait_until("two lines in #out", WAIT, |b| {
            Ok(b.find_all("#out p")?.len() == 2)
        })
        .unwrap();
    assert_eq!(
        browser.texts("#out p").unwrap(),
        ["hello browser", "second line"]
    );

    input.clear().unwrap();
    input.send_keys(&format!("by enter{ENTER}")).unwrap();
    browser.wait_for_text("#out", "by enter", WAIT).unwrap();
    let lines = browser.texts("#out p").unwrap();
    assert_eq!(lines, ["hello browser", "second line", "by enter"]);

    let path = screenshot_path("browser-smoke.png");
    let _ = std::fs::remove_file(&path);
    browser.screenshot(&path).unwrap();
    let png = std::fs::read(&path).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG: {:?}",
        &png[..8]
    );
    assert!(
        png.len() > 1000,
        "a 1000x800 screenshot of {} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", path.display());
}

#[test]
fn scripts_run_and_waits_that_fail_say_what_they_waited_for() {
    let server = PageServer::start();
    let browser = start_browser();
    browser.open(&server.url()).unwrap();

    assert_eq!(browser.execute("return 6 * 7;").unwrap(), json!(42));
    assert_eq!(
        browser.execute("return document.title;").unwrap(),
        json!("browser smoke")
    );
    let size = browser
        .execute("return [innerWidth, innerHeight];")
        .unwrap();
    assert!(size[0].as_u64().is_some_and(|w| w > 500), "window {size}");
    let thrown = browser.execute("throw new Error('boom');").unwrap_err();
    assert!(thrown.is_webdriver("javascript error"), "{thrown}");

    assert!(browser.try_find("#absent").unwrap().is_none());
    let missing = browser
        .find_within("#absent", Duration::from_millis(300))
        .unwrap_err();
    assert!(matches!(missing, BrowserError::Timeout { .. }), "{missing}");
    assert!(missing.to_string().contains("#absent"), "{missing}");

    let never = browser
        .wait_for_text("#out", "never shown", Duration::from_millis(300))
        .unwrap_err();
    assert!(never.to_string().contains("never shown"), "{never}");
    let bad = browser.try_find("p[").unwrap_err();
    assert!(bad.is_webdriver("invalid selector"), "{bad}");
    assert!(browser.find("#add").unwrap().is_enabled().unwrap());
    assert!(!browser.find("#off").unwrap().is_enabled().unwrap());
}
