//! Every copy of the generated text (the pages' JavaScript codec, the docs' packet table) is
//! exactly what the schema generates now. When this fails, run
//! `cargo run -p game-protocol --bin write-generated` (after checking the change is meant).

use game_protocol::generated::{workspace_root, BLOCKS};

#[test]
fn every_generated_copy_matches_the_schema() {
    let root = workspace_root();
    for block in BLOCKS {
        let fresh = (block.generate)();
        for file in block.files {
            let text =
                std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            let copy = block
                .extract(&text)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(
                copy == fresh,
                "{file} has drifted from crates/protocol/src/schema.rs: run \
                 `cargo run -p game-protocol --bin write-generated`"
            );
        }
    }
}

#[test]
fn the_pages_use_the_generated_codec_and_no_table_of_their_own() {
    let root = workspace_root();
    for page in game_protocol::generated::JS.files {
        let text = std::fs::read_to_string(root.join(page)).unwrap();
        let outside = text.replace(
            game_protocol::generated::JS
                .extract(&text)
                .expect("the generated block"),
            "",
        );
        assert!(outside.contains("PROTOCOL."), "{page} uses PROTOCOL");
        assert!(
            !outside.contains("setUint16(2,") && !outside.contains("const ID ="),
            "{page} writes packet ids or headers itself"
        );
    }
}
