#!/usr/bin/env bash
# What holding seats costs a chat (issue 26): one release gameserver (--auth-secret, seats on,
# one event loop pinned to SERVER_CPU) and dummyclient pinned to CLIENT_CPU running the same
# chat scenario alternately without and with --resume (each client asks for a seat, the
# server records every broadcast to it until the client's ACK, the client keeps its chats
# until the server's ACK): CLIENTS clients in ROOMS rooms, each chatting CHAT_RATE times a
# second for DURATION s, for each CHAT_RATE in RATES, REPEAT times. Per run: deliveries/s,
# p99 latency, and the server's CPU time per delivery. Medians with [min-max], seat/plain.
#
# Usage: bench/resume_chat.sh   knobs: REPEAT=3 CLIENTS=100 ROOMS=10 RATES="20 80" DURATION=5
#                                      MODEL=epoll SERVER_CPU=0 CLIENT_CPU=1 SKIP_BUILD=1
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
REPEAT=${REPEAT:-3}
CLIENTS=${CLIENTS:-100}
ROOMS=${ROOMS:-10}
RATES=${RATES:-20 80}
DURATION=${DURATION:-5}
MODEL=${MODEL:-epoll}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/release
CLK_TCK=$(getconf CLK_TCK)
[[ -n ${SKIP_BUILD:-} ]] || cargo build --release -p gameserver -p dummyclient
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

WORK=$(mktemp -d -t resume-chat.XXXXXX)
head -c 32 /dev/urandom | base64 >"$WORK/auth.secret"
PIDS=()
trap 'stop_pids; rm -rf "$WORK"' EXIT

PORT=$(free_port)
taskset -c "$SERVER_CPU" "$BIN_DIR/gameserver" --protocol packet --model "$MODEL" \
    --threads 1 --bind 127.0.0.1 --port "$PORT" --rate-limit 0 \
    --auth-secret "$WORK/auth.secret" --player-logins-per-minute 1000 \
    >"$WORK/gameserver.log" 2>&1 &
PIDS+=($!)
SERVER=$!
wait_port "$PORT" "$SERVER" gameserver "$WORK/gameserver.log"

# chat NAME RATE ARGS...: prints "NAME RATE deliveries_per_s p99_us server_cpu_us_per_delivery"
chat() {
    local name=$1 rate=$2 before after json
    shift 2
    before=$(cpu_ticks "$SERVER")
    json=$(taskset -c "$CLIENT_CPU" "$BIN_DIR/dummyclient" --addr "127.0.0.1:$PORT" \
        --protocol packet --scenario chat --clients "$CLIENTS" --rooms "$ROOMS" \
        --chat-rate "$rate" --duration "$DURATION" --threads 1 \
        --auth-secret "$WORK/auth.secret" --json "$@")
    after=$(cpu_ticks "$SERVER")
    python3 - "$name" "$rate" "$before" "$after" "$CLK_TCK" "$json" <<'PY'
import json, sys
name, rate, before, after, tck, report = sys.argv[1:]
r = json.loads(report)
assert r["errors"] == 0, report
cpu_us = (int(after) - int(before)) * 1e6 / int(tck)
print(f"{name} {rate} {r['deliveries_per_sec']:.0f} {r['p99_us']} {cpu_us / r['deliveries']:.3f}")
PY
}

for _ in $(seq "$REPEAT"); do
    for rate in $RATES; do
        chat plain "$rate"
        chat seat "$rate" --resume
    done
done | tee /dev/stderr | python3 -c '
import statistics, sys
rows = {}
for line in sys.stdin:
    name, rate, *values = line.split()
    rows.setdefault(int(rate), {}).setdefault(name, []).append([float(v) for v in values])
def cell(runs, i):
    xs = [r[i] for r in runs]
    return statistics.median(xs), f"{statistics.median(xs):.6g} [{min(xs):.6g}-{max(xs):.6g}]"
print(f"chat, {sys.argv[1]} clients in {sys.argv[2]} rooms, medians of {sys.argv[3]} [min-max]:")
print("| chats/s each | | deliveries/s | p99 µs | server CPU µs/delivery |")
print("|---|---|---|---|---|")
for rate in sorted(rows):
    meds = {}
    for name in ("plain", "seat"):
        runs = rows[rate][name]
        cells = [cell(runs, i) for i in range(3)]
        meds[name] = [c[0] for c in cells]
        print(f"| {rate} | {name} | " + " | ".join(c[1] for c in cells) + " |")
    ratio = [s / p if p else float("nan") for s, p in zip(meds["seat"], meds["plain"])]
    print(f"| {rate} | seat/plain | " + " | ".join(f"{x:.2f}" for x in ratio) + " |")
' "$CLIENTS" "$ROOMS" "$REPEAT"
