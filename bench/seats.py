#!/usr/bin/env python3
"""Held seats (issue 26): memory per held seat, and a reconnect storm on one server core.

Usage: bench/seats.py [--players 10000] [--rooms 100] [--model epoll] [--repeat 3]

Per round: a release gameserver (--protocol packet --auth-secret, one loop, pinned to CPU 0)
and this client (pinned to CPU 1). N players sign in with their own token (HS256, minted
here), ask for a seat (SEAT_ASK) and enter one of R rooms. Then every connection is dropped at
once (the client closes: the server sees N EOFs); once `gameserver_seats_held` is N, all N
players connect again at once and RESUME (non-blocking connects, RESUME written as each
connect completes). Reported per round:

  rss_live_kib / rss_held_kib  the server's RSS growth per player with N seated connections,
                               and with N held seats (connections gone), over the RSS before
                               the sign-ins (the held figure includes what the allocator keeps
                               of the closed connections: an upper bound)
  storm_s                      from the first RESUME's connect to the last RESUMED
  resume_p50_ms / p99_ms       per player: its connect started -> its RESUMED arrived
  server_cpu_s                 the server's user+system CPU during the storm
  cpu_us_per_resume            that, per player

Then the medians over the rounds, with [min-max]. Loopback only, bounded in count and time.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import resource
import selectors
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

from procfs import CLK_TCK, cpu_ticks_split, free_port, status_kib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")

HELLO, HELLO_OK, ENTER_ROOM, ROOM_JOINED = 17, 18, 2, 6
SEAT_ASK, SEAT, ACK, RESUME, RESUMED, SEAT_LOST = 22, 23, 24, 25, 26, 27
UNCOUNTED = {SEAT, RESUMED, SEAT_LOST}  # the server's packets the client does not count


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def token(secret, player):
    """A connect token (docs/protocol.md): JWT HS256, aud servercore-game."""
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": player, "aud": "servercore-game", "exp": int(time.time()) + 3600}
    body = b64(json.dumps(claims).encode())
    signed = head + b"." + body
    return signed + b"." + b64(hmac.new(secret, signed, hashlib.sha256).digest())


def packet(pid, body=b""):
    return struct.pack("<HH", 4 + len(body), pid) + body


class Player:
    def __init__(self, index):
        self.name = f"p{index}"
        self.sock = None
        self.buf = b""
        self.ticket = None
        self.received = 0
        self.joined = False
        self.resumed_at = None
        self.started = None

    def packets(self, data):
        self.buf += data
        while len(self.buf) >= 4:
            size, pid = struct.unpack_from("<HH", self.buf)
            if len(self.buf) < size:
                return
            body, self.buf = self.buf[4:size], self.buf[size:]
            if pid not in UNCOUNTED and self.ticket is not None:
                self.received = (self.received + size) % (1 << 32)
            yield pid, body


def pump(sel, players, done, deadline, on_packet):
    """Reads every socket until `done()` or the deadline."""
    while not done():
        if time.time() > deadline:
            raise SystemExit("timed out")
        for key, _ in sel.select(timeout=1):
            player = key.data
            try:
                data = player.sock.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                raise SystemExit(f"{player.name}: the server closed")
            for pid, body in player.packets(data):
                on_packet(player, pid, body)


def metric(port, series):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def wait_metric(port, series, want, deadline):
    while metric(port, series) != want:
        if time.time() > deadline:
            raise SystemExit(f"{series} never reached {want}: {metric(port, series)}")
        time.sleep(0.05)


def sign_in(players, port, secret, rooms, deadline):
    sel = selectors.DefaultSelector()
    for i, p in enumerate(players):
        p.sock = socket.create_connection(("127.0.0.1", port))
        p.sock.sendall(packet(HELLO, token(secret, p.name)) + packet(SEAT_ASK)
                       + packet(ENTER_ROOM, struct.pack("<I", i % rooms)))
        p.sock.setblocking(False)
        sel.register(p.sock, selectors.EVENT_READ, p)
    left = [len(players)]

    def on_packet(p, pid, body):
        if pid == SEAT:
            p.ticket = body[1:33]
        elif pid == ROOM_JOINED and not p.joined:
            p.joined = True
            left[0] -= 1
        elif pid in (SEAT_LOST, 19):
            raise SystemExit(f"{p.name}: refused {body!r}")

    pump(sel, players, lambda: left[0] == 0, deadline, on_packet)
    sel.close()


def storm(players, port, deadline):
    """Every player connects again and RESUMEs at once; returns (seconds, latencies)."""
    sel = selectors.DefaultSelector()
    start = time.time()
    for p in players:
        p.sock = socket.socket()
        p.sock.setblocking(False)
        p.started = time.time()
        p.sock.connect_ex(("127.0.0.1", port))
        p.buf = b""
        sel.register(p.sock, selectors.EVENT_WRITE, p)
    left = [len(players)]
    while left[0]:
        if time.time() > deadline:
            raise SystemExit(f"storm timed out with {left[0]} players not back")
        for key, events in sel.select(timeout=1):
            p = key.data
            if events & selectors.EVENT_WRITE:
                name = p.name.encode()
                body = bytes([len(name)]) + name + bytes([32]) + p.ticket + struct.pack("<I", p.received)
                p.sock.send(packet(RESUME, body))
                sel.modify(p.sock, selectors.EVENT_READ, p)
                continue
            try:
                data = p.sock.recv(65536)
            except (BlockingIOError, ConnectionError):
                continue
            for pid, body in p.packets(data):
                if pid == RESUMED and p.resumed_at is None:
                    p.resumed_at = time.time()
                    left[0] -= 1
                elif pid == SEAT_LOST:
                    raise SystemExit(f"{p.name}: seat lost: {body!r}")
    took = max(p.resumed_at for p in players) - start
    return took, sorted((p.resumed_at - p.started) * 1e3 for p in players)


def round_once(args, secret_file, secret):
    port, metrics = free_port(), free_port()
    server = subprocess.Popen(
        ["taskset", "-c", str(args.server_cpu), os.path.join(BIN, "gameserver"),
         "--protocol", "packet", "--auth-secret", secret_file, "--threads", "1",
         "--model", args.model, "--bind", "127.0.0.1", "--port", str(port),
         "--metrics", f"127.0.0.1:{metrics}", "--max-sessions", str(args.players * 2 + 100),
         "--resume-window", "120"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})
    try:
        deadline = time.time() + 120
        while metric_or_none(metrics) is None:
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.05)
        players = [Player(i) for i in range(args.players)]
        rss0 = status_kib(server.pid, "VmRSS")
        sign_in(players, port, secret, args.rooms, time.time() + 120)
        rss_live = status_kib(server.pid, "VmRSS")
        for p in players:
            p.sock.close()
        wait_metric(metrics, "gameserver_seats_held", args.players, time.time() + 120)
        time.sleep(0.5)  # the loop's memory trim after closes runs on its sweep
        rss_held = status_kib(server.pid, "VmRSS")
        before = sum(cpu_ticks_split(server.pid))
        took, lat = storm(players, port, time.time() + 120)
        cpu = (sum(cpu_ticks_split(server.pid)) - before) / CLK_TCK
        ok = metric(metrics, 'gameserver_resumes_total{result="ok"}')
        assert ok == args.players, f"resumes ok = {ok}"
        for p in players:
            p.sock.close()
        return {
            "rss_live_kib": (rss_live - rss0) / args.players,
            "rss_held_kib": (rss_held - rss0) / args.players,
            "storm_s": took,
            "resume_p50_ms": lat[len(lat) // 2],
            "resume_p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "server_cpu_s": cpu,
            "cpu_us_per_resume": cpu * 1e6 / args.players,
        }
    finally:
        server.kill()
        server.wait()


def metric_or_none(port):
    try:
        return metric(port, "gameserver_seats_held")
    except OSError:
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--players", type=int, default=10000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--model", default="epoll")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.client_cpu})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.players + 100 > hard:
        raise SystemExit(f"--players {args.players} needs more descriptors than {hard}")
    with tempfile.TemporaryDirectory() as work:
        secret = os.urandom(24).hex().encode()
        secret_file = os.path.join(work, "auth.secret")
        with open(secret_file, "wb") as f:
            f.write(secret)
        rounds = []
        for n in range(args.repeat):
            r = round_once(args, secret_file, secret)
            rounds.append(r)
            print(f"round {n + 1}: " + " ".join(f"{k}={v:.2f}" for k, v in r.items()), flush=True)
    print(f"{args.players} players, {args.rooms} rooms, model {args.model}, medians of {len(rounds)}:")
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        print(f"  {key:18} {statistics.median(values):10.2f}  [{min(values):.2f}-{max(values):.2f}]")


if __name__ == "__main__":
    sys.exit(main())
