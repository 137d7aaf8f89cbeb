//! Rewrites the generated blocks of the files that carry them (the pages' JavaScript codec,
//! the docs' packet table) from the schema:
//!
//! ```text
//! cargo run -p game-protocol --bin write-generated
//! ```
//!
//! Run it after changing `crates/protocol/src/schema.rs`; `cargo test -p game-protocol`
//! fails until the copies match.

use std::process::ExitCode;

use game_protocol::generated::{workspace_root, BLOCKS};

fn main() -> ExitCode {
    let root = workspace_root();
    let mut failed = false;
    for block in BLOCKS {
        for file in block.files {
            let path = root.join(file);
            let result = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    let fresh = block.splice(&text).map_err(|e| e.to_string())?;
                    if fresh == text {
                        return Ok(false);
                    }
                    std::fs::write(&path, fresh).map_err(|e| e.to_string())?;
                    Ok(true)
                });
            match result {
                Ok(true) => println!("rewrote {file}"),
                Ok(false) => println!("{file} is up to date"),
                Err(err) => {
                    eprintln!("write-generated: {file}: {err}");
                    failed = true;
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
