#!/usr/bin/env bash
# Echo and chat benchmarks: gameserver (one run per I/O model) vs. plain tokio
# servers (tokio_echo for echo cases, tokio_chat for chat cases), driven by
# dummyclient. Server pinned to one CPU, client to the other; the headline
# number is server CPU time per unit of work: per echoed message, or per chat
# delivery (one CHAT_BROADCAST received by one member).
#
# Usage: bench/run.sh            (see bench/README.md)
#        bench/run.sh capacity   capacity at a latency bound and cost below saturation:
#                                runs bench/capacity.py (its knobs: bench/README.md)
# Environment knobs:
#   MODELS="epoll uring"   gameserver I/O models to run (default: epoll)
#   SERVERS="..."          override the server list entirely, e.g. "tokio_echo"
#                          (names: gameserver-<model>, tokio_echo, tokio_chat;
#                          each case runs the ones of its kind; a gameserver
#                          name may end in @PATH, another build's binary:
#                          "gameserver-epoll@/tmp/before/gameserver
#                          gameserver-epoll" is an A/B of two builds)
#   CASES="closed open"    run only these cases (default: all six: closed open open60k
#                          pipelined large chat)
#   REPEAT=3               runs per (case, server); medians are reported
#   DURATION=10            seconds per client run
#   SERVER_CPU=0 CLIENT_CPU=1
#   DUMMYCLIENT=path       use another client binary (same CLI and --json output)
#   SKIP_BUILD=1           do not run cargo build
#   GAMESERVER_ARGS="..."  extra gameserver flags, e.g. "--flush-interval-ms 10" (send tick)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

case ${1:-} in
"") ;;
capacity) exec python3 "$ROOT/bench/capacity.py" ;;
*)
    echo "run.sh: unknown mode '$1' (none for the cases, or 'capacity')" >&2
    exit 1
    ;;
esac

MODELS=${MODELS:-epoll}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-10}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/release
DUMMYCLIENT=${DUMMYCLIENT:-$BIN_DIR/dummyclient}

# Cases: name, kind, then the dummyclient arguments (--addr, --threads,
# --duration and --json are added by the script). Add a case by adding a line
# to each array.
CASE_NAMES=(
    closed
    open
    open60k
    pipelined
    large
    chat
)
CASE_KINDS=(
    echo
    echo
    echo
    echo
    echo
    chat
)
CASE_ARGS=(
    "--clients 100 --size 64 --inflight 1"
    "--clients 1000 --size 64 --rate 150000"
    # The same below saturation: on a 2-CPU box 150,000/s keeps every server's
    # CPU ~100% busy (batching grows until it keeps up), so there CPU per message
    # is ~1/rate for all; at 60,000/s the servers have idle time and it is their cost.
    "--clients 1000 --size 64 --rate 60000"
    # 16 messages in flight per client: reads and sends carry many messages at once.
    "--clients 100 --size 64 --inflight 16"
    # Throughput of larger messages.
    "--clients 100 --size 4096 --inflight 1"
    # 10 rooms x 50 clients, 10 chats/s each of 64-byte packets (60-byte body):
    # 5,000 sends/s, each delivered to 50 members: 250,000 deliveries/s.
    "--protocol packet --scenario chat --clients 500 --rooms 10 --chat-rate 10 --size 60"
)

# Kinds: what gameserver speaks, the reference server, and the unit of work
# (the dummyclient report field counted per server CPU second).
declare -A KIND_PROTOCOL=([echo]=raw [chat]=packet)
declare -A KIND_REFERENCE=([echo]=tokio_echo [chat]=tokio_chat)
declare -A KIND_UNIT=([echo]=messages [chat]=deliveries)

if [[ -z ${SERVERS:-} ]]; then
    SERVERS=""
    for m in $MODELS; do
        SERVERS+="gameserver-$m "
    done
    SERVERS+="tokio_echo tokio_chat"
fi
read -r -a SERVER_LIST <<<"$SERVERS"

# servers_for KIND: the servers of SERVER_LIST that speak this kind of case.
servers_for() {
    local server
    for server in "${SERVER_LIST[@]}"; do
        case $server in
        gameserver-*) echo "$server" ;;
        tokio_*) [[ $server == "${KIND_REFERENCE[$1]}" ]] && echo "$server" ;;
        *) die "unknown server '$server'" ;;
        esac
    done
    return 0
}

die() {
    echo "run.sh: $*" >&2
    exit 1
}

for tool in taskset python3 getconf; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
CLK_TCK=$(getconf CLK_TCK)
# 1,000 clients need 1,000+ descriptors on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [[ -z ${SKIP_BUILD:-} ]]; then
    cargo build --release -p gameserver -p dummyclient -p baselines
fi
[[ -x $DUMMYCLIENT ]] || die "client binary $DUMMYCLIENT not found"

RUN_ID=$(date +%Y%m%d-%H%M%S)
RESULTS_DIR=$ROOT/bench/results
LOG_DIR=$RESULTS_DIR/$RUN_ID.logs
RESULTS=$RESULTS_DIR/$RUN_ID.jsonl
mkdir -p "$LOG_DIR"
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
    COMMIT+="-dirty"
fi

SERVER_PID=""

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 20); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}
trap stop_server EXIT
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
trap 'exit 130' INT TERM

# server_cmd NAME KIND: the server's command line. gameserver's per-IP
# session cap (64) would refuse most of the clients, which all come from
# 127.0.0.1; its other limits stay at their defaults.
server_cmd() {
    case $1 in
    gameserver-*@*)
        local spec=${1%%@*}
        echo "${1#*@} --model ${spec#gameserver-} --protocol ${KIND_PROTOCOL[$2]}" \
            "${GAMESERVER_ARGS:-}"
        ;;
    gameserver-*)
        echo "$BIN_DIR/gameserver --model ${1#gameserver-} --protocol ${KIND_PROTOCOL[$2]}" \
            "${GAMESERVER_ARGS:-}"
        ;;
    tokio_echo | tokio_chat) echo "$BIN_DIR/$1" ;;
    *) die "unknown server '$1'" ;;
    esac
}

# start_server NAME KIND PORT LOG: starts the server pinned to SERVER_CPU and
# waits until it accepts a TCP connection.
start_server() {
    local name=$1 port=$3 log=$4 cmd
    read -r -a cmd <<<"$(server_cmd "$name" "$2")"
    [[ -x ${cmd[0]} ]] || die "server binary ${cmd[0]} not found"
    taskset -c "$SERVER_CPU" "${cmd[@]}" --bind 127.0.0.1 --port "$port" --threads 1 >>"$log" 2>&1 &
    SERVER_PID=$!
    wait_port "$port" "$SERVER_PID" "$name" "$log"
}

# Busy time (everything but idle and iowait) of CPU $1 in clock ticks, from
# /proc/stat. Compared with the server's own ticks, it shows how much of the
# server's CPU was taken by other processes during a run (the box is shared).
cpu_busy_ticks() {
    local line f
    line=$(grep "^cpu$1 " /proc/stat)
    read -r -a f <<<"$line"
    # cpuN user nice system idle iowait irq softirq steal ...
    echo $((f[1] + f[2] + f[3] + f[6] + f[7] + f[8]))
}

# run_one CASE_INDEX SERVER REP: one client run against a fresh server;
# appends one JSON line to $RESULTS.
run_one() {
    local name=${CASE_NAMES[$1]} kind=${CASE_KINDS[$1]} server=$2 rep=$3
    local port log out before after busy_before busy_after t0 t1 client_args rc=0 died=false
    read -r -a client_args <<<"${CASE_ARGS[$1]}"
    port=$(free_port)
    log=$LOG_DIR/$name-${server//\//_}-$rep
    start_server "$server" "$kind" "$port" "$log.server.log"
    before=$(cpu_ticks "$SERVER_PID")
    busy_before=$(cpu_busy_ticks "$SERVER_CPU")
    t0=$(date +%s%N)
    taskset -c "$CLIENT_CPU" timeout --kill-after=5 $((DURATION + 60)) \
        "$DUMMYCLIENT" --addr "127.0.0.1:$port" "${client_args[@]}" \
        --duration "$DURATION" --threads 1 --json \
        >"$log.client.out" 2>"$log.client.err" || rc=$?
    after=$(cpu_ticks "$SERVER_PID" 2>/dev/null) || after=""
    busy_after=$(cpu_busy_ticks "$SERVER_CPU")
    t1=$(date +%s%N)
    stop_server
    out=$(grep '^{' "$log.client.out" | tail -n 1 || true)
    if [[ -z $after ]]; then
        echo "  $name/$server/$rep: server died during the run (see $log.server.log)" >&2
        died=true
        after=$before
        out='{}'
    elif [[ $rc -ne 0 || -z $out ]]; then
        # dummyclient exits 2 (with its report) when it found errors; the
        # report is kept in the JSON line, but the run is left out of medians.
        echo "  $name/$server/$rep: client failed (exit $rc, see $log.client.err)" >&2
        out=${out:-'{}'}
    fi
    CLIENT_JSON=$out python3 - "$RESULTS" <<EOF
import json, os, sys
client = json.loads(os.environ["CLIENT_JSON"])
ticks = $after - $before
cpu_us = ticks * 1e6 / $CLK_TCK
unit = "${KIND_UNIT[$kind]}"
units = client.get(unit) or 0
rec = {
    "type": "run", "run_id": "$RUN_ID", "commit": "$COMMIT",
    "case": "$name", "kind": "$kind", "reference": "${KIND_REFERENCE[$kind]}",
    "server": "$server", "rep": $rep, "unit": unit,
    "client_args": "${CASE_ARGS[$1]} --duration $DURATION --threads 1",
    "client_exit": $rc, "server_died": "$died" == "true", "clk_tck": $CLK_TCK, "server_cpu_ticks": ticks,
    "server_cpu_us": cpu_us,
    # Share of the wall time the server was running: ~100% means it was
    # saturated, and its CPU per unit then says how much it batched, not what a
    # unit costs it.
    "server_busy_pct": cpu_us / 1e4 / (($t1 - $t0) / 1e9),
    "wall_secs": ($t1 - $t0) / 1e9,
    # Busy time of the server's CPU not spent in the server, as a share of
    # the wall time: other processes (and kernel threads) competing with it.
    "other_load_on_server_cpu_pct":
        max(0, ($busy_after - $busy_before) - ticks) / $CLK_TCK / (($t1 - $t0) / 1e9) * 100,
    # Server CPU per unit of work: per echoed message, or per chat delivery.
    "server_cpu_us_per_unit": cpu_us / units if units else None,
    # All busy time of the server's CPU per unit: also counts kernel work done
    # there for the server but not charged to it (softirqs deferred to
    # ksoftirqd, io_uring's kernel workers), and anything else that ran there.
    "server_core_us_per_unit":
        ($busy_after - $busy_before) * 1e6 / $CLK_TCK / units if units else None,
    "units_per_sec": client.get(unit + "_per_sec" if unit == "deliveries" else "msgs_per_sec"),
    "client": client,
}
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(rec) + "\n")
def num(key):
    v = client.get(key)
    return "n/a" if v is None else f"{v:,.0f}"
rate = rec["units_per_sec"]
print(f"  {rec['case']:<8} {rec['server']:<18} rep {rec['rep']}: "
      f"{'n/a' if rate is None else format(rate, ',.0f')} {unit}/s, p99 {num('p99_us')} us, "
      f"server cpu {cpu_us / 1e6:.2f} s, errors {num('errors')}, "
      f"connect_failures {num('connect_failures')}, "
      f"other load on server CPU {rec['other_load_on_server_cpu_pct']:.0f}%")
EOF
}

echo "run $RUN_ID ($COMMIT): servers [${SERVER_LIST[*]}], repeat $REPEAT, ${DURATION}s per run," \
    "server on CPU $SERVER_CPU, client on CPU $CLIENT_CPU"
for i in "${!CASE_NAMES[@]}"; do
    if [[ -n ${CASES:-} && " $CASES " != *" ${CASE_NAMES[$i]} "* ]]; then
        continue
    fi
    mapfile -t case_servers < <(servers_for "${CASE_KINDS[$i]}")
    echo "case ${CASE_NAMES[$i]} (${CASE_KINDS[$i]}): ${CASE_ARGS[$i]}"
    for rep in $(seq "$REPEAT"); do
        for server in "${case_servers[@]}"; do
            run_one "$i" "$server" "$rep"
        done
    done
done

python3 - "$RESULTS" <<'EOF'
import json, statistics, sys

path = sys.argv[1]
runs = [json.loads(line) for line in open(path)]
runs = [r for r in runs if r.get("type") == "run"]

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def spread(values):
    values = [v for v in values if v is not None]
    mid = median(values)
    return (max(values) - min(values)) / mid * 100 if mid else None

groups = {}
for r in runs:
    groups.setdefault((r["case"], r["server"]), []).append(r)

summaries = []
for (case, server), all_runs in groups.items():
    # Medians only over runs that completed cleanly; the rest count as failed.
    # If every run failed but the client still reported (e.g. a server that
    # cannot keep up: late deliveries count as lost), the medians are taken
    # over those reports and flagged, so the table still shows what it did.
    rs = [r for r in all_runs
          if r["client_exit"] == 0 and not r["server_died"] and r["client"]]
    failed_runs = len(all_runs) - len(rs)
    from_failed = not rs
    if from_failed:
        rs = [r for r in all_runs if not r["server_died"] and r["client"]]
    c = [r["client"] for r in rs]
    first = all_runs[0]
    summaries.append({
        "type": "summary", "run_id": first["run_id"],
        "commit": first["commit"],
        "case": case, "kind": first["kind"], "reference": first["reference"],
        "server": server, "runs": len(all_runs), "unit": first["unit"],
        "medians_from_failed_runs": from_failed and bool(rs),
        "units_per_sec": median([r["units_per_sec"] for r in rs]),
        "p99_us": median([x.get("p99_us") for x in c]),
        "server_cpu_us_per_unit": median([r["server_cpu_us_per_unit"] for r in rs]),
        # Spread of the runs: (max - min) / median of the CPU per unit.
        "cpu_spread_pct": spread([r["server_cpu_us_per_unit"] for r in rs]),
        "server_core_us_per_unit": median([r["server_core_us_per_unit"] for r in rs]),
        "server_busy_pct": median([r.get("server_busy_pct") for r in rs]),
        "errors": sum((r["client"].get("errors") or 0) + (r["client"].get("connect_failures") or 0)
                      for r in all_runs),
        "failed_runs": failed_runs,
        "other_load_max_pct": max(r["other_load_on_server_cpu_pct"] for r in all_runs),
    })

ref = {s["case"]: s for s in summaries if s["server"] == s["reference"]}
for s in summaries:
    base = ref.get(s["case"])
    for key, out in (("units_per_sec", "rate_ratio"), ("server_cpu_us_per_unit", "cpu_ratio")):
        mine = s[key]
        theirs = base[key] if base else None
        s[out] = mine / theirs if mine is not None and theirs else None

with open(path, "a") as f:
    for s in summaries:
        f.write(json.dumps(s) + "\n")

def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)

UNIT_NAMES = {"messages": "msg", "deliveries": "delivery"}
header = (f"{'case':<8} {'server':<18} {'unit':<9} {'units/s':>11} {'p99 us':>10} {'cpu us/unit':>12}"
          f" {'spread%':>7} {'core us/unit':>12} {'busy%':>5}"
          f" {'cpu vs ref':>10} {'rate vs ref':>11} {'reference':<11} {'err':>7} {'fail':>5} {'other%':>6}")
print()
print(header)
print("-" * len(header))
for s in summaries:
    flag = "*" if s["medians_from_failed_runs"] else " "
    print(f"{s['case']:<8} {s['server']:<18} {UNIT_NAMES.get(s['unit'], s['unit']):<9}"
          f" {fmt(s['units_per_sec'], ',.0f'):>11}{flag}"
          f"{fmt(s['p99_us'], ',.0f'):>10} {fmt(s['server_cpu_us_per_unit'], '.3f'):>12}"
          f" {fmt(s['cpu_spread_pct'], '.0f'):>7}"
          f" {fmt(s['server_core_us_per_unit'], '.3f'):>12} {fmt(s['server_busy_pct'], '.0f'):>5}"
          f" {fmt(s['cpu_ratio'], '.2f'):>10} {fmt(s['rate_ratio'], '.2f'):>11} {s['reference']:<11}"
          f" {s['errors']:>7} {s['failed_runs']:>5} {s['other_load_max_pct']:>6.0f}")
print()
if any(s["medians_from_failed_runs"] for s in summaries):
    print("* every run of this row failed (see fail/err); its medians are over those runs' reports")
print(f"results: {path}")
noisy = [f"{s['case']}/{s['server']}" for s in summaries if s["other_load_max_pct"] > 5]
if noisy:
    print(f"warning: other processes used more than 5% of the server CPU in: {', '.join(noisy)};"
          " the numbers are not trustworthy", file=sys.stderr)
bad = [f"{s['case']}/{s['server']}" for s in summaries if s["failed_runs"] or s["errors"]]
if bad:
    print(f"run.sh: failed runs or client-reported errors in: {', '.join(bad)}", file=sys.stderr)
    sys.exit(2)
EOF
