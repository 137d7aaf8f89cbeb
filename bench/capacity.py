#!/usr/bin/env python3
"""Capacity at a latency bound, and cost below saturation (issue 13): `bench/run.sh capacity`.

For every scenario (echo, chat, chat-tick) and server, the highest open-loop rate a server on
one pinned core sustains with p99 within the bound and nothing lost or wrong (the search:
bench/capacity_search.py; a probe: bench/capacity_probe.py), REPEAT times with the servers'
searches in lockstep; then every server's CPU per unit at half the reference's median
capacity. Every probe, search, cost run and summary goes to
bench/results/<run_id>-capacity.jsonl; the table per scenario to stdout
(bench/capacity_report.py). Knobs are environment variables: see bench/README.md.

The scenarios tls-echo and tls-chat are echo and chat over TLS: every server gets
`--tls-cert/--tls-key` and the client `--tls --tls-ca` from TLS_DIR (ca.pem, server.pem,
server.key: `make_test_pki` in bench/lib.sh; bench/tls.sh runs tls-echo with its own).

Exit status: 0 when the measurement ran (servers failing probes is data); 1 when the harness
broke (a binary missing, a server that would not start, a bad knob).
"""

import json
import os
import resource
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from capacity_probe import HarnessError, run_probe
from capacity_report import spread, summarize, table
from capacity_search import Search

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN_DIR = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"),
                       "release")
# Chat load shape: 500 clients in 10 rooms of 50; a chat/s per client is 25,000 deliveries/s.
CHAT_CLIENTS, CHAT_ROOMS = 500, 10
CHAT_SEND_BATCH_MS = int(os.environ.get("CHAT_SEND_BATCH_MS", "10"))
CHAT_QUANTUM = CHAT_CLIENTS * (CHAT_CLIENTS // CHAT_ROOMS)
# Echo rates are searched in steps of 100 msgs/s.
ECHO_QUANTUM = 100
# Stepping down from a failing START stops at START / DOWN_FLOOR.
DOWN_FLOOR = 100


def env(name, default, kind=float):
    value = os.environ.get(name, "")
    try:
        return kind(value) if value else default
    except ValueError:
        what = "whole number" if kind is int else "number"
        raise HarnessError(f"{name}={value!r} is not a {what}") from None


@dataclass
class Scenario:
    """What a scenario's client does and how its servers are started."""
    name: str
    kind: str  # echo or chat: which reference, protocol and unit
    start: float
    max_rate: float
    bound_us: int
    tick: bool = False  # gameserver gets --flush-interval-ms 20 (the send tick)
    tls: bool = False  # servers and client speak TLS (certificates from TLS_DIR)
    reference: str = field(init=False)
    # Servers this scenario also runs when SERVERS names them: mio_echo, the bare readiness
    # loop, is the floor under every echo server's cost.
    floors: tuple = field(init=False)
    quantum: int = field(init=False)

    def __post_init__(self):
        echo = self.kind == "echo"
        # tokio_chat speaks TLS with the flags; the TLS echo baseline is its own binary.
        self.reference = ("tokio_tls_echo" if self.tls else "tokio_echo") if echo else "tokio_chat"
        self.floors = ("mio_echo",) if echo and not self.tls else ()
        self.quantum = ECHO_QUANTUM if echo else CHAT_QUANTUM
        self.protocol = "raw" if echo else "packet"
        self.unit = "messages" if echo else "deliveries"
        self.unit_short = "msg" if echo else "delivery"
        self.rate_field = "msgs_per_sec" if echo else "deliveries_per_sec"
        # Chat at hundreds of chats/s per client is a load test, not a player: gameserver's
        # per-session packet rate limit (200/s by default) would end the search there.
        self.gameserver_args = ([] if echo else ["--rate-limit", "0"]) + (
            ["--flush-interval-ms", "20"] if self.tick else [])

    def client_args(self, rate, tls_dir=None):
        """dummyclient's load arguments at `rate` (msgs/s, or deliveries/s on the chat grid),
        with `--tls` trusting TLS_DIR's CA in a TLS scenario."""
        args = self.load_args(str(int(rate) // (1 if self.kind == "echo" else self.quantum)))
        return args + tls_client_args(tls_dir) if self.tls else args

    def load_args(self, rate):
        """dummyclient's load arguments with `rate` as the --rate (echo) or --chat-rate (chat)
        value."""
        if self.kind == "echo":
            return ["--clients", "1000", "--size", "64", "--rate", rate]
        # Each chat client sends what is due every CHAT_SEND_BATCH_MS, as a game client sends
        # once per frame (the hold counts in the latency): without it the load generator's own
        # loopback sends, one per chat, limit the run before the server does.
        return ["--protocol", "packet", "--scenario", "chat", "--clients", str(CHAT_CLIENTS),
                "--rooms", str(CHAT_ROOMS), "--size", "60", "--chat-rate", rate,
                "--send-batch-ms", str(CHAT_SEND_BATCH_MS)]

    def describe(self):
        rate = "R" if self.kind == "echo" else f"r (= {self.quantum:,} r deliveries/s)"
        tick = "; gameserver --flush-interval-ms 20" if self.tick else ""
        tls = " --tls" if self.tls else ""
        return (f"dummyclient {' '.join(self.load_args(rate))}{tls}; "
                f"p99 <= {self.bound_us:,} us{tick}")


def tls_files(tls_dir):
    """The CA, certificate and key in `tls_dir` (as `make_test_pki` in bench/lib.sh names them);
    a HarnessError if the directory is not set or a file is missing."""
    if not tls_dir:
        raise HarnessError("a TLS scenario needs TLS_DIR (ca.pem, server.pem, server.key; "
                           "bench/lib.sh make_test_pki makes them, bench/tls.sh sets it)")
    files = [os.path.join(tls_dir, name) for name in ("ca.pem", "server.pem", "server.key")]
    for path in files:
        if not os.path.isfile(path):
            raise HarnessError(f"TLS_DIR: {path} not found")
    return files


def tls_server_args(tls_dir):
    """A server's flags to serve TLS with TLS_DIR's certificate."""
    _, cert, key = tls_files(tls_dir)
    return ["--tls-cert", cert, "--tls-key", key]


def tls_client_args(tls_dir):
    """dummyclient's flags to speak TLS, trusting TLS_DIR's CA."""
    ca, _, _ = tls_files(tls_dir)
    return ["--tls", "--tls-ca", ca]


@dataclass
class Config:
    """The knobs (environment variables, see bench/README.md)."""
    repeat: int = field(default_factory=lambda: env("REPEAT", 3, int))
    step_secs: float = field(default_factory=lambda: env("STEP_SECS", 3.0))
    cost_secs: float = field(default_factory=lambda: env("COST_SECS", 5.0))
    factor: float = field(default_factory=lambda: env("STEP_FACTOR", 1.25))
    resolution: float = field(default_factory=lambda: env("RESOLUTION", 0.05))
    tries: int = field(default_factory=lambda: env("TRIES", 3, int))
    max_probes: int = field(default_factory=lambda: env("MAX_PROBES", 60, int))
    search_max_secs: float = field(default_factory=lambda: env("SEARCH_MAX_SECS", 3600.0))
    # Cost only: no searches, every server's cost runs at this rate (A/B of one change).
    cost_rate: float = field(default_factory=lambda: env("COST_RATE", 0.0))
    server_cpu: int = field(default_factory=lambda: env("SERVER_CPU", 0, int))
    # Event loops of every server (all on SERVER_CPU): 2 shows what crossing loops costs.
    server_threads: int = field(default_factory=lambda: env("SERVER_THREADS", 1, int))
    client_cpu: int = field(default_factory=lambda: env("CLIENT_CPU", 1, int))
    dummyclient: str = field(default_factory=lambda: os.environ.get("DUMMYCLIENT")
                             or os.path.join(BIN_DIR, "dummyclient"))
    gameserver_args: list = field(
        default_factory=lambda: shlex.split(os.environ.get("GAMESERVER_ARGS", "")))
    servers: list = field(default_factory=lambda: os.environ.get("SERVERS", "").split())
    scenarios: list = field(default_factory=lambda: os.environ.get(
        "SCENARIOS", "echo chat chat-tick").split())
    tls_dir: str = field(default_factory=lambda: os.environ.get("TLS_DIR", ""))

    def scenario(self, name):
        echo = dict(kind="echo", start=env("START_ECHO", 40_000.0),
                    max_rate=env("MAX_RATE_ECHO", 1e6), bound_us=env("P99_ECHO_US", 5000, int))
        chat = dict(kind="chat", start=env("START_CHAT", 500_000.0),
                    max_rate=env("MAX_RATE_CHAT", 20e6), bound_us=env("P99_CHAT_US", 50000, int))
        known = {"echo": echo, "chat": chat, "chat-tick": dict(chat, tick=True),
                 "tls-echo": dict(echo, tls=True, start=env("START_TLS_ECHO", 30_000.0)),
                 "tls-chat": dict(chat, tls=True)}
        if name not in known:
            raise HarnessError(f"unknown scenario {name!r} (known: {', '.join(known)})")
        return Scenario(name, **known[name])

    def servers_for(self, scenario):
        """The server specs that run this scenario: SERVERS (gameserver-* everywhere, tokio_*
        where it is the reference, mio_echo in echo) or gameserver-epoll, gameserver-uring and
        the reference."""
        specs = self.servers or ["gameserver-epoll", "gameserver-uring", scenario.reference]
        out = []
        for spec in specs:
            name = spec.split("+")[0]
            if name.startswith("gameserver-") or name in (scenario.reference, *scenario.floors):
                out.append(spec)
            elif name not in ("tokio_echo", "tokio_tls_echo", "tokio_chat", "mio_echo"):
                raise HarnessError(f"unknown server {name!r} in {spec!r}")
        return out

    def server_cmd(self, spec, scenario):
        """A spec `NAME+EXTRA+ARGS` as a command line (without --bind/--port/--threads). A
        gameserver name may end in `@PATH`, another gameserver binary to run (an A/B of two
        builds: `gameserver-epoll@/tmp/gameserver-before`)."""
        name, *extra = spec.split("+")
        tls = tls_server_args(self.tls_dir) if scenario.tls else []
        if name.startswith("gameserver-"):
            name, _, binary = name.partition("@")
            return [binary or os.path.join(BIN_DIR, "gameserver"),
                    "--model", name[len("gameserver-"):],
                    "--protocol", scenario.protocol, *scenario.gameserver_args,
                    *self.gameserver_args, *tls, *extra]
        return [os.path.join(BIN_DIR, name), *tls, *extra]

    def search(self, scenario):
        return Search(scenario.start, factor=self.factor, resolution=self.resolution,
                      max_rate=scenario.max_rate, min_rate=scenario.start / DOWN_FLOOR,
                      quantum=scenario.quantum, tries=self.tries, max_probes=self.max_probes)


class Run:
    """One capacity run: its id, output files and the probes it makes. `name` names the files
    (bench/tls.py writes its own records to the same file)."""

    def __init__(self, cfg, name="capacity"):
        self.cfg = cfg
        self.id = time.strftime("%Y%m%d-%H%M%S")
        results = os.path.join(ROOT, "bench", "results")
        self.log_dir = os.path.join(results, f"{self.id}-{name}.logs")
        os.makedirs(self.log_dir, exist_ok=True)
        self.path = os.path.join(results, f"{self.id}-{name}.jsonl")
        self.out = open(self.path, "a")

    def write(self, record):
        self.out.write(json.dumps(dict(record, run_id=self.id)) + "\n")
        self.out.flush()

    def probe(self, scenario, spec, rate, secs, label):
        """Runs one probe, writes it and prints its progress line; returns its record."""
        cfg = self.cfg
        client = [cfg.dummyclient, *scenario.client_args(rate, cfg.tls_dir),
                  "--duration", str(secs),
                  "--threads", "1", "--json"]
        safe = spec.replace("/", "_").replace(" ", "_")
        rec = run_probe(cfg.server_cmd(spec, scenario), client, offered=rate,
                        rate_field=scenario.rate_field, unit=scenario.unit,
                        bound_us=scenario.bound_us, secs=secs, server_cpu=cfg.server_cpu,
                        client_cpu=cfg.client_cpu, server_threads=cfg.server_threads,
                        log_prefix=os.path.join(self.log_dir,
                                                f"{scenario.name}-{safe}-{label}-{rate:.0f}"))
        rec = dict(rec, scenario=scenario.name, server=spec)
        verdict = "PASS" if rec["passed"] else "FAIL (" + "; ".join(rec["reasons"]) + ")"
        p99 = rec["p99_us"]
        print(f"  {scenario.name} {label:<22} {spec:<30} {rate:>12,.0f} {scenario.unit_short}/s "
              f"{verdict}  p99 {'n/a' if p99 is None else format(p99, ',')} us  "
              f"server cpu {rec['server_cpu_share']:.0%}  client cpu {rec['client_cpu_share']:.0%}  "
              f"other load on server cpu {rec['other_load_on_server_cpu']:.0%}",
              flush=True)
        return rec

    def search_round(self, scenario, servers, rep):
        """One repeat of every server's search, in lockstep; returns {server: search record}."""
        searches = {s: self.cfg.search(scenario) for s in servers}
        probes = {s: [] for s in servers}
        deadline = time.monotonic() + self.cfg.search_max_secs
        while not all(x.done for x in searches.values()):
            for s, search in searches.items():
                if search.done:
                    continue
                if time.monotonic() > deadline:
                    search.abort("guard: SEARCH_MAX_SECS")
                    continue
                rate, attempt, phase = search.next_rate(), search.next_try(), search.phase
                rec = self.probe(scenario, s, rate, self.cfg.step_secs,
                                 f"r{rep}-{phase}-t{attempt}")
                self.write(dict(rec, type="probe", repeat=rep, phase=phase, attempt=attempt))
                probes[s].append(rec)
                search.record(rec["passed"])
        return {s: self.search_record(scenario, s, rep, searches[s], probes[s]) for s in servers}

    def search_record(self, scenario, server, rep, search, probes):
        at_cap = [p for p in probes if p["passed"] and p["offered"] == search.capacity]
        above = [p for p in probes if p["offered"] == search.lowest_failing]
        rec = {
            "type": "search", "scenario": scenario.name, "server": server, "repeat": rep,
            "capacity": search.capacity, "lowest_failing": search.lowest_failing,
            "end_reason": search.end_reason, "probes": search.probes,
            "history": search.history,
            "client_cpu_share_at_capacity": at_cap[-1]["client_cpu_share"] if at_cap else None,
            "server_cpu_share_at_capacity": at_cap[-1]["server_cpu_share"] if at_cap else None,
            "p99_us_at_capacity": at_cap[-1]["p99_us"] if at_cap else None,
            "other_load_max": max((p["other_load_on_server_cpu"] for p in probes), default=None),
            "client_cpu_share_above_capacity":
                max((p["client_cpu_share"] for p in above), default=None),
            "reasons_above_capacity": [p["reasons"] for p in above],
        }
        self.write(rec)
        print(f"  {scenario.name} r{rep} {server}: capacity {search.capacity:,.0f} "
              f"{scenario.unit_short}/s ({search.end_reason}, {search.probes} probes)",
              flush=True)
        return rec

    def scenario(self, scenario):
        """Searches, cost runs and the summary of one scenario; returns its summary rows."""
        cfg = self.cfg
        servers = cfg.servers_for(scenario)
        if not servers:
            return []
        names = [s.split("+")[0] for s in servers]
        reference = servers[names.index(scenario.reference)] if scenario.reference in names \
            else servers[0]
        print(f"scenario {scenario.name}: {scenario.describe()}; servers {servers}, "
              f"reference {reference}", flush=True)
        searches = {s: [] for s in servers}
        if cfg.cost_rate:
            cost_rate = cfg.cost_rate  # cost only: no searches
        else:
            for rep in range(1, cfg.repeat + 1):
                for s, rec in self.search_round(scenario, servers, rep).items():
                    searches[s].append(rec)
            ref_cap = spread([r["capacity"] for r in searches[reference]])[0]
            cost_rate = ref_cap / 2 if ref_cap else None
        costs = {s: [] for s in servers}
        if cost_rate:
            rate = max(1, round(cost_rate / scenario.quantum)) * scenario.quantum
            for rep in range(1, cfg.repeat + 1):
                for s in servers:
                    rec = self.probe(scenario, s, rate, cfg.cost_secs, f"cost-r{rep}")
                    self.write(dict(rec, type="cost", repeat=rep))
                    costs[s].append(rec)
        rows = summarize(scenario.name, servers, reference, searches, costs)
        for row in rows:
            self.write(row)
        return rows


def commit():
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout
    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no").strip()
                   else "")


def prepare(cfg, scenarios):
    """Descriptors for 1,000 clients, the build, the binaries; unknown server names fail here,
    before anything runs."""
    specs = {(spec, s.name): s for s in scenarios for spec in cfg.servers_for(s)}
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if not os.environ.get("SKIP_BUILD"):
        subprocess.run(["cargo", "build", "--release", "-p", "gameserver", "-p", "dummyclient",
                        "-p", "baselines"], cwd=ROOT, check=True)
    if not os.access(cfg.dummyclient, os.X_OK):
        raise HarnessError(f"client binary {cfg.dummyclient} not found")
    for (spec, _), scenario in specs.items():
        binary = cfg.server_cmd(spec, scenario)[0]
        if not os.access(binary, os.X_OK):
            raise HarnessError(f"server binary {binary} not found")


def main():
    cfg = Config()
    scenarios = [cfg.scenario(name) for name in cfg.scenarios]
    prepare(cfg, scenarios)
    run = Run(cfg)
    params = {k: v for k, v in vars(cfg).items()}
    params["scenarios"] = [vars(s) for s in scenarios]
    run.write({"type": "start", "commit": commit(), "loadavg": os.getloadavg(),
               "params": params, "time": time.time()})
    print(f"capacity run {run.id}: results {run.path}", flush=True)
    tables = [table(s, rows) if rows else f"scenario {s.name}: no server in SERVERS runs it"
              for s in scenarios for rows in [run.scenario(s)]]
    run.write({"type": "end", "loadavg": os.getloadavg(), "time": time.time()})
    print()
    print("\n\n".join(tables))
    print(f"\nresults: {run.path}\nlogs: {run.log_dir}")


def terminated(_signum, _frame):
    """SIGTERM unwinds like Ctrl-C, so the running probe stops its server and client."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, terminated)
    try:
        main()
    except (HarnessError, subprocess.CalledProcessError) as e:
        print(f"capacity.py: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("capacity.py: interrupted", file=sys.stderr)
        sys.exit(130)
