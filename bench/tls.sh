#!/usr/bin/env bash
# What TLS costs (issue 25), in one run with the servers alternated: gameserver (per I/O model)
# against tokio-rustls (tokio_tls_echo, tokio_chat --tls-cert), each also against itself over
# plain TCP. Sections (bench/tls.py): echo and chat cost below saturation, TLS echo capacity at
# p99 <= 5 ms, handshakes per second on one core. Server pinned to SERVER_CPU, client to
# CLIENT_CPU. Markdown tables on stdout, every record in bench/results/<run_id>-tls.jsonl.
#
# Usage: bench/tls.sh                       (the knobs: bench/README.md, "TLS")
#        SECTIONS="echo handshakes" REPEAT=5 bench/tls.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

die() {
    echo "tls.sh: $*" >&2
    exit 1
}
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

for tool in taskset python3 openssl; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
if [[ -z ${SKIP_BUILD:-} ]]; then
    cargo build --release -p gameserver -p dummyclient -p baselines
fi

# A throwaway CA and server certificate (ECDSA P-256, localhost and 127.0.0.1), unless TLS_DIR
# names a directory that already has them.
if [[ -z ${TLS_DIR:-} ]]; then
    TLS_DIR=$(mktemp -d)
    trap 'rm -rf "$TLS_DIR"' EXIT
    make_test_pki "$TLS_DIR"
fi
export TLS_DIR

# The capacity search, coarser than bench/run.sh capacity's to fit a run in ~15 minutes:
# steps of 1.5x, resolved to 10%, a failing rate tried twice.
export STEP_FACTOR=${STEP_FACTOR:-1.5} RESOLUTION=${RESOLUTION:-0.1} TRIES=${TRIES:-2}
SKIP_BUILD=1 python3 "$ROOT/bench/tls.py"
