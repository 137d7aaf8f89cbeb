"""One probe of bench/capacity.py: a fresh server, one dummyclient run at one offered rate, the
server stopped; the server's and the client's CPU around it, and the verdict (pass, or why not).

A probe passes when the client exits 0 with a report that has no errors, connect failures, lost
messages or late sends, a p99 within the bound, and an achieved rate of at least 98% of the
offered one (`verdict`). A server that dies or hangs during a probe fails the probe (that is
data); a server that does not start at all, or a missing binary, is a `HarnessError`.

The server's CPU is also sampled every SAMPLE_SECS during the client's run (`CpuSampler`), so
that the part spent while the client connected (its report's `connect_secs`: TCP, and with TLS
the handshakes) is told apart from the part spent on the load itself.
"""

import json
import os
import signal
import socket
import subprocess
import threading
import time

from procfs import CLK_TCK, cpu_busy_ticks, cpu_ns, cpu_ticks_split, free_port

# Share of the offered rate a probe must achieve.
ACHIEVED_SHARE = 0.98
# Seconds the client may take beyond its sending window (connecting, joining rooms, draining).
CLIENT_GRACE_SECS = 90
# Seconds a stopped server gets between SIGTERM and SIGKILL.
STOP_GRACE_SECS = 2
# Seconds a started server gets to accept a connection.
START_SECS = 10
# Seconds between two samples of the server's CPU time during a probe.
SAMPLE_SECS = 0.02


class HarnessError(Exception):
    """The harness itself cannot go on (a binary is missing, a server would not start)."""


def verdict(client_exit, report, rate_field, offered, bound_us):
    """Why a probe failed: a list of reasons, empty when it passed."""
    reasons = [] if client_exit == 0 else [f"exit {client_exit}"]
    if report is None:
        return reasons + ["no report"]
    for key in ("errors", "connect_failures", "lost", "late_sends"):
        if report.get(key, 0):
            reasons.append(f"{key} {report[key]}")
    p99 = report.get("p99_us")
    if p99 is None or p99 > bound_us:
        reasons.append(f"p99 {p99} us > {bound_us}")
    achieved = report.get(rate_field) or 0
    if achieved < ACHIEVED_SHARE * offered:
        reasons.append(f"rate {achieved:,.0f} < {ACHIEVED_SHARE:.0%} of {offered:,.0f}")
    return reasons


def start_server(cmd, server_cpu, log_path, threads=1):
    """Starts `cmd` (with --bind, --port and --threads added) pinned to `server_cpu`; returns
    (process, port) once it accepts a connection."""
    if not os.access(cmd[0], os.X_OK):
        raise HarnessError(f"server binary {cmd[0]} not found")
    port = free_port()
    full = ["taskset", "-c", str(server_cpu), *cmd,
            "--bind", "127.0.0.1", "--port", str(port), "--threads", str(threads)]
    with open(log_path, "ab") as log:
        log.write((" ".join(full) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(full, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + START_SECS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HarnessError(f"{cmd[0]} exited during start-up (see {log_path})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    stop_server(proc)
    raise HarnessError(f"{cmd[0]} did not accept on port {port} within {START_SECS} s "
                       f"(see {log_path})")


def stop_server(proc):
    """SIGTERM, then SIGKILL after STOP_GRACE_SECS; returns True if it had to be killed."""
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_GRACE_SECS)
        return False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return True


class CpuSampler:
    """The CPU time of process `pid` (`procfs.cpu_ns`) sampled every SAMPLE_SECS on a thread,
    from `start()` to `stop()`; `at(t)` is the CPU time at monotonic time `t`, interpolated."""

    def __init__(self, pid):
        self.pid = pid
        self.samples = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        ns = cpu_ns(self.pid)
        if ns is not None:
            self.samples.append((time.monotonic(), ns))

    def _run(self):
        while not self._done.wait(SAMPLE_SECS):
            self._sample()

    def start(self):
        self._sample()
        self._thread.start()

    def stop(self):
        self._done.set()
        self._thread.join()
        self._sample()

    def at(self, t):
        """CPU ns at time `t` (clamped to the sampled span); None without two samples."""
        if len(self.samples) < 2:
            return None
        for (t0, c0), (t1, c1) in zip(self.samples, self.samples[1:]):
            if t <= t1:
                return c0 if t <= t0 else c0 + (c1 - c0) * (t - t0) / (t1 - t0)
        return self.samples[-1][1]


def phase_split(sampler, client_started, report, units):
    """(server CPU µs while the client connected, server CPU µs per unit after that): the first
    phase ends `connect_secs` (from the client's report) after the client started; None where
    unknown."""
    connect_secs = (report or {}).get("connect_secs")
    if connect_secs is None or len(sampler.samples) < 2:
        return None, None
    first, last = sampler.samples[0][1], sampler.samples[-1][1]
    ready = sampler.at(client_started + connect_secs)
    return (ready - first) / 1e3, ((last - ready) / 1e3 / units if units else None)


def run_client(cmd, client_cpu, secs, out_path, err_path):
    """Runs the client pinned to `client_cpu`; returns (exit status, CPU seconds, wall seconds,
    the last JSON line of its output or None, its start as monotonic time). Killed after
    secs + CLIENT_GRACE_SECS."""
    t0 = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(["taskset", "-c", str(client_cpu), *cmd], stdout=out,
                                stderr=err, stdin=subprocess.DEVNULL)
    deadline = t0 + secs + CLIENT_GRACE_SECS
    killed = False
    try:
        while True:
            # taskset execs the client: the child's rusage is the client's (all its threads).
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if not killed and time.monotonic() > deadline:
                proc.kill()
                killed = True
            time.sleep(0.02)
    except BaseException:
        # Interrupted: the client goes with the harness.
        proc.kill()
        try:
            os.waitpid(proc.pid, 0)
        except ChildProcessError:
            pass  # already reaped
        proc.returncode = -signal.SIGKILL
        raise
    wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    report = None
    with open(out_path, "rb") as out:
        for line in out.read().decode(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    report = json.loads(line)
                except ValueError:
                    pass
    rc = "timeout" if killed else proc.returncode
    return rc, usage.ru_utime + usage.ru_stime, wall, report, t0


def run_probe(server_cmd, client_cmd, *, offered, rate_field, unit, bound_us, secs,
              server_cpu, client_cpu, log_prefix, server_threads=1):
    """One probe: the probe's record (a dict); see the module docs. `client_cmd` gets --addr
    prepended; it must already carry the rate, --duration, --threads 1 and --json. The server
    runs `server_threads` event loops (all pinned to `server_cpu`)."""
    server, port = start_server(server_cmd, server_cpu, log_prefix + ".server.log",
                                server_threads)
    before = cpu_ticks_split(server.pid)
    busy_before = cpu_busy_ticks(server_cpu)
    sampler = CpuSampler(server.pid)
    sampler.start()
    try:
        rc, client_cpu_secs, wall, report, client_started = run_client(
            [client_cmd[0], "--addr", f"127.0.0.1:{port}", *client_cmd[1:]], client_cpu, secs,
            log_prefix + ".client.out", log_prefix + ".client.err")
        after = cpu_ticks_split(server.pid)
        busy_after = cpu_busy_ticks(server_cpu)
    finally:
        sampler.stop()
        killed = stop_server(server)
    died = after is None
    reasons = verdict(rc, report, rate_field, offered, bound_us)
    if died:
        reasons.insert(0, "server died")
        after = before
    user_us, system_us = ((a - b) * 1e6 / CLK_TCK for a, b in zip(after, before))
    ticks = sum(after) - sum(before)
    server_cpu_us = user_us + system_us
    units = (report or {}).get(unit) or 0
    connect_cpu_us, load_cpu_us_per_unit = phase_split(sampler, client_started, report, units)
    return {
        "offered": offered,
        "passed": not reasons,
        "reasons": reasons,
        "p99_us": (report or {}).get("p99_us"),
        "achieved": (report or {}).get(rate_field),
        "client_exit": rc,
        "server_died": died,
        "server_killed": killed,
        "wall_secs": wall,
        "server_cpu_us": server_cpu_us,
        # Shares of the client run's wall time: ~1.0 means saturated.
        "server_cpu_share": server_cpu_us / 1e6 / wall,
        "client_cpu_secs": client_cpu_secs,
        "client_cpu_share": client_cpu_secs / wall,
        # Busy time of the server's CPU not spent in the server (other processes, kernel
        # threads such as io_uring's workers), as a share of the wall time.
        "other_load_on_server_cpu": max(0, busy_after - busy_before - ticks) / CLK_TCK / wall,
        "units": units,
        "server_cpu_us_per_unit": server_cpu_us / units if units else None,
        # The same, apart: user time is the server's own code, system time the kernel's work.
        "server_user_us_per_unit": user_us / units if units else None,
        "server_system_us_per_unit": system_us / units if units else None,
        # The same split in time instead: the server's CPU while the client connected (with
        # TLS: the handshakes), and per unit once every client was ready (the load alone).
        "connect_secs": (report or {}).get("connect_secs"),
        "server_connect_cpu_us": connect_cpu_us,
        "server_load_cpu_us_per_unit": load_cpu_us_per_unit,
        "client_cmd": " ".join(client_cmd[1:]),
        "server_cmd": " ".join(server_cmd),
        "client": report,
    }
