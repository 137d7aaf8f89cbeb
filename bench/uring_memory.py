#!/usr/bin/env python3
"""Server memory under backpressure, per I/O model (issue 15, section 4).

Usage: bench/uring_memory.py [--models "epoll uring"] [--repeat 3] [--sessions 20]
                             [--rounds 4] [--packet 1024] [--smaps] [--env VAR=VALUE ...]

Scenarios, each against a fresh `gameserver --protocol packet --threads 1` (release build,
`--rate-limit 0 --idle-timeout 0`, pinned to CPU 0; the client on CPU 1):
  paused: N sessions send ECHO packets as fast as they can and never read, until every one
          is paused on backpressure (no socket takes a byte for a while); server RSS then.
  rounds: `paused` R times on one server, closing all N sessions after each round; RSS `--settle`
          seconds after the server has closed them all (its fd count is back), per round.
  chat:   an N-member room; member 0 never reads (a slow consumer), the others send
          `--chat-rate` CHATs a second each (100-byte packets) and read everything; RSS and its
          high-water mark (VmHWM) at the end of a `--chat-secs` run.
Models run alternately, `--repeat` times each; the summary shows medians (MB = 10^6 bytes).
`--smaps` also prints, per scenario, the server's largest mappings by resident size.
Loopback only; every wait is bounded.
"""
import argparse
import os
import select
import socket
import statistics
import struct
import subprocess
import sys
import time

from procfs import fds, free_port, status_kib, tcp_kernel_mb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")

ECHO, ENTER_ROOM, CHAT = 1, 2, 4
QUIET_SECS = 1.0  # no socket took a byte for this long: all paused
PHASE_LIMIT = 30.0  # seconds any phase may take


def packet(pid, body):
    return struct.pack("<HH", 4 + len(body), pid) + body


def rollup(pid):
    """smaps_rollup: Rss, Anonymous, Private_Dirty (KiB)."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def mappings(pid, top=6):
    """The largest mappings by Rss: (rss KiB, size KiB, name)."""
    maps, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                cur = [0, (hi - lo) // 1024, parts[5] if len(parts) > 5 else "[anon]"]
                maps.append(cur)
            elif parts[0] == "Rss:":
                cur[0] = int(parts[1])
    return sorted(maps, reverse=True)[:top]


def wait_for(cond, what, limit=PHASE_LIMIT):
    deadline = time.time() + limit
    while not cond():
        if time.time() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Server:
    def __init__(self, model, args):
        self.port = free_port()
        cmd = ["taskset", "-c", "0", args.binary, "--bind", "127.0.0.1", "--port",
               str(self.port), "--threads", "1", "--model", model, "--protocol", "packet",
               "--rate-limit", "0", "--idle-timeout", "0", *args.server_arg]
        log = open(args.log, "ab") if args.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env={**os.environ, **args.env})
        self.pid = self.proc.pid
        wait_for(self.listening, "the server to listen", 10)
        time.sleep(0.5)  # the probe connection's session closes
        self.base_fds = fds(self.pid)

    def listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def rss_mb(self):
        return status_kib(self.pid, "VmRSS") * 1024 / 1e6

    def connect(self, n):
        socks = [socket.create_connection(("127.0.0.1", self.port)) for _ in range(n)]
        wait_for(lambda: fds(self.pid) >= self.base_fds + n, "sessions to be accepted")
        for s in socks:
            s.setblocking(False)
        return socks

    def close_all(self, socks):
        for s in socks:
            s.close()
        wait_for(lambda: fds(self.pid) <= self.base_fds, "sessions to close")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def flood_until_paused(socks, size):
    """Sends ECHO packets on every socket until none has taken a byte for QUIET_SECS."""
    data = packet(ECHO, b"x" * (size - 4)) * max(1, 65536 // size)
    pending = {s: memoryview(data) for s in socks}
    quiet_since, deadline = time.time(), time.time() + PHASE_LIMIT
    while time.time() - quiet_since < QUIET_SECS:
        if time.time() > deadline:
            raise RuntimeError("sessions never paused")
        _, writable, _ = select.select([], socks, [], 0.2)
        for s in writable:
            try:
                sent = s.send(pending[s])
            except BlockingIOError:
                continue
            if sent:
                quiet_since = time.time()
                rest = pending[s][sent:]
                pending[s] = rest if len(rest) else memoryview(data)


def report_smaps(server, label, args):
    if not args.smaps:
        return
    r = rollup(server.pid)
    print(f"    [{label}] rollup Rss={r['Rss']} KiB Anonymous={r['Anonymous']} KiB")
    for rss, size, name in mappings(server.pid):
        print(f"    [{label}]   rss={rss:7} KiB size={size:8} KiB {name}")


def scenario_paused(model, args):
    server = Server(model, args)
    try:
        socks = server.connect(args.sessions)
        kernel_before = tcp_kernel_mb()
        flood_until_paused(socks, args.packet)
        rss = server.rss_mb()
        kernel = tcp_kernel_mb() - kernel_before
        print(f"    {model} paused: kernel TCP buffers +{kernel:.1f} MB (machine-wide: the unread"
              f" input a readiness server leaves there, and both ends' queues)")
        report_smaps(server, f"{model} paused", args)
        server.close_all(socks)
        return rss
    finally:
        server.stop()


def scenario_rounds(model, args):
    server = Server(model, args)
    try:
        after = []
        for _ in range(args.rounds):
            socks = server.connect(args.sessions)
            flood_until_paused(socks, args.packet)
            server.close_all(socks)
            time.sleep(args.settle)
            after.append(server.rss_mb())
        report_smaps(server, f"{model} rounds", args)
        return after
    finally:
        server.stop()


def read_packets(buf):
    """Drops whole packets from the front of buf; returns how many."""
    n = 0
    while len(buf) >= 4:
        size = struct.unpack_from("<H", buf)[0]
        if len(buf) < size:
            break
        del buf[:size]
        n += 1
    return n


def scenario_chat(model, args):
    server = Server(model, args)
    try:
        socks = server.connect(args.sessions)
        for s in socks:
            s.setblocking(True)
            s.sendall(packet(ENTER_ROOM, struct.pack("<I", 1)))
        for s in socks:
            s.setblocking(False)
        slow, talkers = socks[0], socks[1:]
        chat = packet(CHAT, b"c" * 96)
        bufs = {s: bytearray() for s in talkers}
        start = time.time()
        end, sent = start + args.chat_secs, 0
        while time.time() < end:
            # Every talker sends --chat-rate chats a second (a pace the talkers can read).
            due = int((time.time() - start) * args.chat_rate) > sent
            readable, _, _ = select.select(talkers, [], [], 0 if due else 0.01)
            for s in readable:
                try:
                    data = s.recv(1 << 16)
                except (BlockingIOError, ConnectionError):
                    continue
                bufs[s] += data
                read_packets(bufs[s])
            if due:
                sent += 1
                for s in talkers:
                    s.setblocking(True)
                    s.sendall(chat)
                    s.setblocking(False)
        rss, hwm = server.rss_mb(), status_kib(server.pid, "VmHWM") * 1024 / 1e6
        report_smaps(server, f"{model} chat", args)
        slow_alive = fds(server.pid) >= server.base_fds + args.sessions
        for s in socks:
            s.close()
        return rss, hwm, slow_alive
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="epoll uring")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--packet", type=int, default=1024, help="ECHO packet size, header included")
    ap.add_argument("--chat-secs", type=float, default=10.0)
    ap.add_argument("--chat-rate", type=float, default=100.0,
                    help="CHATs a second each talker sends")
    ap.add_argument("--smaps", action="store_true")
    ap.add_argument("--settle", type=float, default=1.5,
                    help="seconds between the rounds' close and their RSS reading")
    ap.add_argument("--scenarios", default="paused rounds chat")
    ap.add_argument("--env", action="append", default=[], help="VAR=VALUE for the server")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="one more gameserver argument (repeatable)")
    ap.add_argument("--binary", default=os.path.join(BIN, "gameserver"),
                    help="the gameserver to run (default: the release build)")
    ap.add_argument("--log", help="append the servers' output to this file")
    args = ap.parse_args()
    args.env = dict(kv.split("=", 1) for kv in args.env)
    os.sched_setaffinity(0, {1} if os.cpu_count() > 1 else {0})
    models, scen = args.models.split(), args.scenarios.split()
    results = {(m, s): [] for m in models for s in scen}
    for rep in range(args.repeat):
        for model in models:
            if "paused" in scen:
                r = scenario_paused(model, args)
                results[(model, "paused")].append(r)
                print(f"run {rep + 1} {model:5} paused: RSS {r:6.1f} MB", flush=True)
            if "rounds" in scen:
                r = scenario_rounds(model, args)
                results[(model, "rounds")].append(r)
                print(f"run {rep + 1} {model:5} rounds: RSS after close "
                      + " -> ".join(f"{x:.1f}" for x in r) + " MB", flush=True)
            if "chat" in scen:
                r = scenario_chat(model, args)
                results[(model, "chat")].append(r)
                print(f"run {rep + 1} {model:5} chat: RSS {r[0]:.1f} MB, VmHWM {r[1]:.1f} MB, "
                      f"slow consumer {'open' if r[2] else 'closed'}", flush=True)
    print("\nmedians (MB):")
    for model in models:
        line = [f"{model:5}"]
        if "paused" in scen:
            line.append(f"paused {statistics.median(results[(model, 'paused')]):6.1f}")
        if "rounds" in scen:
            rows = results[(model, "rounds")]
            med = [statistics.median(r[i] for r in rows) for i in range(args.rounds)]
            line.append("rounds " + " -> ".join(f"{x:.1f}" for x in med))
        if "chat" in scen:
            rows = results[(model, "chat")]
            line.append(f"chat RSS {statistics.median(r[0] for r in rows):.1f} "
                        f"HWM {statistics.median(r[1] for r in rows):.1f}")
        print("  ".join(line))


if __name__ == "__main__":
    sys.exit(main())
