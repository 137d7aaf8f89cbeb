"""What the bench scripts read from /proc and need from the network stack, written once
(imported by bench/idle_rss.py, bench/uring_memory.py and bench/capacity.py)."""

import os
import socket


def status_kib(pid, field):
    """A `/proc/PID/status` field in KiB (e.g. "VmRSS")."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def tcp_kernel_mb():
    """Memory the kernel holds in TCP socket buffers, machine-wide (/proc/net/sockstat `mem`,
    in pages), in MB: where a readiness server's unread input waits."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                words = line.split()
                return int(words[words.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    raise RuntimeError("no TCP line in /proc/net/sockstat")


def fds(pid):
    """Open descriptors of the process."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def free_port():
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Clock ticks per second: the unit of the CPU times in /proc/PID/stat and /proc/stat.
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks_split(pid):
    """(user, system) CPU time of the process (all threads) in clock ticks; None if it is gone
    or a zombie. System time is where an echo's kernel work (TCP, wake-ups) lands."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # Fields after "(comm) ": state is index 0, utime index 11, stime index 12.
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[11]), int(fields[12])


def cpu_busy_ticks(cpu):
    """Busy time (everything but idle and iowait) of CPU `cpu` in clock ticks, from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                # cpuN user nice system idle iowait irq softirq steal ...
                f = [int(x) for x in line.split()[1:]]
                return f[0] + f[1] + f[2] + f[5] + f[6] + f[7]
    raise RuntimeError(f"no cpu{cpu} in /proc/stat")


def cpu_ns(pid):
    """CPU time of the process's live threads in nanoseconds (the first field of
    /proc/PID/task/*/schedstat: time on a CPU, user and system), finer than the 10 ms ticks of
    /proc/PID/stat; None if the process is gone. A thread that exited is not counted (the
    servers measured keep theirs)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # the thread exited between the listing and the read
    return total
