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
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer, -Cpasses=sancov...).
# RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them, so no nightly
# install is required. The corpus (crates/servercore/fuzz/corpus/<target>) and
# any crash (crates/servercore/fuzz/artifacts/<target>) are gitignored.
# A CARGO_TARGET_DIR in the environment is honoured (passed as --target-dir).
set -euo pipefail

secs="${1:-60}"
target="${2:-framer}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz not found, installing it" >&2
    cargo install cargo-fuzz --locked
fi

args=()
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    args+=(--target-dir "$CARGO_TARGET_DIR")
fi

cd "$root/crates/servercore"
export RUSTC_BOOTSTRAP=1
if [[ "$target" == all ]]; then
    for t in framer websocket; do
        cargo fuzz run ${args[@]+"${args[@]}"} "$t" -- -max_total_time="$secs"
    done
    exit 0
fi
exec cargo fuzz run ${args[@]+"${args[@]}"} "$target" -- -max_total_time="$secs"
