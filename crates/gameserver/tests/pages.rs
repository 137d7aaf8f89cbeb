//! web/chat.html and web/arena.html: the element ids each page's header documents (which the
//! browser tests assert on) are all on the page, and each speaks the WebSocket subprotocol
//! with binary messages. (Their packet ids and layouts are the generated codec of
//! `game-protocol`, checked by that crate's drift test.)

fn page(name: &str) -> String {
    let path = format!("{}/../../web/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn documented_element_ids_are_on_the_pages() {
    for name in ["chat.html", "arena.html"] {
        let page = page(name);
        let header = &page[..page.find("-->").expect("the header comment ends")];
        let documented: Vec<&str> = header
            .lines()
            .filter_map(|line| line.trim().strip_prefix('#'))
            .filter_map(|rest| rest.split_whitespace().next())
            .collect();
        assert!(documented.len() >= 8, "{name}: {documented:?}");
        for id in documented {
            assert!(
                page.contains(&format!("id=\"{id}\"")),
                "{name}: #{id} is documented but not on the page"
            );
        }
        assert!(page.contains("\"servercore.packet.v1\""), "{name}");
        assert!(page.contains("binaryType = \"arraybuffer\""), "{name}");
    }
}
