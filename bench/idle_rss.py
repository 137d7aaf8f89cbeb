#!/usr/bin/env python3
"""Idle memory per session: RSS growth of a server holding N idle TCP sessions, and what is
left once they close.

Usage: bench/idle_rss.py [--sessions 8000] [--models "epoll uring"] [--after-close 1,3,10]
                         [--tls]

Starts each server (gameserver per I/O model, and the tokio echo baseline) pinned to CPU 0,
opens N idle connections from 127.0.0.1, .2, ... (at most 50 per source address, under the
default per-IP cap), waits until the server has accepted them all (its fd count), and reports
(RSS after - RSS before) / N in KiB. Then it closes them all, waits until the server's fd
count is back, and prints its RSS that many seconds later (`--after-close`): what a burst
leaves behind. Loopback only; bounded in count and time.

With --tls every session is a TLS one, its handshake done (Python's ssl, verifying a test CA
and certificate made with the openssl command in a temporary directory): the servers run
with --tls-cert/--tls-key (gameserver; tokio_tls_echo instead of tokio_echo, if built), and
the growth per session is what an idle TLS session costs.
"""
import argparse
import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
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


def make_certificate(directory):
    """A CA and a server certificate for localhost/127.0.0.1 (ECDSA P-256) in `directory`;
    returns (cert, key, ca) paths."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, cwd=directory, capture_output=True)
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=bench CA",
        "-days", "2")
    run("req", *curve, "-keyout", "key.pem", "-out", "req.csr", "-subj", "/CN=localhost")
    with open(os.path.join(directory, "ext"), "w") as ext:
        ext.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "ext")
    return tuple(os.path.join(directory, f) for f in ("cert.pem", "key.pem", "ca.pem"))


def measure(name, cmd, port, sessions, after_close, tls=None):
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
            if tls is not None:
                s = tls.wrap_socket(s, server_hostname="localhost")  # the handshake, done
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
    ap.add_argument("--tls", action="store_true", help="TLS sessions (see the module docs)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        run_all(args, directory)


def run_all(args, directory):
    after = [float(x) for x in args.after_close.split(",") if x]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.sessions + 1000), hard))
    flags, tls, baseline = [], None, "tokio_echo"
    if args.tls:
        cert, key, ca = make_certificate(directory)
        flags = ["--tls-cert", cert, "--tls-key", key]
        tls = ssl.create_default_context(cafile=ca)
        baseline = "tokio_tls_echo" if os.path.exists(f"{BIN}/tokio_tls_echo") else None
    for model in args.models.split():
        port = free_port()
        measure(f"gameserver-{model}",
                [f"{BIN}/gameserver", "--bind", "127.0.0.1", "--port", str(port), "--threads", "1",
                 "--model", model, "--idle-timeout", "0",
                 "--max-sessions", str(args.sessions), *flags], port, args.sessions, after, tls)
    if baseline is not None:
        port = free_port()
        measure(baseline, [f"{BIN}/{baseline}", "--bind", "127.0.0.1", "--port", str(port),
                           "--threads", "1", *flags], port, args.sessions, after, tls)


if __name__ == "__main__":
    sys.exit(main())
