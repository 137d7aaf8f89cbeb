#!/usr/bin/env python3
"""What TLS costs (issue 25): `bench/tls.sh`, which makes the certificates (TLS_DIR) and builds.

Four sections, each a set of variants (a server with or without TLS, and its client) run in
REPEAT alternated rounds; every variant on a fresh server pinned to SERVER_CPU, the client on
CLIENT_CPU (a probe of bench/capacity_probe.py):

  echo        open loop, 100 clients x 64 B at ECHO_RATE msgs/s: server CPU µs per message
              once every client is connected (the handshakes apart), for gameserver (per
              model) and tokio_tls_echo over TLS, and gameserver and tokio_echo over TCP: the
              cost of TLS over TCP on the same server is the per-round ratio of the two;
  chat        the same for chat deliveries (gameserver --protocol packet, tokio_chat);
  capacity    the highest open-loop TLS echo rate held with p99 <= 5 ms: bench/capacity.py's
              search on its tls-echo scenario;
  handshakes  tls_handshakes (connect, handshake, one echo, close) as fast as it can: the rate,
              and server CPU µs per handshake (1e6 / that = handshakes/s one core would do,
              even when the client is the bottleneck); full and resumed, per key exchange.

Every record goes to bench/results/<run_id>-tls.jsonl, the tables (markdown) to stdout and to
<run_id>-tls.md. Knobs: bench/README.md ("TLS").
"""

import os
import signal
import sys
import time
from dataclasses import dataclass, field

from capacity import BIN_DIR, Config, Run, commit, env, prepare
from capacity_probe import HarnessError, run_probe
from capacity_report import fmt, round_ratios, spread

SECTIONS = ("echo", "chat", "capacity", "handshakes")
# Handshake modes: tls_handshakes flags. "default" offers the ring provider's groups as they
# are (rustls 0.23.48: P-384 first, what dummyclient --tls sends).
HS_MODES = {
    "full": [],
    "full-x25519": ["--kx", "x25519"],
    "resumed": ["--resume"],
    "resumed-x25519": ["--resume", "--kx", "x25519"],
}
NO_BOUND_US = 10**12


@dataclass
class Variant:
    """One row: a server command, the client that loads it, and what the row is compared to."""
    label: str  # the server, e.g. gameserver-epoll
    mode: str  # TLS or TCP, or the handshake mode
    server: list
    client: list
    unit: str
    rate_field: str
    offered: float
    reference: tuple = None  # the (label, mode) key the cost ratio is taken to
    plain: tuple = None  # the same server over TCP: the TLS / TCP ratio
    records: list = field(default_factory=list)

    @property
    def key(self):
        return (self.label, self.mode)


@dataclass
class Knobs:
    models: list = field(default_factory=lambda: os.environ.get("MODELS", "epoll uring").split())
    sections: list = field(
        default_factory=lambda: os.environ.get("SECTIONS", " ".join(SECTIONS)).split())
    echo_rate: float = field(default_factory=lambda: env("ECHO_RATE", 20_000.0))
    echo_clients: int = field(default_factory=lambda: env("ECHO_CLIENTS", 100, int))
    chat_clients: int = field(default_factory=lambda: env("CHAT_CLIENTS", 500, int))
    chat_rooms: int = field(default_factory=lambda: env("CHAT_ROOMS", 10, int))
    chat_rate: int = field(default_factory=lambda: env("CHAT_RATE", 2, int))
    secs: float = field(default_factory=lambda: env("COST_SECS", 5.0))
    hs_secs: float = field(default_factory=lambda: env("HS_SECS", 4.0))
    hs_threads: int = field(default_factory=lambda: env("HS_THREADS", 2, int))
    hs_modes: list = field(default_factory=lambda: os.environ.get(
        "HS_MODES", "full full-x25519 resumed resumed-x25519").split())

    def check(self):
        for name in self.sections:
            if name not in SECTIONS:
                raise HarnessError(f"unknown section {name!r} (known: {', '.join(SECTIONS)})")
        for mode in self.hs_modes:
            if mode not in HS_MODES:
                raise HarnessError(f"unknown handshake mode {mode!r} (known: {', '.join(HS_MODES)})")


def tls_client(cfg):
    return ["--tls", "--tls-ca", os.path.join(cfg.tls_dir, "ca.pem")]


def load_variants(cfg, knobs, kind):
    """The echo or chat section's rows: every gameserver model and the tokio baseline, each
    over TLS and over TCP."""
    tls, tcp = cfg.scenario(f"tls-{kind}"), cfg.scenario(kind)
    dummy = [cfg.dummyclient, "--duration", str(knobs.secs), "--threads", "1", "--json"]
    if kind == "echo":
        load = ["--clients", str(knobs.echo_clients), "--size", "64",
                "--rate", str(int(knobs.echo_rate))]
        unit, rate_field, offered = "messages", "msgs_per_sec", knobs.echo_rate
        names = {"TLS": "tokio_tls_echo", "TCP": "tokio_echo"}
    else:
        load = ["--protocol", "packet", "--scenario", "chat", "--clients",
                str(knobs.chat_clients), "--rooms", str(knobs.chat_rooms), "--size", "60",
                "--chat-rate", str(knobs.chat_rate)]
        unit, rate_field = "deliveries", "deliveries_per_sec"
        offered = knobs.chat_clients * knobs.chat_rate * (knobs.chat_clients // knobs.chat_rooms)
        names = {"TLS": "tokio_chat", "TCP": "tokio_chat"}
    out = []
    for mode, scenario in (("TLS", tls), ("TCP", tcp)):
        reference = (names[mode], mode)
        for label in [f"gameserver-{m}" for m in knobs.models] + [names[mode]]:
            client = dummy + load + (tls_client(cfg) if mode == "TLS" else [])
            plain_label = names["TCP"] if label == names["TLS"] else label
            out.append(Variant(label, mode, cfg.server_cmd(label, scenario), client, unit,
                               rate_field, offered, reference,
                               (plain_label, "TCP") if mode == "TLS" else None))
    return out


def handshake_variants(cfg, knobs):
    """The handshake section's rows: every gameserver model and tokio_tls_echo, per mode."""
    scenario = cfg.scenario("tls-echo")
    client = [os.path.join(BIN_DIR, "tls_handshakes"), "--tls-ca",
              os.path.join(cfg.tls_dir, "ca.pem"), "--threads", str(knobs.hs_threads),
              "--duration", str(knobs.hs_secs)]
    out = []
    for mode in knobs.hs_modes:
        for label in [f"gameserver-{m}" for m in knobs.models] + ["tokio_tls_echo"]:
            out.append(Variant(label, mode, cfg.server_cmd(label, scenario),
                               client + HS_MODES[mode], "handshakes", "rate", 0,
                               ("tokio_tls_echo", mode)))
    return out


def run_rounds(run, section, variants, secs, bound_us):
    """REPEAT rounds, each running every variant once in order (alternated servers)."""
    cfg = run.cfg
    for rep in range(1, cfg.repeat + 1):
        for v in variants:
            safe = f"{section}-{v.label}-{v.mode}-r{rep}"
            rec = run_probe(v.server, v.client, offered=v.offered, rate_field=v.rate_field,
                            unit=v.unit, bound_us=bound_us, secs=secs,
                            server_cpu=cfg.server_cpu, client_cpu=cfg.client_cpu,
                            log_prefix=os.path.join(run.log_dir, safe))
            rec = dict(rec, type="tls", section=section, server=v.label, mode=v.mode,
                       repeat=rep)
            run.write(rec)
            v.records.append(rec)
            print(progress(section, rep, v, rec), flush=True)


def progress(section, rep, v, rec):
    verdict = "ok" if rec["passed"] else "FAIL (" + "; ".join(rec["reasons"]) + ")"
    load = rec.get("server_load_cpu_us_per_unit")
    return (f"  {section} r{rep} {v.label:<18} {v.mode:<15} {fmt(rec['achieved'], ',.0f')} "
            f"{v.unit}/s, p99 {fmt(rec['p99_us'], ',')} us, server cpu "
            f"{fmt(rec['server_cpu_us_per_unit'], '.3f')} us/{singular(v.unit)}"
            f"{'' if load is None else f' ({load:.3f} after connecting)'}, "
            f"other load on server cpu {rec['other_load_on_server_cpu']:.0%}  {verdict}")


def singular(unit):
    return {"messages": "message", "deliveries": "delivery", "handshakes": "handshake"}[unit]


def values(v, key):
    return [r.get(key) for r in v.records]


def med_range(vals, spec):
    m, lo, hi = spread(vals)
    return f"{fmt(m, spec)} [{fmt(lo, spec)}–{fmt(hi, spec)}]" if m is not None else "n/a"


def ratio_cell(v, other, key):
    """Median [min–max] of the per-round ratios of `key` between `v` and `other`."""
    if other is None or other is v:
        return "1.00" if other is v else "—"
    return med_range(round_ratios(values(v, key), values(other, key)), ".2f")


def notes(v):
    """Runs that failed (with the first reason) and other load on the server's CPU."""
    out = []
    failed = [r for r in v.records if not r["passed"]]
    if failed:
        out.append(f"{len(failed)} runs failed ({'; '.join(failed[0]['reasons'])})")
    noisy = max((r["other_load_on_server_cpu"] for r in v.records), default=0)
    if noisy > 0.05:
        out.append(f"other load on server cpu up to {noisy:.0%}")
    return "; ".join(out)


def load_table(title, variants, key):
    """The echo or chat section as markdown."""
    by_key = {v.key: v for v in variants}
    unit = singular(variants[0].unit)
    rate = "msgs/s" if unit == "message" else "deliveries/s"
    lines = [f"### {title}", "",
             f"| server | transport | {rate} | p99 µs | server CPU µs/{unit} after connecting "
             f"| whole run | vs tokio, same transport | TLS ÷ TCP, same server | "
             f"CPU while connecting, µs/client | notes |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for v in variants:
        clients = [r["client"].get("clients") if r.get("client") else None for r in v.records]
        per_client = [c / n if c is not None and n else None
                      for c, n in zip(values(v, "server_connect_cpu_us"), clients)]
        lines.append(
            f"| {v.label} | {v.mode} | {med_range(values(v, 'achieved'), ',.0f')} "
            f"| {med_range(values(v, 'p99_us'), ',.0f')} "
            f"| {med_range(values(v, key), '.3f')} "
            f"| {med_range(values(v, 'server_cpu_us_per_unit'), '.3f')} "
            f"| {ratio_cell(v, by_key.get(v.reference), key)} "
            f"| {ratio_cell(v, by_key.get(v.plain), key) if v.plain else '—'} "
            f"| {med_range(per_client, ',.0f')} | {notes(v)} |")
    return "\n".join(lines)


def handshake_table(title, variants):
    by_key = {v.key: v for v in variants}
    lines = [f"### {title}", "",
             "| server | mode | key exchange | handshakes/s achieved | resumed | p99 µs "
             "| server CPU µs/handshake | = handshakes/s on one core | server core busy "
             "| CPU vs tokio_tls_echo | notes |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in variants:
        cost = values(v, "server_cpu_us_per_unit")
        m = spread(cost)[0]
        resumed = [r["client"]["resumed"] / r["client"]["handshakes"]
                   if r.get("client") and r["client"].get("handshakes") else None
                   for r in v.records]
        group = next((r["client"].get("kx_group") for r in v.records if r.get("client")), "?")
        lines.append(
            f"| {v.label} | {v.mode} | {group} | {med_range(values(v, 'achieved'), ',.0f')} "
            f"| {fmt(spread(resumed)[0], '.0%')} "
            f"| {med_range(values(v, 'p99_us'), ',.0f')} "
            f"| {med_range(cost, ',.0f')} | {fmt(1e6 / m if m else None, ',.0f')} "
            f"| {med_range([s * 100 for s in values(v, 'server_cpu_share')], '.0f')}% "
            f"| {ratio_cell(v, by_key.get(v.reference), 'server_cpu_us_per_unit')} "
            f"| {notes(v)} |")
    return "\n".join(lines)


def capacity_table(title, scenario, rows):
    lines = [f"### {title}", "", f"`{scenario.describe()}`", "",
             "| server | capacity msgs/s median [min–max] | vs tokio_tls_echo [spread] "
             "| client CPU at capacity | cost µs/msg at half the reference's capacity "
             "| cost vs tokio_tls_echo [spread] | end of searches |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        share = r["client_cpu_share_at_capacity_median"]
        lines.append(
            f"| {r['server']} "
            f"| {fmt(r['capacity_median'], ',.0f')} [{fmt(r['capacity_min'], ',.0f')}–"
            f"{fmt(r['capacity_max'], ',.0f')}] "
            f"| {fmt(r['capacity_ratio'], '.2f')} [{fmt(r['capacity_ratio_min'], '.2f')}–"
            f"{fmt(r['capacity_ratio_max'], '.2f')}] "
            f"| {fmt(share * 100 if share is not None else None, '.0f')}% "
            f"| {fmt(r['cost_us_per_unit_median'], '.3f')} [{fmt(r['cost_us_per_unit_min'], '.3f')}–"
            f"{fmt(r['cost_us_per_unit_max'], '.3f')}] at {fmt(r['cost_rate'], ',.0f')} "
            f"| {fmt(r['cost_ratio'], '.2f')} [{fmt(r['cost_ratio_min'], '.2f')}–"
            f"{fmt(r['cost_ratio_max'], '.2f')}] | {', '.join(sorted(set(r['end_reasons'])))} |")
    return "\n".join(lines)


def main():
    cfg = Config()
    knobs = Knobs()
    knobs.check()
    cfg.servers = [f"gameserver-{m}" for m in knobs.models] + ["tokio_tls_echo"]
    tls_echo = cfg.scenario("tls-echo")
    prepare(cfg, [tls_echo, cfg.scenario("tls-chat")])
    for name in ("tls_handshakes", "tokio_echo", "tokio_chat"):
        if not os.access(os.path.join(BIN_DIR, name), os.X_OK):
            raise HarnessError(f"{os.path.join(BIN_DIR, name)} not found")
    run = Run(cfg, "tls")
    run.write({"type": "start", "commit": commit(),
               "loadavg": os.getloadavg(), "knobs": vars(knobs), "repeat": cfg.repeat,
               "time": time.time()})
    print(f"tls run {run.id}: {' '.join(knobs.sections)}, repeat {cfg.repeat}, server on CPU "
          f"{cfg.server_cpu}, client on CPU {cfg.client_cpu}; results {run.path}", flush=True)
    tables = []
    if "echo" in knobs.sections:
        variants = load_variants(cfg, knobs, "echo")
        run_rounds(run, "echo", variants, knobs.secs, tls_echo.bound_us)
        tables.append(load_table(
            f"Echo: {knobs.echo_clients} clients × 64 B, open loop at "
            f"{knobs.echo_rate:,.0f} msgs/s", variants, "server_load_cpu_us_per_unit"))
    if "chat" in knobs.sections:
        variants = load_variants(cfg, knobs, "chat")
        run_rounds(run, "chat", variants, knobs.secs, NO_BOUND_US)
        tables.append(load_table(
            f"Chat: {knobs.chat_clients} clients in {knobs.chat_rooms} rooms, "
            f"{knobs.chat_rate:g} chats/s each (60 B)", variants, "server_load_cpu_us_per_unit"))
    if "capacity" in knobs.sections:
        rows = run.scenario(tls_echo)
        tables.append(capacity_table("Capacity of TLS echo at p99 ≤ "
                                     f"{tls_echo.bound_us / 1000:g} ms", tls_echo, rows))
    if "handshakes" in knobs.sections:
        variants = handshake_variants(cfg, knobs)
        run_rounds(run, "handshakes", variants, knobs.hs_secs, NO_BOUND_US)
        tables.append(handshake_table(
            f"Handshakes: tls_handshakes --threads {knobs.hs_threads}, "
            f"{knobs.hs_secs:g} s per run (connect, TLS 1.3 handshake, 32 B echo, close)",
            variants))
    text = "\n\n".join(tables)
    run.write({"type": "end", "loadavg": os.getloadavg(), "time": time.time()})
    with open(os.path.join(os.path.dirname(run.path), f"{run.id}-tls.md"), "w") as f:
        f.write(text + "\n")
    print()
    print(text)
    print(f"\nresults: {run.path}\nlogs: {run.log_dir}")


def terminated(_signum, _frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, terminated)
    try:
        main()
    except HarnessError as e:
        print(f"tls.py: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("tls.py: interrupted", file=sys.stderr)
        sys.exit(130)
