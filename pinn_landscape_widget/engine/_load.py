"""How much of this machine the engine may use now: the CPUs and CPU quota given to this process, less the
cores other work keeps busy.

Why it matters. An op split over n threads is a parallel region that ends when its slowest thread ends. On
a machine shared with other work (a classroom JupyterHub, a laptop doing something else, two notebooks
training at once), a thread that the scheduler takes off its core holds every other thread of the region
at the barrier, and OpenMP's waiting threads spin on cores the other work needs. More threads than idle
cores is then far slower than fewer: on 2 cores with two busy processes beside it, a 2-thread training
run takes about 3x as long as a 1-thread one (benchmarks/bench_load.py).

How it is measured. On Linux, /proc/stat's count of runnable threads (``procs_running``), read a few
times over a few milliseconds while the calling thread waits, less the reader itself: every thread that
wants a CPU then is other work (other processes, and other threads of this process, such as a user's own
torch loop beside the widget's computation). The count is reused for ``REUSE_S``. It is the whole
machine's count, so it only says something about this process's share when the process may use every CPU
of the machine; confined to some of them (a container's cpuset or quota), and off Linux, nothing is
known and nothing is subtracted. The quota of a Linux cgroup (containers, JupyterHub's per-user CPU
limits) caps the cores.
"""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path

SETTLE_S = 0.005  # let this process's own OpenMP threads stop spinning before the count
READS, READ_GAP_S = 12, 0.0004  # ~5 ms of counts: a thread busy half the time counts about half
REUSE_S = 1.0

CGROUP = Path("/sys/fs/cgroup")
_LOCK = threading.Lock()
_LAST: list[float] = [-math.inf, 0.0]  # (time of the sample, busy cores it measured)


def usable_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity; all of them where the OS does not say)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def cpu_quota() -> float | None:
    """The cores' worth of CPU time a Linux cgroup allows this process (cgroup v2 ``cpu.max`` or v1
    ``cpu.cfs_quota_us``), or None when there is no quota or it cannot be read."""
    try:
        fields = (CGROUP / "cpu.max").read_text().split()
        if fields and fields[0] != "max":
            return int(fields[0]) / int(fields[1])
        return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int((CGROUP / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((CGROUP / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def cores() -> int:
    """The cores this process may use: its CPUs, capped by its cgroup's quota (rounded up)."""
    n = len(usable_cpus())
    quota = cpu_quota()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota - 1e-9)))
    return max(1, n)


def _runnable() -> int | None:
    """Threads runnable on the whole machine now (/proc/stat's procs_running, the reader included), or
    None off Linux."""
    try:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"procs_running "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def busy_elsewhere(*, fresh: bool = False) -> float:
    """Cores' worth of other work that wants a CPU now: the mean number of other runnable threads over a
    few milliseconds (0 where it cannot be measured, see the module's docstring). A count younger than
    ``REUSE_S`` is reused unless ``fresh``."""
    with _LOCK:
        now = time.monotonic()
        if not fresh and now - _LAST[0] < REUSE_S:
            return _LAST[1]
        busy = 0.0
        if len(usable_cpus()) >= (os.cpu_count() or 1) and cpu_quota() is None:
            time.sleep(SETTLE_S)
            counts = []
            for i in range(READS):
                if i:
                    time.sleep(READ_GAP_S)
                n = _runnable()
                if n is None:
                    break
                counts.append(n - 1)
            busy = sum(counts) / len(counts) if counts else 0.0
        _LAST[0], _LAST[1] = time.monotonic(), max(0.0, busy)
        return _LAST[1]


def idle_cores() -> int:
    """Cores nobody else is using now (at least 1): ``cores()`` less ``busy_elsewhere()``, rounded to the
    nearest whole core."""
    return max(1, min(cores(), int(cores() - busy_elsewhere() + 0.5)))
