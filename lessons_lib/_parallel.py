"""Running independent pieces of work on several CPU cores: how many cores, worker threads, BLAS threads.

The machinery behind :func:`lessons_lib.chunked_attention`'s ``num_threads``; none of it is attention.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["cpu_count", "cgroup_cpu_quota", "blas_single_threaded", "run_in_threads", "LockedIterator"]

CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"
"""cgroup v2 CPU limit of this process's container: "<quota> <period>" in µs, or "max <period>" for none."""


def cpu_count():
    """CPU cores this process may use: its CPU affinity, capped by a cgroup CPU quota when there is one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cores = min(cores, quota)
    return max(1, cores)


def cgroup_cpu_quota():
    """ceil(quota / period) from the cgroup v2 ``cpu.max`` file, or None: no file, no quota ("max"), or unreadable."""
    try:
        with open(CGROUP_CPU_MAX, encoding="ascii") as f:
            fields = f.read().split()
        if len(fields) != 2 or fields[0] == "max":
            return None
        quota, period = int(fields[0]), int(fields[1])
        if quota <= 0 or period <= 0:
            return None
        return max(1, math.ceil(quota / period))
    except Exception:  # any surprise (missing file, permissions, odd contents): no cap rather than a failure
        return None


_controller = None


def blas_single_threaded():
    """Context: BLAS uses one thread while our own worker threads split the work (so they don't fight)."""
    global _controller
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: without it, workers and BLAS threads share the cores
        return contextlib.nullcontext()
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


class LockedIterator:
    """Hands out tasks to several worker threads, each task once."""

    def __init__(self, items):
        self._items = iter(items)
        self._lock = threading.Lock()

    def __iter__(self):
        return self

    def __next__(self):
        with self._lock:
            return next(self._items)


def run_in_threads(work, tasks, workspaces):
    """Run ``work(task_iterator, workspace)`` in one worker thread per workspace, all sharing ``tasks``.

    Each task is handed to exactly one worker, in the order given; BLAS is single-threaded meanwhile.
    The first exception a worker raises is raised here.
    """
    shared = LockedIterator(tasks)
    with blas_single_threaded(), ThreadPoolExecutor(max_workers=len(workspaces)) as pool:
        for future in [pool.submit(work, shared, workspace) for workspace in workspaces]:
            future.result()
