"""Measuring the cost of attention: operation counts, peak memory, timings with their spread, log-log slopes.

Counts and traced memory are deterministic, so a lesson can assert on them; timings are not, so
:func:`time_call` returns the spread along with the median, for reporting rather than asserting.
"""

from __future__ import annotations

import math
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np

from ._checks import check_bool, check_integer, check_positive_int
from .masks import last_visible_key

__all__ = [
    "attention_flops",
    "visible_pairs",
    "weights_bytes",
    "peak_memory",
    "Timing",
    "time_call",
    "loglog_fit",
    "LogLogFit",
    "matmul_gflops",
    "path_lengths",
]


def visible_pairs(n_q, n_k=None, causal=False):
    """Number of (query, key) pairs that get a score: n_q·n_k, or fewer under a causal mask."""
    n_q = check_positive_int("n_q", n_q)
    n_k = n_q if n_k is None else check_positive_int("n_k", n_k)
    causal = check_bool("causal", causal)
    if not causal:
        return n_q * n_k
    keys_seen = np.clip(last_visible_key(np.arange(n_q), n_q, n_k) + 1, 0, n_k)  # per query
    return int(keys_seen.sum())


def attention_flops(n_q, n_k=None, d_k=64, d_v=None, causal=False):
    """Floating-point operations of attention's two matrix products (a multiply-add counts as 2).

    Scores ``q kᵀ``: 2·d_k per visible (query, key) pair; weighted sum ``weights @ v``: 2·d_v per pair.
    With n_q = n_k = n and d_v = d_k = d that is 4·n²·d. The softmax (one exp per pair) is not counted.
    """
    d_k = check_positive_int("d_k", d_k)
    d_v = d_k if d_v is None else check_positive_int("d_v", d_v)
    return 2 * (d_k + d_v) * visible_pairs(n_q, n_k, causal)


def weights_bytes(n_q, n_k=None, dtype=np.float32, heads=1):
    """Bytes to hold the attention weights: n_q·n_k numbers per head."""
    n_q = check_positive_int("n_q", n_q)
    n_k = n_q if n_k is None else check_positive_int("n_k", n_k)
    heads = check_positive_int("heads", heads)
    return n_q * n_k * heads * np.dtype(dtype).itemsize


def peak_memory(fn, *args, **kwargs):
    """Run ``fn(*args, **kwargs)``; return ``(result, peak_bytes)``, the most memory it held at once.

    Measured with ``tracemalloc``, which sees every numpy array allocation (from every thread) and
    nothing else the process already held, so the number is the call's own working memory and is
    the same on every run. The result itself counts while it is being built.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = fn(*args, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return result, max(0, peak - before)


@dataclass(frozen=True)
class Timing:
    """Seconds per call over several runs: the median and the spread (quartiles, min, max)."""

    times: tuple
    number: int

    @property
    def median(self):
        return float(np.median(self.times))

    @property
    def q25(self):
        return float(np.percentile(self.times, 25))

    @property
    def q75(self):
        return float(np.percentile(self.times, 75))

    @property
    def min(self):
        return float(np.min(self.times))

    @property
    def max(self):
        return float(np.max(self.times))

    @property
    def relative_spread(self):
        """Interquartile range divided by the median: 0.1 means the middle half of runs lie within ±5%."""
        return (self.q75 - self.q25) / self.median if self.median > 0 else 0.0

    def __str__(self):
        unit, factor = _time_unit(self.median)
        return (
            f"{self.median * factor:.3g} {unit} (middle half {self.q25 * factor:.3g}–{self.q75 * factor:.3g} {unit}, "
            f"{len(self.times)} runs)"
        )


def _time_unit(seconds):
    for unit, factor in (("s", 1.0), ("ms", 1e3), ("µs", 1e6)):
        if seconds * factor >= 1:
            return unit, factor
    return "ns", 1e9


def time_call(fn, *args, repeat=5, number=None, warmup=1, min_run_time=0.01, **kwargs):
    """Time ``fn(*args, **kwargs)``: ``repeat`` runs of ``number`` calls each, after ``warmup`` calls.

    ``number=None`` picks the number of calls per run so that one run lasts at least ``min_run_time``
    seconds (short calls are timed in a loop, as ``timeit`` does). Returns a :class:`Timing` of seconds
    per call. Timings vary from run to run; report the spread, never assert on them.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    repeat = check_positive_int("repeat", repeat)
    warmup = check_integer("warmup", warmup, minimum=0)
    for _ in range(warmup):
        fn(*args, **kwargs)
    if number is None:
        number = 1
        while True:
            start = time.perf_counter()
            for _ in range(number):
                fn(*args, **kwargs)
            if time.perf_counter() - start >= min_run_time or number >= 1 << 20:
                break
            number *= 2
    number = check_positive_int("number", number)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn(*args, **kwargs)
        times.append((time.perf_counter() - start) / number)
    return Timing(times=tuple(times), number=number)


@dataclass(frozen=True)
class LogLogFit:
    """``y ≈ coefficient · x ** slope``, fitted as a straight line through (log x, log y)."""

    slope: float
    coefficient: float

    def __call__(self, x):
        return self.coefficient * np.asarray(x, dtype=float) ** self.slope


def loglog_fit(x, y):
    """Least-squares fit of log y = slope · log x + log coefficient; the slope is the growth exponent."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D and the same length, got shapes {x.shape} and {y.shape}")
    if x.size < 2:
        raise ValueError(f"need at least 2 points to fit a slope, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(x > 0) and np.all(y > 0)):
        raise ValueError("x and y must be finite and positive to take logarithms")
    if np.ptp(np.log(x)) == 0:
        raise ValueError(f"x must take at least two different values, got {x.tolist()}")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return LogLogFit(slope=float(slope), coefficient=float(math.exp(intercept)))


def matmul_gflops(n=1024, dtype=np.float32, repeat=5, seed=0):
    """Measured throughput of an (n × n) @ (n × n) matrix product in GFLOP/s: ``(Timing, gflops)``.

    The best of ``repeat`` runs is the machine's attainable matrix-multiply speed; attention code can be
    compared against it. Timing-based: report it, never assert on it.
    """
    n = check_positive_int("n", n)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype=dtype)
    timing = time_call(np.matmul, a, b, out=out, repeat=repeat)
    return timing, 2 * n**3 / timing.min / 1e9


def path_lengths(n, architecture):
    """Fewest sequential steps from each position's state to the last position's: an ``(n,)`` int array.

    ``"rnn"``: position i reads only position i − 1's state, so position 0 is n − 1 steps from the last.
    ``"attention"``: position i reads every position j ≤ i in one step. Found by breadth-first search
    over the "reads from" graph, so the numbers are computed rather than written down.
    """
    n = check_positive_int("n", n)
    if architecture not in ("rnn", "attention"):
        raise ValueError(f"architecture must be 'rnn' or 'attention', got {architecture!r}")
    reads = np.zeros((n, n), dtype=bool)  # reads[i, j]: one step carries position j's state to position i
    if architecture == "rnn":
        reads[np.arange(1, n), np.arange(n - 1)] = True
    else:
        reads[np.tril_indices(n, k=-1)] = True
    distance = np.full(n, -1)
    distance[n - 1] = 0
    frontier = np.zeros(n, dtype=bool)
    frontier[n - 1] = True
    steps = 0
    while frontier.any():
        steps += 1
        reached = reads[frontier].any(axis=0) & (distance < 0)
        distance[reached] = steps
        frontier = reached
    return distance
