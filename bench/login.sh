#!/usr/bin/env bash
# What connect tokens cost at sign-in (issue 26): one gameserver without and one with
# --auth-secret, each one event loop pinned to SERVER_CPU, alternated REPEAT times against the
# same dummyclient chat run (CLIENTS clients connect at once, each signs in with its own token
# when the server wants one, joins one of ROOMS rooms, then chats lightly for DURATION s),
# the client pinned to CLIENT_CPU. Per run: seconds until every client is in its room (the
# report's connect_secs: connects, HELLOs verified, joins) and the server's CPU time per
# client over the whole run (from /proc/PID/stat). Then what the login gate costs on every
# packet of a signed-in player: a closed-loop packet echo (ECHO_CLIENTS clients, ECHO_DURATION
# s), server CPU per message. Medians with [min-max], and token/plain.
#
# Usage: bench/login.sh      knobs: REPEAT=3 CLIENTS=2000 ROOMS=CLIENTS DURATION=0.2 MODEL=epoll
#                                   ECHO_CLIENTS=100 ECHO_DURATION=5 SERVER_CPU=0 CLIENT_CPU=1
#                                   SKIP_BUILD=1
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
REPEAT=${REPEAT:-3}
CLIENTS=${CLIENTS:-2000}
ROOMS=${ROOMS:-$CLIENTS}
DURATION=${DURATION:-0.2}
ECHO_CLIENTS=${ECHO_CLIENTS:-100}
ECHO_DURATION=${ECHO_DURATION:-5}
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
    wait_port "$port" "${PIDS[-1]}" "gameserver ($name)"
}
start plain
start token --auth-secret "$WORK/auth.secret"

# signin NAME ARGS...: prints "signin NAME connect_secs server_cpu_us_per_client"
signin() {
    local name=$1 pid port before after json
    shift
    pid=PID_$name port=PORT_$name
    before=$(cpu_ticks "${!pid}")
    json=$(taskset -c "$CLIENT_CPU" "$BIN_DIR/dummyclient" --addr "127.0.0.1:${!port}" \
        --protocol packet --scenario chat --clients "$CLIENTS" --rooms "$ROOMS" \
        --chat-rate 1 --duration "$DURATION" --threads 1 --connect-timeout 60 --json "$@")
    after=$(cpu_ticks "${!pid}")
    report signin "$name" "$before" "$after" "$CLIENTS" "$json"
}

# echo NAME ARGS...: prints "echo NAME server_cpu_us_per_message messages_per_s"
echo_run() {
    local name=$1 pid port before after json
    shift
    pid=PID_$name port=PORT_$name
    before=$(cpu_ticks "${!pid}")
    json=$(taskset -c "$CLIENT_CPU" "$BIN_DIR/dummyclient" --addr "127.0.0.1:${!port}" \
        --protocol packet --clients "$ECHO_CLIENTS" --size 64 --inflight 1 \
        --duration "$ECHO_DURATION" --threads 1 --json "$@")
    after=$(cpu_ticks "${!pid}")
    report echo "$name" "$before" "$after" 0 "$json"
}

# report KIND NAME BEFORE AFTER CLIENTS JSON: one result line from a dummyclient report.
report() {
    python3 - "$@" "$CLK_TCK" <<'PY'
import json, sys
kind, name, before, after, clients, report, tck = sys.argv[1:]
r = json.loads(report)
assert r["errors"] == 0, report
cpu_us = (int(after) - int(before)) * 1e6 / int(tck)
if kind == "signin":
    print(f"signin {name} {r['connect_secs']:.3f} {cpu_us / int(clients):.1f}")
else:
    print(f"echo {name} {cpu_us / r['messages']:.3f} {r['messages'] / r['duration_secs']:.0f}")
PY
}

for _ in $(seq "$REPEAT"); do
    signin plain
    signin token --auth-secret "$WORK/auth.secret"
    echo_run plain
    echo_run token --auth-secret "$WORK/auth.secret"
done | tee /dev/stderr | python3 -c '
import statistics, sys
rows = {}
for line in sys.stdin:
    kind, name, a, b = line.split()
    rows.setdefault(kind, {}).setdefault(name, []).append((float(a), float(b)))
def table(kind, title, head, fa, fb):
    if kind not in rows:
        return
    print(title)
    print(head)
    med = {}
    for n, v in rows[kind].items():
        a = [x for x, _ in v]; b = [y for _, y in v]
        med[n] = (statistics.median(a), statistics.median(b))
        print(f"{n:8} {med[n][0]:{fa}} [{min(a):{fa}}-{max(a):{fa}}]    {med[n][1]:{fb}} [{min(b):{fb}}-{max(b):{fb}}]")
    if "plain" in med and "token" in med:
        (ta, tb), (pa, pb) = med["token"], med["plain"]
        print(f"token/plain: {ta / pa:.2f}, {tb / pb:.2f}")
table("signin", "\n'"$CLIENTS"' clients sign in and join at once, one server loop ('"$MODEL"')",
      "server   s until all in (median [min-max])      server CPU us per client (median [min-max])", ".3f", ".1f")
table("echo", "\nsigned-in packet echo: '"$ECHO_CLIENTS"' clients, 1 in flight, '"$ECHO_DURATION"' s (the gate on every packet)",
      "server   server CPU us per message (median [min-max])   messages/s (median [min-max])", ".3f", ".0f")
'
