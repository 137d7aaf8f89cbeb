#!/usr/bin/env bash
# What connect tokens cost at sign-in (issue 26): one gameserver without and one with
# --auth-secret, each one event loop pinned to SERVER_CPU, alternated REPEAT times against the
# same dummyclient chat run (CLIENTS clients connect at once, each signs in with its own token
# when the server wants one, joins one of ROOMS rooms, then chats lightly for DURATION s),
# the client pinned to CLIENT_CPU. Per run: seconds until every client is in its room (the
# report's connect_secs: connects, HELLOs verified, joins) and the server's CPU time per
# client over the whole run (from /proc/PID/stat). Medians with [min-max], and token/plain.
#
# Usage: bench/login.sh      knobs: REPEAT=3 CLIENTS=2000 ROOMS=CLIENTS DURATION=0.2 MODEL=epoll
#                                   SERVER_CPU=0 CLIENT_CPU=1 SKIP_BUILD=1
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
REPEAT=${REPEAT:-3}
CLIENTS=${CLIENTS:-2000}
ROOMS=${ROOMS:-$CLIENTS}
DURATION=${DURATION:-0.2}
MODEL=${MODEL:-epoll}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/release
CLK_TCK=$(getconf CLK_TCK)
[[ -n ${SKIP_BUILD:-} ]] || cargo build --release -p gameserver -p dummyclient
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

WORK=$(mktemp -d -t login-bench.XXXXXX)
head -c 32 /dev/urandom | base64 >"$WORK/auth.secret"
PIDS=()
trap 'stop_pids; rm -rf "$WORK"' EXIT

# start NAME ARGS...: a gameserver on a free port; sets PORT_<NAME> and PID_<NAME>.
start() {
    local name=$1 port
    shift
    port=$(free_port)
    taskset -c "$SERVER_CPU" "$BIN_DIR/gameserver" --protocol packet --model "$MODEL" \
        --threads 1 --bind 127.0.0.1 --port "$port" --rate-limit 0 \
        --max-sessions $((CLIENTS + 100)) --max-room-members "$CLIENTS" "$@" \
        >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    printf -v "PID_$name" '%s' "$!"
    printf -v "PORT_$name" '%s' "$port"
    wait_port "$port" 10 "gameserver ($name)"
}
start plain
start token --auth-secret "$WORK/auth.secret"

# run NAME ARGS...: prints "NAME connect_secs server_cpu_us_per_client"
run() {
    local name=$1 pid port before after json
    shift
    pid=PID_$name port=PORT_$name
    before=$(cpu_ticks "${!pid}")
    json=$(taskset -c "$CLIENT_CPU" "$BIN_DIR/dummyclient" --addr "127.0.0.1:${!port}" \
        --protocol packet --scenario chat --clients "$CLIENTS" --rooms "$ROOMS" \
        --chat-rate 1 --duration "$DURATION" --threads 1 --connect-timeout 60 --json "$@")
    after=$(cpu_ticks "${!pid}")
    python3 - "$name" "$before" "$after" "$CLK_TCK" "$CLIENTS" "$json" <<'PY'
import json, sys
name, before, after, tck, clients, report = sys.argv[1:]
r = json.loads(report)
def find(obj, key):
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            found = find(v, key)
            if found is not None:
                return found
    return None
assert r["errors"] == 0, report
cpu_us = (int(after) - int(before)) * 1e6 / int(tck)
print(f"{name} {find(r, 'connect_secs'):.3f} {cpu_us / int(clients):.1f}")
PY
}

for _ in $(seq "$REPEAT"); do
    run plain
    run token --auth-secret "$WORK/auth.secret"
done | tee /dev/stderr | python3 -c '
import statistics, sys
rows = {}
for line in sys.stdin:
    name, secs, us = line.split()
    rows.setdefault(name, []).append((float(secs), float(us)))
print(f"\n'"$CLIENTS"' clients sign in and join at once, one server loop ('"$MODEL"')")
print("server   seconds until all in (median [min-max])   server CPU us per client (median [min-max])")
med = {}
for n, v in rows.items():
    secs = [s for s, _ in v]; us = [u for _, u in v]
    med[n] = (statistics.median(secs), statistics.median(us))
    print(f"{n:8} {med[n][0]:8.3f} [{min(secs):.3f}-{max(secs):.3f}]                 {med[n][1]:8.1f} [{min(us):.1f}-{max(us):.1f}]")
if "plain" in med and "token" in med:
    (ts, tu), (ps, pu) = med["token"], med["plain"]
    print(f"token/plain: time {ts / ps:.2f}, CPU {tu / pu:.2f}")
'
