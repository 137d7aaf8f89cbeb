#!/usr/bin/env python3
"""Idle memory per session: RSS growth of a server holding N idle TCP sessions, and what is
left once they close.

Usage: bench/idle_rss.py [--sessions 8000] [--models "epoll uring"] [--after-close 1,3,10]

Starts each server (gameserver per I/O model, and the tokio echo baseline) pinned to CPU 0,
opens N idle connections from 127.0.0.1, .2, ... (at most 50 per source address, under the
default per-IP cap), waits until the server has accepted them all (its fd count), and reports
(RSS after - RSS before) / N in KiB. Then it closes them all, waits until the server's fd
count is back, and prints its RSS that many seconds later (`--after-close`): what a burst
leaves behind. Loopback only; bounded in count and time.
"""
import argparse
import os
import resource
import socket
import subprocess
import sys
import time

from procfs import fds, free_port, status_kib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")


def wait_listening(port, deadline):
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on {port} did not start")


def measure(name, cmd, port, sessions, after_close):
    server = subprocess.Popen(["taskset", "-c", "0", *cmd], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, time.time() + 10)
        time.sleep(0.3)
        base_rss, base_fds = status_kib(server.pid, "VmRSS"), fds(server.pid)
        conns = []
        for i in range(sessions):
            s = socket.socket()
            s.bind((f"127.0.{1 + i // 50 // 250}.{1 + (i // 50) % 250}", 0))
            s.connect(("127.0.0.1", port))
            conns.append(s)
        deadline = time.time() + 30
        while fds(server.pid) < base_fds + sessions and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        accepted = fds(server.pid) - base_fds
        grown = status_kib(server.pid, "VmRSS") - base_rss
        full = status_kib(server.pid, "VmRSS")
        for s in conns:
            s.close()
        deadline = time.time() + 30
        while fds(server.pid) > base_fds and time.time() < deadline:
            time.sleep(0.05)
        closed_at = time.time()
        left = []
        for secs in after_close:
            time.sleep(max(0.0, closed_at + secs - time.time()))
            left.append(f"{secs:g}s {status_kib(server.pid, 'VmRSS') / 1024:.1f}")
        per = grown / max(accepted, 1)
        print(f"{name:18} sessions={accepted:6}  RSS +{grown:7} KiB  {per:6.2f} KiB/session"
              f"  (MiB: base {base_rss / 1024:.1f}, full {full / 1024:.1f}; after close: "
              + ", ".join(left) + ")")
        return per
    finally:
        server.terminate()
        server.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=8000)
    ap.add_argument("--models", default="epoll uring")
    ap.add_argument("--after-close", default="1,3,10",
                    help="seconds after the last close at which RSS is read (comma-separated)")
    args = ap.parse_args()
    after = [float(x) for x in args.after_close.split(",") if x]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.sessions + 1000), hard))
    for model in args.models.split():
        port = free_port()
        measure(f"gameserver-{model}",
                [f"{BIN}/gameserver", "--bind", "127.0.0.1", "--port", str(port), "--threads", "1",
                 "--model", model, "--idle-timeout", "0",
                 "--max-sessions", str(args.sessions)], port, args.sessions, after)
    port = free_port()
    measure("tokio_echo", [f"{BIN}/tokio_echo", "--bind", "127.0.0.1", "--port", str(port),
                           "--threads", "1"], port, args.sessions, after)


if __name__ == "__main__":
    sys.exit(main())
