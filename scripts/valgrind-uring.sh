#!/usr/bin/env bash
# Runs the io_uring driver's tests under a memory checker: valgrind memcheck, then (or if
# valgrind cannot run them) AddressSanitizer.
#
#   scripts/valgrind-uring.sh              # valgrind on uring_close_inflight, ASan if it can't
#   MODE=asan scripts/valgrind-uring.sh    # ASan only (all uring_* tests + driver unit tests)
#   MODE=both scripts/valgrind-uring.sh    # valgrind, then ASan
#
# The valgrind test is uring_close_inflight: sessions closed and reset while their recv and
# sendmsg are in flight, and a stop with sends in flight — the cases where the driver must own
# buffers until the last CQE. Exit status: non-zero if a checker reports an error (valgrind
# --error-exitcode=1, ASan aborts the test) or a test fails.
#
# Why URING_TEST_TICK_MS=1 under valgrind: valgrind 3.19 wraps io_uring_enter without marking
# it as a blocking syscall, so a loop thread waiting in it keeps valgrind's global lock and
# every other thread (the test's clients) stalls — the run hangs with servercore-N in
# io_cqring_wait and the rest waiting on valgrind's lock. A 1 ms tick bounds each wait, so the
# lock is released every millisecond. What valgrind cannot see: reads and writes the kernel
# does on behalf of an SQE (it does not decode SQEs), so a buffer freed under a pending op
# would not be reported; the ownership rule is checked by the tests' outcome and by ASan on
# the user-space side.
#
# ASan needs RUSTC_BOOTSTRAP=1 (nightly flags on stable) and the rust-src component for
# -Zbuild-std (std instrumented too); without rust-src it runs with an uninstrumented std.
# A CARGO_TARGET_DIR in the environment is honoured (suffixes -asan for the ASan build).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mode="${MODE:-valgrind}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
valgrind_timeout="${VALGRIND_TIMEOUT:-900}"
host="$(rustc -vV | sed -n 's/^host: //p')"

run_valgrind() {
    if ! command -v valgrind >/dev/null; then
        echo "valgrind-uring: valgrind not installed" >&2
        return 2
    fi
    echo "valgrind-uring: building uring_close_inflight" >&2
    local exe
    exe="$(CARGO_TARGET_DIR="$target_dir" cargo test -p servercore --test uring_close_inflight \
        --no-run --message-format=json 2>/dev/null |
        sed -n 's/.*"executable":"\([^"]*uring_close_inflight[^"]*\)".*/\1/p' | tail -1)"
    if [[ -z "$exe" ]]; then
        echo "valgrind-uring: could not build the test" >&2
        return 1
    fi
    echo "valgrind-uring: $(valgrind --version) memcheck on $exe" >&2
    local status=0
    URING_TEST_TICK_MS=1 timeout "$valgrind_timeout" \
        valgrind --error-exitcode=1 --leak-check=no "$exe" --test-threads=1 || status=$?
    if [[ $status -eq 124 ]]; then
        echo "valgrind-uring: valgrind did not finish in ${valgrind_timeout}s" >&2
        return 2
    fi
    return "$status"
}

run_asan() {
    local build_std=()
    if [[ -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library" ]]; then
        build_std=(-Zbuild-std)
    else
        echo "valgrind-uring: no rust-src component: std is not instrumented" >&2
    fi
    echo "valgrind-uring: AddressSanitizer ${build_std[*]}" >&2
    RUSTFLAGS="-Zsanitizer=address" RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$target_dir-asan" \
        cargo test "${build_std[@]}" -p servercore --target "$host" \
        --test uring_close_inflight --test uring_echo --test uring_buf_ring --test uring_fd_leak \
        --lib -- uring close_and_reset stop_with random_sizes more_senders five_thousand
}

case "$mode" in
    valgrind)
        status=0
        run_valgrind || status=$?
        if [[ $status -eq 2 ]]; then
            echo "valgrind-uring: falling back to AddressSanitizer" >&2
            run_asan
        else
            exit "$status"
        fi
        ;;
    asan) run_asan ;;
    both)
        run_valgrind
        run_asan
        ;;
    *)
        echo "valgrind-uring: MODE must be valgrind, asan or both" >&2
        exit 2
        ;;
esac
