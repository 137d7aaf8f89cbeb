#!/usr/bin/env bash
# Fuzz servercore's packet framer with cargo-fuzz (libFuzzer).
#
#   scripts/fuzz.sh [SECONDS] [TARGET]      # defaults: 60 seconds, target "framer"
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
exec cargo fuzz run ${args[@]+"${args[@]}"} "$target" -- -max_total_time="$secs"
