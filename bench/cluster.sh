#!/usr/bin/env bash
# One gameserver vs. two gameservers sharing their rooms through Redis (--cluster), under the
# same chat load from one dummyclient: 10 rooms x 50 members, each room's members split evenly
# over the instances (dummyclient --addr a,b). Every server process (the gameservers and
# redis-server) is pinned to SERVER_CPU, the client to CLIENT_CPU, so both setups have the
# same CPU to spend; the figures are deliveries/s, fan-out p99 and CPU time per delivery of
# each server process, plus Redis PUBLISH calls per chat and the instances' serializations.
#
# Usage: bench/cluster.sh            (numbers go to stdout and bench/results/cluster-*.txt)
# Environment knobs:
#   CLIENTS=500 ROOMS=10 CHAT_RATE=10 SIZE=60 DURATION=10
#   SERVER_CPU=0 CLIENT_CPU=1 MODEL=epoll SKIP_BUILD=1
#   GAMESERVER_ARGS="…"   extra flags for every gameserver (e.g. "--flush-interval-ms 5")
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

CLIENTS=${CLIENTS:-500}
ROOMS=${ROOMS:-10}
CHAT_RATE=${CHAT_RATE:-10}
SIZE=${SIZE:-60}
DURATION=${DURATION:-10}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
MODEL=${MODEL:-epoll}
BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/release

die() {
    echo "cluster.sh: $*" >&2
    exit 1
}

for tool in taskset python3 getconf redis-server redis-cli; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
CLK_TCK=$(getconf CLK_TCK)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ -z ${SKIP_BUILD:-} ]]; then
    cargo build --release -p gameserver -p dummyclient
fi

RESULTS_DIR=$ROOT/bench/results
mkdir -p "$RESULTS_DIR"
OUT=$RESULTS_DIR/cluster-$(date +%Y%m%d-%H%M%S).txt
LOG_DIR=$(mktemp -d -t cluster-bench.XXXXXX)
PIDS=()

trap stop_pids EXIT
trap 'exit 130' INT TERM
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

# The instances' shared secret (docs/cluster.md), through the environment.
GAMESERVER_CLUSTER_SECRET=$(head -c 32 /dev/urandom | base64)
export GAMESERVER_CLUSTER_SECRET

# start_gameserver NAME PORT [cluster flags...]: prints the pid.
start_gameserver() {
    local name=$1 port=$2
    shift 2
    # shellcheck disable=SC2086 # GAMESERVER_ARGS is a list of flags
    taskset -c "$SERVER_CPU" "$BIN_DIR/gameserver" --protocol packet --model "$MODEL" \
        --bind 127.0.0.1 --port "$port" --threads 1 \
        --rate-limit 0 "$@" ${GAMESERVER_ARGS:-} >"$LOG_DIR/$name.log" 2>&1 &
    PIDS+=($!)
    wait_port "$port" "$!" "$name" "$LOG_DIR"
    LAST_PID=$!
}

# run SETUP ADDRS PID_NAMES...: runs the client; prints one result line per process.
run() {
    local setup=$1 addrs=$2
    shift 2
    local -A before
    local entry pid
    for entry in "$@"; do
        pid=${entry#*=}
        before[$entry]=$(cpu_ticks "$pid")
    done
    local publishes_before=0
    if [[ -n ${REDIS_PORT:-} ]]; then
        publishes_before=$(publish_calls)
    fi
    local json
    json=$(taskset -c "$CLIENT_CPU" "$BIN_DIR/dummyclient" --protocol packet --scenario chat \
        --clients "$CLIENTS" --rooms "$ROOMS" --chat-rate "$CHAT_RATE" --size "$SIZE" \
        --duration "$DURATION" --threads 1 --addr "$addrs" --json) || true
    local cpu=""
    for entry in "$@"; do
        pid=${entry#*=}
        cpu+="${entry%%=*}=$(($(cpu_ticks "$pid") - ${before[$entry]})) "
    done
    local publishes=""
    if [[ -n ${REDIS_PORT:-} ]]; then
        publishes=$(($(publish_calls) - publishes_before))
    fi
    CLIENT_JSON=$json CPU="$cpu" SETUP=$setup PUBLISHES=$publishes CLK_TCK=$CLK_TCK python3 - <<'PY'
import json, os
r = json.loads(os.environ["CLIENT_JSON"])
tck = int(os.environ["CLK_TCK"])
d = max(r["deliveries"], 1)
print(f'{os.environ["SETUP"]}: result={"PASS" if r["errors"] == 0 else "FAIL"} '
      f'chats={r["sent"]} deliveries={r["deliveries"]} deliveries/s={r["deliveries_per_sec"]:.0f} '
      f'fan-out p50={r["p50_us"]}us p99={r["p99_us"]}us lost={r["lost"]}')
total = 0.0
for item in os.environ["CPU"].split():
    name, ticks = item.split("=")
    secs = int(ticks) / tck
    total += secs
    print(f'  {name:12} cpu {secs:6.2f} s   {secs * 1e6 / d:6.3f} us/delivery')
print(f'  {"all servers":12} cpu {total:6.2f} s   {total * 1e6 / d:6.3f} us/delivery')
if os.environ["PUBLISHES"]:
    p = int(os.environ["PUBLISHES"])
    print(f'  redis PUBLISH calls {p} for {r["sent"]} chats: {p / max(r["sent"], 1):.3f} per chat')
PY
}

# hop_latency NAME METRICS_PORT: the instance's publish->deliver latency histogram, summed
# up: mean and the share of chats delivered within 1.6 ms and 6.4 ms.
hop_latency() {
    python3 - "$1" "$2" <<'PY'
import sys, urllib.request
name, port = sys.argv[1], sys.argv[2]
text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
series = {}
for line in text.splitlines():
    if line.startswith("gameserver_cluster_deliver_latency_seconds"):
        key, value = line.rsplit(" ", 1)
        series[key] = float(value)
count = series.get("gameserver_cluster_deliver_latency_seconds_count", 0)
total = series.get("gameserver_cluster_deliver_latency_seconds_sum", 0)
def within(le):
    return series.get(f'gameserver_cluster_deliver_latency_seconds_bucket{{le="{le}"}}', 0)
if count:
    print(f"  {name}: cross-instance hop (origin queue -> delivered here) mean "
          f"{total / count * 1e3:.2f} ms, {within('0.0016') / count:.1%} within 1.6 ms, "
          f"{within('0.0064') / count:.1%} within 6.4 ms ({int(count)} chats)")
PY
}

publish_calls() {
    redis-cli -p "$REDIS_PORT" INFO commandstats |
        sed -n 's/^cmdstat_publish:calls=\([0-9]*\),.*/\1/p' | grep . || echo 0
}

{
    echo "bench/cluster.sh $(git rev-parse --short HEAD 2>/dev/null || echo unknown): $CLIENTS clients," \
        "$ROOMS rooms, $CHAT_RATE chats/s each, $SIZE-byte bodies, ${DURATION}s," \
        "model $MODEL${GAMESERVER_ARGS:+ ($GAMESERVER_ARGS)};" \
        "servers on CPU $SERVER_CPU, client on CPU $CLIENT_CPU"

    port=$(free_port)
    start_gameserver single "$port"
    run "one instance" "127.0.0.1:$port" "gameserver=$LAST_PID"
    stop_pids

    REDIS_PORT=$(free_port)
    taskset -c "$SERVER_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
        --appendonly no >"$LOG_DIR/redis.log" 2>&1 &
    PIDS+=($!)
    wait_port "$REDIS_PORT" "$!" redis-server "$LOG_DIR"
    redis_pid=$!
    url=redis://127.0.0.1:$REDIS_PORT
    a=$(free_port) a_metrics=$(free_port)
    start_gameserver a "$a" --cluster "$url" --node-id a --metrics "127.0.0.1:$a_metrics"
    a_pid=$LAST_PID
    b=$(free_port) b_metrics=$(free_port)
    start_gameserver b "$b" --cluster "$url" --node-id b --metrics "127.0.0.1:$b_metrics"
    b_pid=$LAST_PID
    run "two instances + redis" "127.0.0.1:$a,127.0.0.1:$b" \
        "gameserver-a=$a_pid" "gameserver-b=$b_pid" "redis-server=$redis_pid"
    hop_latency a "$a_metrics"
    hop_latency b "$b_metrics"
    stop_pids
} | tee "$OUT"
echo "saved to $OUT; logs in $LOG_DIR"
