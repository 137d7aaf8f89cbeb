#!/usr/bin/env bash
# Verified resumes under chaos: one release gameserver (--auth-secret, --resume-window, one
# event loop pinned to SERVER_CPU) and dummyclient pinned to CLIENT_CPU running the chat
# scenario with --resume --chaos RATE for each RATE in CHAOS: CLIENTS clients in ROOMS rooms,
# CHAT_RATE chats a second each, for DURATION s, the client dropping RATE of its own
# connections a second (aborts; the server sees EOF or a reset) and each dropped client
# resuming its seat. Every chat is verified exactly once, in per-sender order, across the
# resumes. Per RATE: drops, resumes, resume latency p50/p99 (drop to RESUMED), messages the
# server replayed and packets the client resent, fan-out p99, seats lost, errors, verdict.
#
# Usage: bench/resume_storm.sh   knobs: CHAOS="0 10 50 200" CLIENTS=200 ROOMS=10 CHAT_RATE=10
#                                       DURATION=5 MODEL=epoll SERVER_CPU=0 CLIENT_CPU=1
#                                       SKIP_BUILD=1
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CHAOS=${CHAOS:-0 10 50 200}
CLIENTS=${CLIENTS:-200}
ROOMS=${ROOMS:-10}
CHAT_RATE=${CHAT_RATE:-10}
DURATION=${DURATION:-5}
MODEL=${MODEL:-epoll}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/release
[[ -n ${SKIP_BUILD:-} ]] || cargo build --release -p gameserver -p dummyclient
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
die() {
    echo "resume_storm.sh: $*" >&2
    exit 1
}

WORK=$(mktemp -d -t resume-storm.XXXXXX)
head -c 32 /dev/urandom | base64 >"$WORK/auth.secret"
PIDS=()
trap 'stop_pids; rm -rf "$WORK"' EXIT

PORT=$(free_port)
taskset -c "$SERVER_CPU" "$BIN_DIR/gameserver" --protocol packet --model "$MODEL" \
    --threads 1 --bind 127.0.0.1 --port "$PORT" --rate-limit 0 \
    --max-sessions $((CLIENTS * 2 + 100)) --max-room-members "$CLIENTS" \
    --auth-secret "$WORK/auth.secret" --resume-window 30 >"$WORK/gameserver.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT" "$!" gameserver "$WORK/gameserver.log"

printf '%-6s %6s %8s %10s %10s %9s %7s %12s %6s %6s %s\n' chaos drops resumes \
    p50_us p99_us replayed resent fanout_p99 lost errors result
for rate in $CHAOS; do
    args=(--addr "127.0.0.1:$PORT" --protocol packet --scenario chat --clients "$CLIENTS"
        --rooms "$ROOMS" --chat-rate "$CHAT_RATE" --duration "$DURATION" --threads 1
        --model "$MODEL" --auth-secret "$WORK/auth.secret" --resume --json)
    [[ $rate == 0 ]] || args+=(--chaos "$rate" --seed "$rate")
    status=0
    taskset -c "$CLIENT_CPU" "$BIN_DIR/dummyclient" "${args[@]}" >"$WORK/run.json" \
        2>"$WORK/run.err" || status=$?
    python3 - "$WORK/run.json" "$rate" "$status" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
r = report["resume"]
result = "PASS" if sys.argv[3] == "0" else f"FAIL ({sys.argv[3]})"
print(f"{sys.argv[2]:<6} {r['drops']:>6} {r['resumes']:>8} {r['latency_p50_us']:>10} "
      f"{r['latency_p99_us']:>10} {r['replayed']:>9} {r['resent_packets']:>7} "
      f"{report['p99_us']:>12} {r['seats_lost']:>6} {report['errors']:>6} {result}")
PY
done
