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
from ._parallel import clear_pools
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
    the same on every run. The result itself counts while it is being built. Scratch buffers that the
    library keeps between calls are dropped first, so every call is measured as a first call.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    clear_pools()
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


# ---------------------------------------------------------------- a whole model, recurrence and memory
# (chapter 6: the work of a whole transformer, what runs in parallel, and what each architecture keeps)

__all__ += [
    "ModelFlops",
    "transformer_flops",
    "sequential_steps",
    "context_memory",
    "Scaling",
    "measure_scaling",
    "slope_range",
    "ratio_range",
    "compare",
]


@dataclass(frozen=True)
class ModelFlops:
    """Matrix-multiply FLOPs of a transformer, split into the linear layers and the attention core."""

    linear: int  # the projections W_Q, W_K, W_V, W_O and the feed-forward network: grows as n
    attention_core: int  # scores q kᵀ and weights @ v in every head: grows as n²

    @property
    def total(self):
        return self.linear + self.attention_core

    @property
    def attention_share(self):
        """The attention core's share of the total work."""
        return self.attention_core / self.total


def transformer_flops(n, d_model=768, num_heads=12, d_ff=None, num_layers=1, causal=False):
    """FLOPs of ``num_layers`` transformer layers over ``n`` tokens (a multiply-add counts as 2).

    Per layer: the four projections cost 2·n·d_model² each (8·n·d²), the feed-forward network's two
    products 2·n·d_model·d_ff each (16·n·d² when d_ff = 4·d_model, the default), so the linear layers
    cost about 24·n·d²; the attention core is :func:`attention_flops` in each of the ``num_heads`` heads
    (4·n²·d_model in all). Embeddings, norms, the softmax and the output vocabulary are not counted.
    """
    n = check_positive_int("n", n)
    d_model = check_positive_int("d_model", d_model)
    num_heads = check_positive_int("num_heads", num_heads)
    d_ff = 4 * d_model if d_ff is None else check_positive_int("d_ff", d_ff)
    num_layers = check_positive_int("num_layers", num_layers)
    if d_model % num_heads:
        raise ValueError(f"num_heads ({num_heads}) must divide d_model ({d_model})")
    projections = 4 * 2 * n * d_model * d_model
    feed_forward = 2 * 2 * n * d_model * d_ff
    core = num_heads * attention_flops(n, d_k=d_model // num_heads, causal=causal)
    return ModelFlops(linear=num_layers * (projections + feed_forward), attention_core=num_layers * core)


def _reads_within_layer(n, architecture):
    """reads[i, j]: computing position i's output in a layer needs position j's output of the *same* layer."""
    if architecture not in ("rnn", "attention"):
        raise ValueError(f"architecture must be 'rnn' or 'attention', got {architecture!r}")
    reads = np.zeros((n, n), dtype=bool)
    if architecture == "rnn":
        reads[np.arange(1, n), np.arange(n - 1)] = True  # h_i = f(h_{i-1}, x_i)
    # attention: every output reads only the layer's *input*, so nothing within the layer
    return reads


def sequential_steps(n, architecture):
    """How many steps one layer must take one after another to process ``n`` tokens.

    The longest chain of outputs that each need the one before (in the same layer): an RNN's state
    h_i needs h_{i−1}, so n steps; an attention layer's outputs need only the layer's input, so 1
    step, however large n is. This is what lets attention use parallel hardware; it is a different
    property from :func:`path_lengths`.
    """
    n = check_positive_int("n", n)
    reads = _reads_within_layer(n, architecture)
    depth = np.ones(n, dtype=int)
    for i in range(n):  # positions are in order: a position reads only earlier ones
        earlier = np.nonzero(reads[i])[0]
        if earlier.size:
            depth[i] = 1 + depth[earlier].max()
    return int(depth.max())


def context_memory(n, d_model, architecture):
    """How many numbers one layer keeps about the first ``n`` tokens to process token n + 1.

    ``"rnn"``: its state vector, ``d_model`` numbers, whatever n is (the whole prefix is squeezed
    into it). ``"attention"``: every key and every value, ``2·n·d_model`` numbers (a KV cache).
    """
    n = check_positive_int("n", n)
    d_model = check_positive_int("d_model", d_model)
    if architecture == "rnn":
        return d_model
    if architecture == "attention":
        return 2 * n * d_model
    raise ValueError(f"architecture must be 'rnn' or 'attention', got {architecture!r}")


# ---------------------------------------------------------------- measuring how cost grows with n


@dataclass(frozen=True)
class Scaling:
    """Time and peak memory of one attention function at several sequence lengths."""

    sizes: tuple  # sequence lengths n
    timings: tuple  # a Timing per size
    peaks: tuple  # peak traced bytes per size (deterministic)
    d: int

    @property
    def median_times(self):
        return np.array([t.median for t in self.timings])

    @property
    def peak_bytes(self):
        return np.array(self.peaks, dtype=float)

    def time_slope(self, first=0, last=-1):
        """The log-log slope of time between two sizes, as ``(low, high)`` from the runs' quartiles."""
        return slope_range(self.timings[first], self.timings[last], self.sizes[first], self.sizes[last])

    def memory_fit(self, first=0):
        """Straight-line log-log fit of peak memory over ``sizes[first:]``."""
        return loglog_fit(self.sizes[first:], self.peaks[first:])

    def time_fit(self, first=0):
        """Straight-line log-log fit of the median times over ``sizes[first:]``."""
        return loglog_fit(self.sizes[first:], self.median_times[first:])


def measure_scaling(fn, sizes, d=64, repeat=5, dtype=np.float32, seed=0, **kwargs):
    """Time ``fn(q, k, v, **kwargs)`` and trace its peak memory for random (n, d) inputs, n in ``sizes``.

    Returns a :class:`Scaling`. The memory is the same on every run; the times are not, so report
    them with their spread (:meth:`Scaling.time_slope`) and never assert on them.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    sizes = tuple(check_positive_int("sizes", n) for n in sizes)
    if not sizes:
        raise ValueError("sizes must hold at least one sequence length")
    d = check_positive_int("d", d)
    rng = np.random.default_rng(seed)
    timings, peaks = [], []
    for n in sizes:
        q, k, v = (rng.standard_normal((n, d)).astype(dtype) for _ in range(3))
        timings.append(time_call(fn, q, k, v, repeat=repeat, **kwargs))
        peaks.append(peak_memory(fn, q, k, v, **kwargs)[1])
    return Scaling(sizes=sizes, timings=tuple(timings), peaks=tuple(peaks), d=d)


def slope_range(first, last, n_first, n_last):
    """``(low, high)``: the log-log slopes between two sizes that the quartiles of their runs allow."""
    if not (isinstance(first, Timing) and isinstance(last, Timing)):
        raise TypeError("first and last must be Timing records from time_call")
    n_first, n_last = check_positive_int("n_first", n_first), check_positive_int("n_last", n_last)
    if n_first == n_last:
        raise ValueError(f"n_first and n_last must differ, got {n_first} twice")
    span = math.log(n_last / n_first)
    low, high = math.log(last.q25 / first.q75) / span, math.log(last.q75 / first.q25) / span
    return (min(low, high), max(low, high))


def ratio_range(numerator, denominator):
    """``(median ratio, low, high)`` of two timings; low and high come from the runs' quartiles."""
    if not (isinstance(numerator, Timing) and isinstance(denominator, Timing)):
        raise TypeError("numerator and denominator must be Timing records from time_call")
    return (numerator.median / denominator.median, numerator.q25 / denominator.q75, numerator.q75 / denominator.q25)


def compare(measured, reference):
    """Where the range ``measured = (low, high)`` lies against ``reference`` (a number or a range).

    ``"below"``, ``"within"`` (they overlap) or ``"above"``: a notebook picks its sentence with it.
    """
    low, high = (float(v) for v in measured)
    ref_low, ref_high = (float(reference),) * 2 if np.isscalar(reference) else (float(v) for v in reference)
    if low > high or ref_low > ref_high:
        raise ValueError(f"ranges must be (low, high), got {measured!r} and {reference!r}")
    return "below" if high < ref_low else "above" if low > ref_high else "within"
