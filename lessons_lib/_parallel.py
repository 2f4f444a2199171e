"""Running independent pieces of work on several CPU cores: how many cores, worker threads, BLAS threads.

The machinery behind :func:`lessons_lib.chunked_attention`'s ``num_threads``; none of it is attention.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

__all__ = ["cpu_count", "cgroup_cpu_quota", "blas_single_threaded", "run_in_threads", "LockedIterator", "WorkspacePool"]

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


class _BlasOneThread:
    """Process-wide owner of "BLAS uses one thread": the first caller in saves the thread count and sets 1,
    the last caller out restores it; a lock and a count make overlapping calls from many threads safe.

    (Each call using its own threadpoolctl limit would not be: two overlapping sections each save the
    other's 1 and restore it last, leaving BLAS at one thread for the rest of the process.)
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._saved = []  # (library controller, its thread count before the first user came in)
        self._libraries = None

    def __enter__(self):
        with self._lock:
            if self._users == 0:
                for lib in self._blas_libraries():
                    self._saved.append((lib, lib.num_threads))
                    lib.set_num_threads(1)
            self._users += 1
        return self

    def __exit__(self, *exc_info):
        with self._lock:
            self._users -= 1
            if self._users == 0:
                for lib, num_threads in self._saved:
                    lib.set_num_threads(num_threads)
                self._saved.clear()
        return False

    def _blas_libraries(self):
        if self._libraries is None:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:  # optional: without it, workers and BLAS threads share the cores
                self._libraries = []
            else:
                self._libraries = list(ThreadpoolController().select(user_api="blas").lib_controllers)
        return self._libraries


_BLAS_ONE_THREAD = _BlasOneThread()


def blas_single_threaded():
    """Context: BLAS uses one thread while our own worker threads split the work (so they don't fight).

    Safe when several threads enter it at once: BLAS gets its thread count back when the last one leaves.
    """
    return _BLAS_ONE_THREAD


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


_pool = None
_pool_size = 0
_pool_lock = threading.Lock()


def _helper_pool(helpers):
    """A thread pool kept between calls (starting threads on every call costs more than a small input's work)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < helpers:
            _pool_size = max(helpers, cpu_count() - 1)
            _pool = ThreadPoolExecutor(max_workers=_pool_size, thread_name_prefix="lessons_lib")
        return _pool


def run_in_threads(work, tasks, workspaces):
    """Run ``work(task_iterator, workspace)`` once per workspace, concurrently, all sharing ``tasks``.

    The calling thread takes the first workspace; helper threads (kept between calls) take the others.
    Each task is handed to exactly one worker, in the order given; BLAS is single-threaded meanwhile.
    The first exception a worker raises is raised here, after every worker has stopped.
    """
    shared = LockedIterator(tasks)
    with blas_single_threaded():
        pool = _helper_pool(len(workspaces) - 1) if len(workspaces) > 1 else None
        futures = [pool.submit(work, shared, workspace) for workspace in workspaces[1:]]
        try:
            work(shared, workspaces[0])
        finally:
            errors = [f.exception() for f in futures]  # waits for every helper
        for error in errors:
            if error is not None:
                raise error


_POOLS = weakref.WeakSet()
"""Every WorkspacePool, so that a memory measurement can start from none kept (:func:`clear_pools`)."""


def clear_pools():
    """Drop every kept workspace: the next call allocates its scratch afresh, as a first call does.

    Which workspaces are kept depends on the order in which worker threads finished earlier calls, so a
    memory measurement that must be the same on every run starts from here.
    """
    for pool in list(_POOLS):
        pool.clear()


class WorkspacePool:
    """Scratch workspaces kept between calls: fresh scratch memory costs the operating system a page fault
    per 4 KiB on first touch, which is more than a small call's whole work.

    ``borrow(key, count, make)`` hands out ``count`` workspaces made by ``make()`` for that ``key`` (the
    shapes and dtype they are for), reusing kept ones; they come back when the block ends. At most
    ``max_kept`` workspaces of at most ``max_bytes`` each are kept, the most recently returned first.
    Safe to use from several threads: a workspace is lent to one caller at a time.
    """

    def __init__(self, max_kept, max_bytes):
        self.max_kept, self.max_bytes = max_kept, max_bytes
        self._kept = []  # (key, workspace), oldest first
        self._lock = threading.Lock()
        _POOLS.add(self)

    @contextlib.contextmanager
    def borrow(self, key, count, make):
        with self._lock:
            mine = [ws for k, ws in self._kept if k == key][:count]
            self._kept = [(k, ws) for k, ws in self._kept if not any(ws is m for m in mine)]
        workspaces = mine + [make() for _ in range(count - len(mine))]
        try:
            yield workspaces
        finally:
            with self._lock:
                self._kept += [(key, ws) for ws in workspaces if ws.nbytes <= self.max_bytes]
                del self._kept[: max(0, len(self._kept) - self.max_kept)]

    def clear(self):
        with self._lock:
            self._kept.clear()
