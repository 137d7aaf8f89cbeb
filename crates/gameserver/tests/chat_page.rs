//! web/chat.html speaks docs/protocol.md: its packet ids are gameserver's, and the element
//! ids its header documents (which the browser test asserts on) are all on the page.

use std::collections::HashMap;

use gameserver::protocol;

fn page() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/chat.html");
    std::fs::read_to_string(path).expect("web/chat.html is readable")
}

/// The `const ID = { NAME: n, ... }` table of the page's script.
fn page_ids(page: &str) -> HashMap<String, u16> {
    let start = page.find("const ID = {").expect("the page has an ID table") + 12;
    let end = start + page[start..].find('}').expect("the ID table ends");
    page[start..end]
        .split(',')
        .map(|entry| {
            let (name, id) = entry.split_once(':').expect("NAME: id");
            (
                name.trim().to_string(),
                id.trim().parse().expect("a number"),
            )
        })
        .collect()
}

#[test]
fn packet_ids_match_the_server() {
    let ids = page_ids(&page());
    let expected = [
        ("ECHO", protocol::ECHO),
        ("ENTER_ROOM", protocol::ENTER_ROOM),
        ("LEAVE_ROOM", protocol::LEAVE_ROOM),
        ("CHAT", protocol::CHAT),
        ("CHAT_BROADCAST", protocol::CHAT_BROADCAST),
        ("ROOM_JOINED", protocol::ROOM_JOINED),
        ("SERVER_FULL", protocol::SERVER_FULL),
        ("ROOM_FULL", protocol::ROOM_FULL),
        ("RATE_LIMITED", protocol::RATE_LIMITED),
    ];
    assert_eq!(ids.len(), expected.len(), "{ids:?}");
    for (name, id) in expected {
        assert_eq!(ids.get(name), Some(&id), "{name}");
    }
}

#[test]
fn documented_element_ids_are_on_the_page() {
    let page = page();
    let header = &page[..page.find("-->").expect("the header comment ends")];
    let documented: Vec<&str> = header
        .lines()
        .filter_map(|line| line.trim().strip_prefix('#'))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert!(documented.len() >= 8, "{documented:?}");
    for id in documented {
        assert!(
            page.contains(&format!("id=\"{id}\"")),
            "#{id} is documented but not on the page"
        );
    }
    assert!(page.contains("\"servercore.packet.v1\""));
    assert!(page.contains("binaryType = \"arraybuffer\""));
}
