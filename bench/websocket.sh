#!/usr/bin/env bash
# WebSocket vs TCP on one gameserver, in one run: the same packet echo and chat loads from
# dummyclient over TCP (--addr the TCP port) and over WebSocket (--websocket, the WebSocket
# port), alternated REPEAT times. Server pinned to SERVER_CPU, client to CLIENT_CPU; the figure
# is the server's CPU time (from /proc/PID/stat) per echoed message or per chat delivery, and
# the ratio WebSocket/TCP of the medians: what the framing (and the unmasking copy) costs.
#
# Usage: bench/websocket.sh      knobs: REPEAT=3 DURATION=5 CLIENTS=100 SERVER_CPU=0 CLIENT_CPU=1
#                                       MODEL=epoll SKIP_BUILD=1
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-5}
CLIENTS=${CLIENTS:-100}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
MODEL=${MODEL:-epoll}
BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/release
CLK_TCK=$(getconf CLK_TCK)
[[ -n ${SKIP_BUILD:-} ]] || cargo build --release -p gameserver -p dummyclient

die() {
    echo "websocket.sh: $*" >&2
    exit 1
}
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
TCP_PORT=$(free_port)
WS_PORT=$(free_port)
LOG=$(mktemp -t ws-bench.XXXXXX)
taskset -c "$SERVER_CPU" "$BIN_DIR/gameserver" --protocol packet --model "$MODEL" --threads 1 \
    --bind 127.0.0.1 --port "$TCP_PORT" --websocket "127.0.0.1:$WS_PORT" --rate-limit 0 \
    >"$LOG" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q ready "$LOG" && break; sleep 0.1; done
grep -q ready "$LOG" || { cat "$LOG"; exit 1; }


# run NAME UNIT ARGS...: prints "NAME us_per_unit units_per_s"
run() {
    local name=$1 unit=$2
    shift 2
    local before after json
    before=$(cpu_ticks "$SERVER")
    json=$(taskset -c "$CLIENT_CPU" "$BIN_DIR/dummyclient" "$@" --duration "$DURATION" \
        --threads 1 --json)
    after=$(cpu_ticks "$SERVER")
    python3 - "$name" "$unit" "$before" "$after" "$CLK_TCK" "$json" <<'PY'
import json, sys
name, unit, before, after, tck, report = sys.argv[1:]
r = json.loads(report)
units = r[unit]
cpu_us = (int(after) - int(before)) * 1e6 / int(tck)
print(f"{name} {cpu_us / max(units, 1):.3f} {units / r.get('duration_secs', 1):.0f}")
PY
}

ECHO=(--protocol packet --clients "$CLIENTS" --size 64 --inflight 1)
CHAT=(--protocol packet --scenario chat --clients 200 --rooms 10 --chat-rate 10)
for i in $(seq "$REPEAT"); do
    run tcp-echo messages --addr "127.0.0.1:$TCP_PORT" "${ECHO[@]}"
    run ws-echo messages --addr "127.0.0.1:$WS_PORT" --websocket "${ECHO[@]}"
    run tcp-chat deliveries --addr "127.0.0.1:$TCP_PORT" "${CHAT[@]}"
    run ws-chat deliveries --addr "127.0.0.1:$WS_PORT" --websocket "${CHAT[@]}"
done | tee /dev/stderr | python3 -c '
import statistics, sys
rows = {}
for line in sys.stdin:
    name, us, rate = line.split()
    rows.setdefault(name, []).append((float(us), float(rate)))
med = {n: statistics.median(u for u, _ in v) for n, v in rows.items()}
print("\ncase       server CPU us/unit (median [min-max])   units/s (median)   ws/tcp")
for n, v in rows.items():
    us = [u for u, _ in v]
    kind = n.split("-")[1]
    ratio = med[n] / med["tcp-" + kind]
    rate = statistics.median(r for _, r in v)
    print(f"{n:10} {med[n]:8.3f} [{min(us):.3f}-{max(us):.3f}]           {rate:12.0f}   {ratio:.2f}")
'
