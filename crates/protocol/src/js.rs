//! The JavaScript the web pages embed: the schema as data (`ID`, `LAYOUT`) and a codec that
//! reads it with the same rules as [`crate::codec`]. `web/chat.html` and `web/arena.html` carry
//! it between the markers of [`crate::generated::JS`]; a test fails when a page's copy is not
//! exactly [`generate`]'s output, and `cargo run -p game-protocol --bin write-generated`
//! rewrites the copies.

use std::fmt::Write as _;

use crate::arena::{ACTION_TAG, FLAG_COOLDOWN, FLAG_IT, QUANTA};
use crate::schema::{Field, Ty, LAYOUTS, PACKETS};

/// The codec over the tables (constant text: the tables are generated above it).
const CODEC: &str = r#"  const HEADER_LEN = 4;
  const NAME = Object.fromEntries(Object.entries(ID).map(([name, id]) => [id, name]));
  const utf8 = new TextEncoder();
  const strict = new TextDecoder("utf-8", { fatal: true });
  const WIDTH = { u8: 1, i8: 1, u16: 2, u32: 4 };

  function readInt(view, at, type) {
    switch (type) {
      case "u8": return view.getUint8(at);
      case "i8": return view.getInt8(at);
      case "u16": return view.getUint16(at, true);
      default: return view.getUint32(at, true);
    }
  }

  function writeInt(view, at, type, value) {
    const limits = { u8: [0, 0xff], i8: [-0x80, 0x7f], u16: [0, 0xffff], u32: [0, 0xffffffff] }[type];
    if (!Number.isInteger(value) || value < limits[0] || value > limits[1]) throw new Error(`${value} is not a ${type}`);
    switch (type) {
      case "u8": view.setUint8(at, value); break;
      case "i8": view.setInt8(at, value); break;
      case "u16": view.setUint16(at, value, true); break;
      default: view.setUint32(at, value, true);
    }
  }

  /** Reads `fields` from `bytes` at `state.at`; throws on a body that does not fit. */
  function readFields(fields, bytes, view, state) {
    const out = {};
    for (const [name, type, a, b] of fields) {
      const need = (n) => { if (state.at + n > bytes.length) throw new Error(`the body ends inside ${name}`); };
      if (type in WIDTH) {
        need(WIDTH[type]);
        out[name] = readInt(view, state.at, type);
        state.at += WIDTH[type];
      } else if (type === "str8") {
        need(1);
        const len = bytes[state.at];
        if (len < a || len > b) throw new Error(`${name} has ${len} bytes, not ${a}..${b}`);
        need(1 + len);
        out[name] = strict.decode(bytes.subarray(state.at + 1, state.at + 1 + len));
        state.at += 1 + len;
      } else if (type === "bytes" || type === "text") {
        const rest = bytes.subarray(state.at);
        out[name] = type === "text" ? strict.decode(rest) : rest;
        state.at = bytes.length;
      } else {
        need(2);
        const count = view.getUint16(state.at, true);
        state.at += 2;
        out[name] = [];
        for (let i = 0; i < count; i++) out[name].push(readFields(a, bytes, view, state));
      }
    }
    return out;
  }

  /** Appends `fields` of `value` to `parts` (arrays of bytes). */
  function writeFields(fields, value, parts) {
    for (const [name, type, a, b] of fields) {
      const v = value[name];
      if (type in WIDTH) {
        const part = new Uint8Array(WIDTH[type]);
        writeInt(new DataView(part.buffer), 0, type, v);
        parts.push(part);
      } else if (type === "str8") {
        const text = utf8.encode(v);
        if (text.length < a || text.length > b) throw new Error(`${name} must be ${a}..${b} bytes`);
        parts.push(Uint8Array.of(text.length), text);
      } else if (type === "bytes") {
        parts.push(v);
      } else if (type === "text") {
        parts.push(utf8.encode(v));
      } else {
        const count = new Uint8Array(2);
        writeInt(new DataView(count.buffer), 0, "u16", v.length);
        parts.push(count);
        for (const item of v) writeFields(a, item, parts);
      }
    }
  }

  /** The body of packet (or layout) `name` as an object; throws unless it fits exactly. */
  function decode(name, body) {
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const state = { at: 0 };
    const out = readFields(LAYOUT[name], body, view, state);
    if (state.at !== body.length) throw new Error(`${body.length - state.at} bytes after ${name}`);
    return out;
  }

  /** `value` as a body of packet (or layout) `name`. */
  function encodeBody(name, value) {
    const parts = [];
    writeFields(LAYOUT[name], value, parts);
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) { out.set(part, at); at += part.length; }
    return out;
  }

  /** A whole packet: header (size, id; little-endian) and the body of `value`. */
  function packet(name, value) {
    const body = encodeBody(name, value);
    const out = new Uint8Array(HEADER_LEN + body.length);
    const view = new DataView(out.buffer);
    writeInt(view, 0, "u16", out.length);
    view.setUint16(2, ID[name], true);
    out.set(body, HEADER_LEN);
    return out;
  }

  /** Cuts whole packets off a byte stream (a message may hold several, or part of one). */
  class PacketStream {
    constructor() { this.pending = new Uint8Array(0); }
    push(bytes, onPacket) {
      const data = new Uint8Array(this.pending.length + bytes.length);
      data.set(this.pending);
      data.set(bytes, this.pending.length);
      let at = 0;
      while (data.length - at >= HEADER_LEN) {
        const view = new DataView(data.buffer, at);
        const size = view.getUint16(0, true);
        if (size < HEADER_LEN) throw new Error(`bad packet size ${size}`);
        if (data.length - at < size) break;
        onPacket(view.getUint16(2, true), data.subarray(at + HEADER_LEN, at + size));
        at += size;
      }
      this.pending = data.slice(at);
    }
  }

  return Object.freeze({ ID, NAME, LAYOUT, ARENA, HEADER_LEN, decode, encodeBody, packet, PacketStream });
"#;

/// The JavaScript block (without the markers): `const PROTOCOL = (() => { ... })();`.
pub fn generate() -> String {
    let mut out = String::from(
        "// The game protocol, generated from crates/protocol/src/schema.rs: do not edit here.\n\
         // `cargo run -p game-protocol --bin write-generated` rewrites it; a test fails if it drifts.\n\
         const PROTOCOL = (() => {\n",
    );
    out.push_str("  const ID = {");
    for (i, p) in PACKETS.iter().enumerate() {
        let sep = if i == 0 { " " } else { ", " };
        let _ = write!(out, "{sep}{}: {}", p.name, p.id);
    }
    out.push_str(" };\n  const LAYOUT = {\n");
    let layouts = PACKETS
        .iter()
        .map(|p| (p.name, p.fields))
        .chain(LAYOUTS.iter().map(|l| (l.name, l.fields)));
    for (name, fields) in layouts {
        let _ = writeln!(out, "    {name}: {},", fields_js(fields));
    }
    out.push_str("  };\n");
    let _ = writeln!(
        out,
        "  const ARENA = {{ QUANTA: {QUANTA}, ACTION_TAG: {ACTION_TAG}, FLAG_IT: {FLAG_IT}, FLAG_COOLDOWN: {FLAG_COOLDOWN} }};"
    );
    out.push_str(CODEC);
    out.push_str("})();\n");
    out
}

/// `[["name", "type", ...], ...]` for `fields`.
fn fields_js(fields: &[Field]) -> String {
    let entries: Vec<String> = fields
        .iter()
        .map(|field| match field.ty {
            Ty::Str8 { min, max } => format!("[\"{}\", \"str8\", {min}, {max}]", field.name),
            Ty::List(item) => format!("[\"{}\", \"list\", {}]", field.name, fields_js(item)),
            ty => format!("[\"{}\", \"{}\"]", field.name, ty.name()),
        })
        .collect();
    format!("[{}]", entries.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_name_every_packet_and_layout() {
        let js = generate();
        for p in PACKETS {
            assert!(js.contains(&format!("{}: {}", p.name, p.id)), "{}", p.name);
            assert!(js.contains(&format!("    {}: [", p.name)), "{}", p.name);
        }
        assert!(js.contains("NAMED_CHAT: [[\"name\", \"str8\", 1, 32], [\"text\", \"text\"]]"));
        assert!(js.contains("[\"left\", \"list\", [[\"id\", \"u16\"]]]"));
        assert!(js.ends_with("})();\n"));
    }
}
