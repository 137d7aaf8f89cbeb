#!/usr/bin/env bash
# Starts redis-server and N gameserver instances that share their chat rooms through it
# (gameserver --cluster, docs/cluster.md), all on loopback ports; prints how to point the
# dummyclient at them; stops them all on Ctrl-C.
#
# Usage: scripts/cluster.sh [N]          (N instances, default 2)
# Environment knobs:
#   REDIS_PORT=6390      redis-server's port
#   BASE_PORT=7801       instance i listens on BASE_PORT + i - 1
#   METRICS_BASE=9801    and serves /metrics on METRICS_BASE + i - 1
#   THREADS=1            event loops per instance
#   GAMESERVER_ARGS="…"  extra gameserver flags (e.g. "--cluster-ttl-ms 3000")
#   SKIP_BUILD=1         do not run cargo build
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

N=${1:-2}
REDIS_PORT=${REDIS_PORT:-6390}
BASE_PORT=${BASE_PORT:-7801}
METRICS_BASE=${METRICS_BASE:-9801}
THREADS=${THREADS:-1}
BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/release

die() {
    echo "cluster.sh: $*" >&2
    exit 1
}

[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number, not '$N'"
command -v redis-server >/dev/null || die "redis-server not found (apt-get install -y redis-server)"
if [[ -z ${SKIP_BUILD:-} ]]; then
    cargo build --release -p gameserver -p dummyclient
fi
[[ -x $BIN_DIR/gameserver ]] || die "$BIN_DIR/gameserver not found"

LOG_DIR=$(mktemp -d -t cluster.XXXXXX)
PIDS=()

stop_all() {
    trap - INT TERM EXIT
    echo
    echo "stopping ${#PIDS[@]} processes"
    stop_pids
    echo "logs kept in $LOG_DIR"
}
trap stop_all INT TERM EXIT
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    >"$LOG_DIR/redis.log" 2>&1 &
PIDS+=($!)
wait_port "$REDIS_PORT" "$!" redis-server "$LOG_DIR"
echo "redis-server      127.0.0.1:$REDIS_PORT   (pid $!)"

# The instances' shared secret (docs/cluster.md): made for this run, readable by us only.
SECRET_FILE=$LOG_DIR/cluster.secret
(umask 077 && head -c 32 /dev/urandom | base64 >"$SECRET_FILE")

ADDRS=()
for i in $(seq "$N"); do
    port=$((BASE_PORT + i - 1))
    metrics=$((METRICS_BASE + i - 1))
    # shellcheck disable=SC2086 # GAMESERVER_ARGS is a list of flags
    "$BIN_DIR/gameserver" --protocol packet --bind 127.0.0.1 --port "$port" \
        --threads "$THREADS" --metrics "127.0.0.1:$metrics" \
        --cluster "redis://127.0.0.1:$REDIS_PORT" --node-id "node$i" \
        --cluster-secret-file "$SECRET_FILE" \
        ${GAMESERVER_ARGS:-} >"$LOG_DIR/node$i.log" 2>&1 &
    PIDS+=($!)
    wait_port "$port" "$!" "node$i" "$LOG_DIR"
    echo "gameserver node$i  127.0.0.1:$port   metrics http://127.0.0.1:$metrics/metrics   (pid $!)"
    ADDRS+=("127.0.0.1:$port")
done

LIST=$(IFS=,; echo "${ADDRS[*]}")
cat <<EOT

Logs: $LOG_DIR
Point the dummyclient at every instance (each room's members are split over them):

  $BIN_DIR/dummyclient --protocol packet --scenario chat --clients 500 --rooms 10 \\
      --chat-rate 10 --duration 10 --addr $LIST

Ctrl-C stops them all.
EOT
wait
