//! web/chat.html: the element ids its header documents (which the browser test asserts on)
//! are all on the page. (Its packet ids and layouts are the generated codec of
//! `game-protocol`, checked by that crate's drift test.)

fn page() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/chat.html");
    std::fs::read_to_string(path).expect("web/chat.html is readable")
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
