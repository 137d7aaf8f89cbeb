//! Where the generated text lives in other files, between a begin and an end marker line,
//! and how it is checked and rewritten: [`Block::extract`] reads a file's copy,
//! [`Block::splice`] puts a fresh one in. The drift tests (`tests/drift.rs`) and the
//! `write-generated` program both use these, so they agree on the places.

use std::path::{Path, PathBuf};

/// A generated block: its markers and the files that carry it.
#[derive(Debug, Clone, Copy)]
pub struct Block {
    /// The line before the block.
    pub begin: &'static str,
    /// The line after it.
    pub end: &'static str,
    /// Files (relative to the workspace root) that carry it.
    pub files: &'static [&'static str],
    /// What goes between the markers.
    pub generate: fn() -> String,
}

/// The JavaScript codec in the web pages.
pub const JS: Block = Block {
    begin: "// BEGIN GENERATED game-protocol",
    end: "// END GENERATED game-protocol",
    files: &["web/chat.html", "web/arena.html"],
    generate: crate::js::generate,
};

/// The packet table in the protocol docs.
pub const DOCS: Block = Block {
    begin: "<!-- BEGIN GENERATED game-protocol packets -->",
    end: "<!-- END GENERATED game-protocol packets -->",
    files: &["docs/protocol.md"],
    generate: crate::markdown::generate,
};

/// Every block.
pub const BLOCKS: [Block; 2] = [JS, DOCS];

/// A file without its markers, or with them out of order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoBlock(pub &'static str);

impl std::fmt::Display for NoBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no `{}` ... end marker block", self.0)
    }
}

impl std::error::Error for NoBlock {}

impl Block {
    /// The byte range between the begin marker's line and the end marker's line.
    fn range(&self, text: &str) -> Result<std::ops::Range<usize>, NoBlock> {
        let missing = NoBlock(self.begin);
        let begin = text.find(self.begin).ok_or(missing.clone())?;
        let start = begin + text[begin..].find('\n').ok_or(missing.clone())? + 1;
        let end_marker = start + text[start..].find(self.end).ok_or(missing.clone())?;
        // The end marker's line starts after the last newline before it (keeps indentation).
        let end = text[..end_marker]
            .rfind('\n')
            .map_or(start, |n| (n + 1).max(start));
        Ok(start..end)
    }

    /// The text between the markers.
    ///
    /// # Errors
    /// [`NoBlock`] if `text` lacks the markers.
    pub fn extract<'t>(&self, text: &'t str) -> Result<&'t str, NoBlock> {
        Ok(&text[self.range(text)?])
    }

    /// `text` with a fresh block between the markers.
    ///
    /// # Errors
    /// [`NoBlock`] if `text` lacks the markers.
    pub fn splice(&self, text: &str) -> Result<String, NoBlock> {
        let range = self.range(text)?;
        Ok(format!(
            "{}{}{}",
            &text[..range.start],
            (self.generate)(),
            &text[range.end..]
        ))
    }
}

/// The workspace root (this crate is `crates/protocol`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> Block {
        Block {
            begin: "<!-- b -->",
            end: "<!-- e -->",
            files: &[],
            generate: || "new\n".into(),
        }
    }

    #[test]
    fn extracts_and_splices_between_the_markers() {
        let text = "x\n<!-- b -->\nold\nlines\n  <!-- e -->\ny\n";
        assert_eq!(block().extract(text), Ok("old\nlines\n"));
        assert_eq!(
            block().splice(text).unwrap(),
            "x\n<!-- b -->\nnew\n  <!-- e -->\ny\n"
        );
        assert!(block().extract("<!-- e -->\n<!-- b -->\n").is_err());
        assert!(block().extract("nothing").is_err());
    }
}
