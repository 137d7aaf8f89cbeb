"""What the bench scripts read from /proc and need from the network stack, written once
(imported by bench/idle_rss.py and bench/uring_memory.py)."""

import os
import socket


def status_kib(pid, field):
    """A `/proc/PID/status` field in KiB (e.g. "VmRSS")."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def fds(pid):
    """Open descriptors of the process."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def free_port():
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
