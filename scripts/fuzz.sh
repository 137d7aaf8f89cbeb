#!/usr/bin/env bash
# Fuzz servercore's input paths with cargo-fuzz (libFuzzer).
#
#   scripts/fuzz.sh [SECONDS] [TARGET]      # defaults: 60 seconds, target "framer"
#
# Targets (crates/servercore/fuzz/fuzz_targets/):
#   framer     the packet framer (packet::Framer), any chunking
#   websocket  the WebSocket input path (websocket::WsConnection): handshake and frames
#   all        each target in turn, SECONDS each
#
# What it installs: cargo-fuzz, if `cargo fuzz` is missing, with
# `cargo install cargo-fuzz --locked` (into ~/.cargo/bin; a few minutes; it says so first).
# FUZZ_NO_INSTALL=1 stops with a message instead. libfuzzer-sys, built on the first run,
# needs a C++ compiler (g++ or clang++).
#
# It leaves the checkout as it found it. The fuzz project's Cargo.lock is not tracked: each
# run starts it from the workspace's Cargo.lock (cargo keeps those versions and adds
# libfuzzer-sys), so servercore is fuzzed with the dependency versions it is built and tested
# with, and nothing tracked is rewritten. The corpus (crates/servercore/fuzz/corpus/<target>)
# and any crash (crates/servercore/fuzz/artifacts/<target>) are gitignored too.
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer, -Cpasses=sancov...).
# RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them, so no nightly
# install is required. A CARGO_TARGET_DIR in the environment is honoured (passed as
# --target-dir).
set -euo pipefail

secs="${1:-60}"
target="${2:-framer}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

case "$target" in
framer | websocket | all) ;;
*)
    echo "fuzz.sh: unknown target '$target' (framer, websocket or all)" >&2
    exit 2
    ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    if [[ -n "${FUZZ_NO_INSTALL:-}" ]]; then
        echo "fuzz.sh: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)" >&2
        exit 1
    fi
    echo "fuzz.sh: cargo-fuzz is not installed; installing it now:" >&2
    echo "fuzz.sh:   cargo install cargo-fuzz --locked   (into ~/.cargo/bin, a few minutes;" >&2
    echo "fuzz.sh:   FUZZ_NO_INSTALL=1 stops here instead)" >&2
    cargo install cargo-fuzz --locked
fi

args=()
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    args+=(--target-dir "$CARGO_TARGET_DIR")
fi

cd "$root/crates/servercore"
# Untracked (see above): the workspace's versions, every run.
cp "$root/Cargo.lock" fuzz/Cargo.lock
export RUSTC_BOOTSTRAP=1
if [[ "$target" == all ]]; then
    for t in framer websocket; do
        cargo fuzz run ${args[@]+"${args[@]}"} "$t" -- -max_total_time="$secs"
    done
    exit 0
fi
exec cargo fuzz run ${args[@]+"${args[@]}"} "$target" -- -max_total_time="$secs"
