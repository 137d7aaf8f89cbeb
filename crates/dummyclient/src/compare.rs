//! `--compare A.json B.json`: two `--json` reports side by side, with the ratio B/A of every
//! numeric figure.
//!
//! ```text
//!   figure            a.json      b.json     b/a
//!   msgs_per_sec   10000.000   15000.000   1.500
//!   scenario            echo        echo
//! ```
//!
//! Nested objects (`disconnect_reasons`) are flattened to `disconnect_reasons.reset`; a
//! figure missing on one side shows `-`; a ratio over zero shows `-`.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;

use serde_json::{Map, Value};

/// Reads two `--json` outputs and returns [`compare`]'s table, headed by the file names.
///
/// # Errors
/// A file that cannot be read, or is not a JSON object.
pub fn compare_files(a: &Path, b: &Path) -> Result<String, String> {
    let read = |path: &Path| -> Result<Map<String, Value>, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        match serde_json::from_str(text.trim()) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(format!("{} is not a JSON object", path.display())),
            Err(err) => Err(format!("{} is not JSON: {err}", path.display())),
        }
    };
    let name = |path: &Path| {
        path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        )
    };
    Ok(compare(&name(a), &read(a)?, &name(b), &read(b)?))
}

/// The table of two reports: one row per figure of either (sorted by name), the value in
/// each, and b/a for numbers.
pub fn compare(
    a_name: &str,
    a: &Map<String, Value>,
    b_name: &str,
    b: &Map<String, Value>,
) -> String {
    let (a, b) = (flatten(a), flatten(b));
    let keys: BTreeSet<&String> = a.iter().chain(&b).map(|(k, _)| k).collect();
    let mut rows = vec![(
        "figure".to_string(),
        a_name.to_string(),
        b_name.to_string(),
        "b/a".to_string(),
    )];
    for key in keys {
        let get =
            |side: &[(String, Value)]| side.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let (va, vb) = (get(&a), get(&b));
        let ratio = match (
            va.as_ref().and_then(Value::as_f64),
            vb.as_ref().and_then(Value::as_f64),
        ) {
            (Some(x), Some(y)) if x != 0.0 => format!("{:.3}", y / x),
            (Some(_), Some(_)) => "-".into(),
            _ => String::new(),
        };
        rows.push((key.clone(), show(va.as_ref()), show(vb.as_ref()), ratio));
    }
    let width =
        |f: fn(&(String, String, String, String)) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let (w0, w1, w2, w3) = (
        width(|r| r.0.len()),
        width(|r| r.1.len()),
        width(|r| r.2.len()),
        width(|r| r.3.len()),
    );
    let mut out = String::new();
    for (k, x, y, r) in &rows {
        let _ = writeln!(out, "{k:<w0$}  {x:>w1$}  {y:>w2$}  {r:>w3$}");
    }
    out
}

/// Leaves of `map` as (dotted name, value); arrays are left out.
fn flatten(map: &Map<String, Value>) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (key, value) in map {
        match value {
            Value::Object(inner) => {
                out.extend(
                    flatten(inner)
                        .into_iter()
                        .map(|(k, v)| (format!("{key}.{k}"), v)),
                );
            }
            Value::Array(_) => {}
            leaf => out.push((key.clone(), leaf.clone())),
        }
    }
    out
}

/// A value as a table cell: integers as they are, other numbers with three decimals.
fn show(value: Option<&Value>) -> String {
    match value {
        None => "-".into(),
        Some(Value::Number(n)) if n.is_f64() => format!("{:.3}", n.as_f64().unwrap_or(0.0)),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(text: &str) -> Map<String, Value> {
        match serde_json::from_str(text).unwrap() {
            Value::Object(map) => map,
            _ => unreachable!("test objects are objects"),
        }
    }

    #[test]
    fn ratios_nested_missing_and_zero() {
        let a = object(
            r#"{"msgs_per_sec": 200.0, "lost": 0, "model": "epoll", "disconnect_reasons": {"reset": 2}}"#,
        );
        let b = object(
            r#"{"msgs_per_sec": 300.0, "lost": 3, "model": "uring", "disconnect_reasons": {"reset": 1}, "rooms": 4}"#,
        );
        let table = compare("a", &a, "b", &b);
        let row = |name: &str| -> Vec<String> {
            let line = table
                .lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap();
            line.split_whitespace().map(String::from).collect()
        };
        assert_eq!(
            row("msgs_per_sec"),
            ["msgs_per_sec", "200.000", "300.000", "1.500"]
        );
        assert_eq!(
            row("disconnect_reasons.reset"),
            ["disconnect_reasons.reset", "2", "1", "0.500"]
        );
        assert_eq!(row("lost"), ["lost", "0", "3", "-"]);
        assert_eq!(row("model"), ["model", "epoll", "uring"]);
        assert_eq!(row("rooms"), ["rooms", "-", "4"]);
    }
}
