#!/usr/bin/env bash
# Instructions per unit of work, counted by callgrind: an A/B of two gameserver builds that
# other processes on a busy box cannot disturb (CPU time varies 10-25% run to run there, and
# far more under load; an instruction count varies well under 1%). It counts the server's
# user-space instructions only: the kernel's share (the syscalls themselves) is not in it, so
# it answers "did this change add work to our code?", not "how fast is the server?".
#
# For every binary, model and case: the server is started under callgrind, one warm-up client
# run connects and exchanges (so start-up and first-touch costs are left out), the counters are
# zeroed, the measured client run goes, the counters are dumped; instructions / units (echoed
# messages, or chat deliveries) from the client's JSON report. Runs alternate binaries.
#
# Usage: bench/instructions.sh BEFORE_BIN AFTER_BIN
#        MODELS=epoll CASES="closed open chat-tick" REPEAT=3 DURATION=8 (the defaults)
# epoll only: valgrind (3.19) does not model io_uring's shared rings, and a server on the
# uring model never sees its first accept complete under it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

die() {
    echo "instructions.sh: $*" >&2
    exit 1
}
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

[[ $# -ge 1 ]] || die "usage: bench/instructions.sh BIN [BIN...] (gameserver binaries)"
BINS=("$@")
MODELS=${MODELS:-epoll}
CASES=${CASES:-closed open chat-tick}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-8}
DUMMYCLIENT=${DUMMYCLIENT:-${CARGO_TARGET_DIR:-$ROOT/target}/release/dummyclient}
for tool in valgrind callgrind_control callgrind_annotate python3; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install valgrind)"
done
[[ -x $DUMMYCLIENT ]] || die "client binary $DUMMYCLIENT not found (cargo build --release -p dummyclient)"

# Cases: server protocol and flags | client arguments | the report's unit field. Rates stay
# low: under callgrind the server runs ~50x slower, and an open-loop client must not outrun it.
declare -A CASE_SERVER=(
    [closed]="--protocol raw"
    [open]="--protocol raw"
    [chat-tick]="--protocol packet --flush-interval-ms 10"
)
declare -A CASE_CLIENT=(
    [closed]="--clients 20 --size 64 --inflight 1"
    [open]="--clients 100 --size 64 --rate 1000"
    [chat-tick]="--protocol packet --scenario chat --clients 50 --rooms 2 --chat-rate 2 --size 60"
)
declare -A CASE_UNIT=([closed]=messages [open]=messages [chat-tick]=deliveries)

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    [[ -z $SERVER_PID ]] || kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# client PORT CASE SECONDS: one dummyclient run; prints its JSON report.
client() {
    local args
    read -r -a args <<<"${CASE_CLIENT[$2]}"
    "$DUMMYCLIENT" --addr "127.0.0.1:$1" "${args[@]}" --duration "$3" --threads 1 --json \
        2>>"$WORK/client.err" | grep '^{' | tail -n 1 || true
}

# measure BIN MODEL CASE: instructions per unit of one server run.
measure() {
    local bin=$1 model=$2 case=$3 port args out dump ir units
    port=$(free_port)
    read -r -a args <<<"${CASE_SERVER[$case]}"
    out=$WORK/callgrind.out
    rm -f "$out"*
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$bin" --model "$model" "${args[@]}" --bind 127.0.0.1 --port "$port" --threads 1 \
        >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for try in $(seq 600); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
        kill -0 "$SERVER_PID" 2>/dev/null || die "server exited (see $WORK/server.log)"
        [[ $try -lt 600 ]] || die "server did not accept within 60 s under callgrind"
        sleep 0.1
    done
    client "$port" "$case" 2 >/dev/null
    callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
    units=$(client "$port" "$case" "$DURATION" |
        python3 -c "import json,sys; print(json.load(sys.stdin).get('${CASE_UNIT[$case]}') or 0)")
    callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    # The dump after zeroing is the file with the highest part number.
    dump=$(ls -v "$out".* 2>/dev/null | tail -n 1)
    [[ -n $dump ]] || die "no callgrind dump (see $WORK/server.log)"
    ir=$(grep -m1 '^summary:' "$dump" | awk '{print $2}')
    python3 -c "print(f'{$ir / $units:.0f}' if $units else 'n/a')"
}

echo "instructions per unit (user space, callgrind); repeat $REPEAT, ${DURATION}s per run"
declare -A RESULTS
for case in $CASES; do
    for model in $MODELS; do
        for rep in $(seq "$REPEAT"); do
            for i in "${!BINS[@]}"; do
                v=$(measure "${BINS[$i]}" "$model" "$case")
                echo "  $case $model ${BINS[$i]} rep $rep: $v instructions per ${CASE_UNIT[$case]} (/unit)"
                RESULTS[$case/$model/$i]+="$v "
            done
        done
    done
done

echo
printf '%-10s %-6s %-40s %14s %8s %10s\n' case model binary "instr/unit" spread% "vs first"
for case in $CASES; do
    for model in $MODELS; do
        first=""
        for i in "${!BINS[@]}"; do
            read -r med spread < <(python3 -c "
import statistics, sys
v = [float(x) for x in sys.argv[1:] if x != 'n/a']
m = statistics.median(v) if v else 0
print(f'{m:.0f}', f'{(max(v) - min(v)) / m * 100:.1f}' if m else 'n/a')" ${RESULTS[$case/$model/$i]})
            first=${first:-$med}
            printf '%-10s %-6s %-40s %14s %8s %10s\n' "$case" "$model" "${BINS[$i]}" "$med" "$spread" \
                "$(python3 -c "print(f'{$med / $first:.3f}' if $first else 'n/a')")"
        done
    done
done
