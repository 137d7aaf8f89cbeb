# Helpers shared by bench/run.sh, bench/cluster.sh, bench/websocket.sh and scripts/cluster.sh
# (sourced, not run). The caller defines `die MESSAGE`.

# free_port: a free loopback TCP port.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT PID NAME [LOG]: until PORT accepts a TCP connection (10 s at most); dies at
# once if process PID exits first.
wait_port() {
    local see=${4:+ (see $4)}
    for _ in $(seq 100); do
        kill -0 "$2" 2>/dev/null || die "$3 exited during start-up$see"
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "$3 did not accept on port $1 within 10 s$see"
}

# cpu_ticks PID: CPU time (utime + stime, all threads) of the process in clock ticks; fails
# if it is gone (or a zombie).
cpu_ticks() {
    local stat fields
    stat=$(<"/proc/$1/stat") || return 1
    # Fields after "(comm) ": state is index 0, utime index 11, stime index 12.
    read -r -a fields <<<"${stat##*) }"
    [[ ${fields[0]} != Z ]] || return 1
    echo $((fields[11] + fields[12]))
}

# stop_pids: SIGTERM to every process in the caller's PIDS array, waits for each, empties it.
stop_pids() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

# make_test_pki DIR: a throwaway CA and a server certificate it signed, both ECDSA P-256, for
# localhost and 127.0.0.1 (openssl 3), as DIR/ca.pem (what a client trusts), DIR/server.pem
# and DIR/server.key (what a server serves). Dies if openssl fails. For bench runs only: the
# CA's key is thrown away with DIR.
make_test_pki() {
    local dir=$1
    command -v openssl >/dev/null || die "openssl not found (make_test_pki)"
    mkdir -p "$dir"
    {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -subj "/CN=servercore bench CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" &&
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                -subj "/CN=localhost" -keyout "$dir/server.key" -out "$dir/server.csr" &&
            openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
                -CAcreateserial -days 2 -out "$dir/server.pem" \
                -extfile <(printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
                    "basicConstraints=CA:FALSE" "keyUsage=digitalSignature" \
                    "extendedKeyUsage=serverAuth")
    } >"$dir/openssl.log" 2>&1 || die "openssl failed making $dir (see $dir/openssl.log)"
}
