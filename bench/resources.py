"""Memory and CPU of processes, from /proc (Linux): resident set size and CPU seconds (user + system)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_seconds(pid: int) -> float:
    """CPU seconds a process used so far, user and system (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


@dataclass
class Usage:
    """What some processes used while a `with usage_of(…)` block ran."""

    cpu_seconds: float = 0.0
    cpu_seconds_by_pid: dict[int, float] = field(default_factory=dict)
    #: How long the block ran, and the CPU seconds of this process (the load generator) meanwhile.
    seconds: float = 0.0
    own_cpu_seconds: float = 0.0
    peak_rss_mib: float = 0.0
    peak_rss_by_pid: dict[int, float] = field(default_factory=dict)


@contextmanager
def usage_of(pids: Iterable[int], interval: float = 0.5) -> Iterator[Usage]:
    """CPU seconds used by `pids` during the block, and their peak resident memory (sampled)."""
    chosen = list(pids)
    usage = Usage()
    before = {pid: cpu_seconds(pid) for pid in chosen}
    started, own_before = time.monotonic(), time.process_time()
    stop = threading.Event()

    def sample() -> None:
        while True:
            for pid in chosen:
                usage.peak_rss_by_pid[pid] = max(usage.peak_rss_by_pid.get(pid, 0.0), rss_mib(pid))
            usage.peak_rss_mib = sum(usage.peak_rss_by_pid.values())
            if stop.wait(interval):  # the sampling period, until the block ends
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield usage
    finally:
        stop.set()
        sampler.join()
        usage.cpu_seconds_by_pid = {pid: max(cpu_seconds(pid) - before[pid], 0.0) for pid in chosen}
        usage.cpu_seconds = sum(usage.cpu_seconds_by_pid.values())
        usage.seconds = time.monotonic() - started
        usage.own_cpu_seconds = time.process_time() - own_before
