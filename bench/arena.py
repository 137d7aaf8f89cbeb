#!/usr/bin/env python3
"""The arena at scale: `gameserver --game arena` pinned to one core (SERVER_CPU), N bots of
`dummyclient --scenario arena` pinned to the other (CLIENT_CPU), 20 Hz, the arena sized so
that about IN_VIEW players are within each one's view radius. For each N: tick work p99 (the
server's `room_tick_microseconds_bucket` counters over the window the bots move), snapshot
latency p99 (the server's tick start to the bot's receipt), violations found by the bots,
server CPU us per player per tick, bytes per player per second against a naive "everyone gets
everyone", and how a tick's time splits between its phases. See bench/README.md "The arena".

    bench/arena.py                                  # PLAYERS="1000 5000 10000"
    PLAYERS="2000 4000" DURATION=10 bench/arena.py
    FIND_MAX=1 bench/arena.py                       # then bisect for the largest N that passes

Stdlib only. Results: a table on stdout, JSON lines in bench/results/<id>-arena.jsonl, the
processes' output in bench/results/<id>-arena.logs/. Exit 1 if the harness broke (a binary
missing, a server that would not start); a failing N is data, not a harness error.
"""

import json
import math
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request

from procfs import CLK_TCK, cpu_busy_ticks, cpu_ticks_split, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release")


def knob(name, default, kind=float):
    value = os.environ.get(name, "")
    return kind(value) if value else default


PLAYERS = [int(n) for n in os.environ.get("PLAYERS", "1000 5000 10000").split()]
VIEW_RADIUS = knob("VIEW_RADIUS", 100, int)
IN_VIEW = knob("IN_VIEW", 75.0)
TICK_HZ = knob("TICK_HZ", 20, int)
DURATION = knob("DURATION", 20.0)
TURN_MS = knob("TURN_MS", 1000, int)
MODEL = os.environ.get("MODEL", "epoll")
# The bots' I/O model (io_uring's multishot receives cost the client less per snapshot).
CLIENT_MODEL = os.environ.get("CLIENT_MODEL", MODEL)
SERVER_CPU = knob("SERVER_CPU", 0, int)
CLIENT_CPU = knob("CLIENT_CPU", 1, int)
CLIENT_THREADS = knob("CLIENT_THREADS", 1, int)
P99_TICK_US = knob("P99_TICK_US", 10_000, int)
P99_LATENCY_US = knob("P99_LATENCY_US", 60_000, int)
FIND_MAX = knob("FIND_MAX", 0, int)
RESOLUTION = knob("RESOLUTION", 500, int)
# "Everyone gets everyone": every player's id and position (u16 each) to every player, every
# tick, with the same packet and snapshot headers as ours.
NAIVE_ENTITY_BYTES = 6
SNAPSHOT_FIXED_BYTES = 4 + 21 + 10


class HarnessError(Exception):
    pass


def arena_size(players):
    """The side (units) that puts about IN_VIEW players within VIEW_RADIUS of each."""
    side = math.sqrt(players * math.pi * VIEW_RADIUS ** 2 / IN_VIEW)
    return max(VIEW_RADIUS, min(8190, round(side)))


def raise_nofile():
    """For a child: as many descriptors as the hard limit allows (10,000 bots need them)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def scrape(port):
    """The server's metrics as {series: value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            out[series] = float(value)
    return out


def wait_accepting(port, proc, log):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HarnessError(f"gameserver exited during start-up (see {log})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise HarnessError(f"gameserver did not accept within 30 s (see {log})")


def delta(after, before, series):
    return after.get(series, 0) - before.get(series, 0)


def tick_p99_us(after, before):
    """The smallest bucket bound under which 99% of the window's ticks fell (None: no tick)."""
    prefix = "gameserver_room_tick_microseconds_bucket_total{le=\""
    total = delta(after, before, prefix + "+Inf\"}")
    if total <= 0:
        return None, 0
    bounds = sorted(int(s[len(prefix):-2]) for s in after if s.startswith(prefix) and "Inf" not in s)
    for le in bounds:
        if delta(after, before, f"{prefix}{le}\"}}") >= 0.99 * total:
            return le, total
    return math.inf, total


def run_players(players, log_dir):
    """One measurement with `players` bots; returns its record."""
    size = arena_size(players)
    port, metrics = free_port(), free_port()
    server_log = os.path.join(log_dir, f"server-{players}.log")
    server_cmd = [
        "taskset", "-c", str(SERVER_CPU), os.path.join(BIN, "gameserver"),
        "--bind", "127.0.0.1", "--port", str(port), "--threads", "1", "--model", MODEL,
        "--protocol", "packet", "--game", "arena", "--arena-size", str(size),
        "--view-radius", str(VIEW_RADIUS), "--tick-hz", str(TICK_HZ),
        "--arena-capacity", str(players), "--max-sessions", str(players + 100),
        "--metrics", f"127.0.0.1:{metrics}",
    ]
    client_cmd = [
        "taskset", "-c", str(CLIENT_CPU), os.path.join(BIN, "dummyclient"),
        "--addr", f"127.0.0.1:{port}", "--protocol", "packet", "--scenario", "arena",
        "--clients", str(players), "--duration", str(DURATION), "--turn-ms", str(TURN_MS),
        "--threads", str(CLIENT_THREADS), "--model", CLIENT_MODEL, "--connect-timeout", "120",
        "--json",
    ]
    with open(server_log, "wb") as slog:
        server = subprocess.Popen(server_cmd, stdout=slog, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, preexec_fn=raise_nofile)
    try:
        wait_accepting(port, server, server_log)
        out_path = os.path.join(log_dir, f"client-{players}.json")
        err_path = os.path.join(log_dir, f"client-{players}.err")
        started = time.monotonic()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            client = subprocess.Popen(client_cmd, stdout=out, stderr=err,
                                      stdin=subprocess.DEVNULL, preexec_fn=raise_nofile)
            # The window opens when every bot is in the arena (the bots start moving then).
            before = {}
            while client.poll() is None:
                before = scrape(metrics)
                if before.get("gameserver_arena_players", 0) >= players:
                    break
                time.sleep(0.05)
            window_start = time.monotonic()
            cpu_before = cpu_ticks_split(server.pid)
            busy_before = cpu_busy_ticks(SERVER_CPU)
            _, status, usage = os.wait4(client.pid, 0)
            client.returncode = os.waitstatus_to_exitcode(status)
        window = time.monotonic() - window_start
        after = scrape(metrics)
        cpu_after = cpu_ticks_split(server.pid)
        busy_after = cpu_busy_ticks(SERVER_CPU)
        client_secs = usage.ru_utime + usage.ru_stime
        wall = time.monotonic() - started
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    try:
        with open(out_path) as f:
            report = json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        report = None
    return summarize(players, size, report, client.returncode, before, after,
                     (cpu_before, cpu_after, busy_before, busy_after), window, client_secs / wall)


def summarize(players, size, report, client_exit, before, after, cpu, window, client_share):
    cpu_before, cpu_after, busy_before, busy_after = cpu
    server_us = (sum(cpu_after) - sum(cpu_before)) * 1e6 / CLK_TCK
    ticks = delta(after, before, "gameserver_room_ticks_total")
    player_ticks = delta(after, before, "gameserver_arena_player_ticks_total")
    p99_tick, _ = tick_p99_us(after, before)
    phases = {}
    for phase in ("inputs", "simulation", "grid", "encode", "send"):
        us = delta(after, before, f"gameserver_arena_tick_phase_microseconds_total{{phase=\"{phase}\"}}")
        phases[phase] = us / ticks / 1000 if ticks else None  # ms per tick
    snapshot_bytes = delta(after, before, "gameserver_arena_snapshot_bytes_total")
    naive = (SNAPSHOT_FIXED_BYTES + NAIVE_ENTITY_BYTES * players) * TICK_HZ
    client = report or {}
    errors = client.get("errors")
    latency = client.get("p99_us")
    reasons = []
    if client_exit != 0 or report is None:
        reasons.append(f"client exit {client_exit}")
    if errors:
        reasons.append(f"{errors} errors {client.get('violations')}")
    if p99_tick is None or p99_tick > P99_TICK_US:
        reasons.append(f"tick p99 {p99_tick} us > {P99_TICK_US}")
    if latency is None or latency > P99_LATENCY_US:
        reasons.append(f"latency p99 {latency} us > {P99_LATENCY_US}")
    skipped = delta(after, before, "gameserver_room_tick_periods_skipped_total")
    return {
        "type": "players",
        "players": players,
        "arena_size": size,
        "passed": not reasons,
        "reasons": reasons,
        "window_secs": window,
        "ticks": ticks,
        "tick_p99_us_at_most": p99_tick,
        "periods_skipped": skipped,
        "snapshot_latency_p50_us": client.get("p50_us"),
        "snapshot_latency_p99_us": latency,
        "snapshot_latency_max_us": client.get("max_us"),
        "errors": errors,
        "violations": client.get("violations"),
        "in_view_avg": client.get("in_view_avg"),
        "server_cpu_us_per_player_tick": server_us / player_ticks if player_ticks else None,
        # The same, apart: user time is the server's own code (the tick), system time the
        # kernel's (on loopback: the TCP sends, and the receiving side's work too).
        "server_user_us_per_player_tick": (cpu_after[0] - cpu_before[0]) * 1e6 / CLK_TCK / player_ticks if player_ticks else None,
        "server_system_us_per_player_tick": (cpu_after[1] - cpu_before[1]) * 1e6 / CLK_TCK / player_ticks if player_ticks else None,
        "server_cpu_share": server_us / 1e6 / window if window else None,
        "other_load_on_server_cpu": max(0, (busy_after - busy_before) * 1e6 / CLK_TCK - server_us) / 1e6 / window,
        "client_cpu_share": client_share,
        "bytes_per_player_per_sec_server": snapshot_bytes / players / window if window else None,
        "bytes_per_player_per_sec_client": client.get("bytes_per_player_per_sec"),
        "naive_bytes_per_player_per_sec": naive,
        "phase_ms_per_tick": phases,
        "clamped_speed": delta(after, before, "gameserver_arena_inputs_clamped_total{rule=\"speed\"}"),
        "client": report,
    }


def fmt(value, spec=",.0f"):
    return "n/a" if value is None else format(value, spec)


def row(r):
    phases = r["phase_ms_per_tick"]
    split = " ".join(f"{k[:4]} {fmt(v, '.2f')}" for k, v in phases.items())
    ratio = (r["bytes_per_player_per_sec_server"] or 0) / r["naive_bytes_per_player_per_sec"]
    return (f"{r['players']:>6} {r['arena_size']:>5} {'PASS' if r['passed'] else 'FAIL':>4} "
            f"{fmt(r['tick_p99_us_at_most']):>8} {fmt(r['snapshot_latency_p99_us']):>9} "
            f"{fmt(r['errors']):>4} {fmt(r['in_view_avg'], '.1f'):>6} "
            f"{fmt(r['server_cpu_us_per_player_tick'], '.2f'):>6} ({fmt(r['server_user_us_per_player_tick'], '.2f')}+{fmt(r['server_system_us_per_player_tick'], '.2f')}) "
            f"{fmt(r['bytes_per_player_per_sec_server']):>8} 1/{fmt(1 / ratio if ratio else None, '.0f'):<5} "
            f"{fmt(100 * (r['server_cpu_share'] or 0), '.0f'):>4}% {fmt(100 * (r['client_cpu_share'] or 0), '.0f'):>4}% "
            f"{fmt(100 * r['other_load_on_server_cpu'], '.0f'):>4}%  {split}"
            + ("" if r["passed"] else "  (" + "; ".join(r["reasons"]) + ")"))


HEADER = ("players  side  ok  tick p99  lat p99 err  view  us/p/t (user+sys)  B/p/s  vs naive  srv%  cli%  oth%  "
          "tick split, ms (inputs simulation grid encode send)")


def main():
    if not os.environ.get("SKIP_BUILD"):
        subprocess.run(["cargo", "build", "--release", "-p", "gameserver", "-p", "dummyclient"],
                       cwd=ROOT, check=True)
    for name in ("gameserver", "dummyclient"):
        if not os.access(os.path.join(BIN, name), os.X_OK):
            raise HarnessError(f"{os.path.join(BIN, name)} not found")
    run_id = time.strftime("%Y%m%d-%H%M%S")
    results = os.path.join(ROOT, "bench", "results")
    log_dir = os.path.join(results, f"{run_id}-arena.logs")
    os.makedirs(log_dir, exist_ok=True)
    path = os.path.join(results, f"{run_id}-arena.jsonl")
    params = {k: v for k, v in globals().items() if k.isupper() and k not in ("ROOT", "BIN", "HEADER")}
    rows = []
    with open(path, "a") as out:
        out.write(json.dumps({"type": "start", "params": params, "loadavg": os.getloadavg()}) + "\n")
        print(HEADER, flush=True)
        todo = list(PLAYERS)
        while todo:
            players = todo.pop(0)
            record = run_players(players, log_dir)
            rows.append(record)
            out.write(json.dumps(record) + "\n")
            out.flush()
            print(row(record), flush=True)
            if FIND_MAX and not todo:
                todo = next_bisection(rows)
        best = max((r["players"] for r in rows if r["passed"]), default=0)
        out.write(json.dumps({"type": "end", "largest_passing": best, "loadavg": os.getloadavg()}) + "\n")
    print(f"\nlargest N that passed: {best}\nresults: {path}\nlogs: {log_dir}")


def next_bisection(rows):
    """The next N between the largest pass and the smallest fail above it (RESOLUTION apart)."""
    passed = [r["players"] for r in rows if r["passed"]]
    failed = [r["players"] for r in rows if not r["passed"]]
    lo = max(passed, default=0)
    hi = min((n for n in failed if n > lo), default=None)
    if hi is None or hi - lo <= RESOLUTION:
        return []
    middle = (lo + hi) // 2 // RESOLUTION * RESOLUTION
    return [middle] if lo < middle < hi else []


if __name__ == "__main__":
    try:
        main()
    except HarnessError as err:
        print(f"arena.py: {err}", file=sys.stderr)
        sys.exit(1)
