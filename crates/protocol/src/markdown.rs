//! The packet table of docs/protocol.md, made from the schema (between the markers of
//! [`crate::generated::DOCS`]; a test fails when the docs' copy drifts).

use std::fmt::Write as _;

use crate::schema::{Field, Ty, LAYOUTS, PACKETS};

/// The Markdown table of every packet, then the layouts (without the markers).
pub fn generate() -> String {
    let mut out = String::from(
        "| id | name | direction | body (little-endian, in order) | what it is for |\n\
         |----|------|-----------|--------------------------------|----------------|\n",
    );
    for p in PACKETS {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} |",
            p.id,
            p.name,
            p.dir.arrow(),
            body(p.fields),
            p.doc
        );
    }
    out.push('\n');
    for l in LAYOUTS {
        let _ = writeln!(out, "Layout `{}`: {} — {}.", l.name, body(l.fields), l.doc);
    }
    out
}

/// `name: type, ...` of `fields`, or `empty`.
fn body(fields: &[Field]) -> String {
    if fields.is_empty() {
        return "empty".into();
    }
    let parts: Vec<String> = fields
        .iter()
        .map(|field| match field.ty {
            Ty::Str8 { min, max } => format!("`{}: str8` ({min}..={max} B UTF-8)", field.name),
            Ty::List(item) => format!("`{}: list` of {{{}}}", field.name, inner(item)),
            Ty::Bytes => format!("`{}`: the rest, any bytes", field.name),
            Ty::Text => format!("`{}`: the rest, UTF-8", field.name),
            ty => format!("`{}: {}`", field.name, ty.name()),
        })
        .collect();
    parts.join(", ")
}

/// A list item's fields, compactly.
fn inner(fields: &[Field]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|f| format!("`{}: {}`", f.name, f.ty.name()))
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_row_per_packet() {
        let table = super::generate();
        assert_eq!(
            table
                .lines()
                .filter(|l| l.starts_with("| ") && !l.starts_with("| id"))
                .count(),
            crate::schema::PACKETS.len()
        );
        assert!(table.contains("| 13 | `ARENA_SNAPSHOT` | server -> client |"));
        assert!(table.contains("`moved: list` of {`id: u16`, `dx: i8`, `dy: i8`}"));
    }
}
