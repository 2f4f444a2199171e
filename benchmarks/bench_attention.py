"""Attention speed and memory: lessons_lib against PyTorch's CPU scaled_dot_product_attention, in one run.

Run: .venv/bin/python benchmarks/bench_attention.py [--quick] [--runs N] [--update-readme]

For each sequence length n (512 … 16,384; d = 64, float32, one head), causal and not, it times
torch.nn.functional.scaled_dot_product_attention, lessons_lib.chunked_attention and the plain
lessons_lib.scaled_dot_product_attention (which also returns the n × n weights). The three are timed in
turn within each round (in a rotating order), so a busy machine slows all of them alike; the table shows the median over the
rounds, each one's time relative to PyTorch's, and the fraction of the machine's float32 matrix-multiply
throughput (measured first) that chunked_attention achieves, counting 4·n²·d flops (half that, causal).
Then it runs chunked_attention at n = 65,536 in a fresh Python process and reports that process's peak
resident memory (the score matrix alone would be 16 GiB).

Targets (issue 6), at n = 4096: chunked within 1.25× of PyTorch's time, the plain function within 2×;
at n = 65,536 the whole process under 512 MB. Needs torch (requirements-reference.txt) for the timings.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import textwrap
import time

# Numpy's OpenBLAS threads otherwise spin for a while after each call, on the cores PyTorch needs next
# (measured: PyTorch 1.5x slower right after a numpy matmul). Set before numpy loads OpenBLAS.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np  # noqa: E402

from lessons_lib import chunked_attention, scaled_dot_product_attention  # noqa: E402
from lessons_lib.cost import attention_flops, matmul_gflops  # noqa: E402
from readme_block import update_readme  # noqa: E402

D = 64
TARGET_N = 4096
CHUNKED_TARGET = 1.25
PLAIN_TARGET = 2.0
MEMORY_N = 65_536
MEMORY_LIMIT_MB = 512


def machine_description():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            total_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        mem = f", {total_kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{cpu}, {cores} cores{mem}; Python {platform.python_version()}, numpy {np.__version__}"


def load_average():
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return float("nan")


def time_round_robin(fns, rounds):
    """Call each function once per round, in a rotating order; return {name: [seconds, ...]}."""
    times = {name: [] for name in fns}
    names = list(fns)
    for fn in fns.values():  # warm-up: first-call costs (allocation, thread start) are not timed
        fn()
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return times


def spread(ts):
    """Median and the middle half of the runs, as text in ms."""
    q25, q50, q75 = np.percentile(np.asarray(ts) * 1e3, [25, 50, 75])
    return q50, f"{q50:.1f} ({q25:.0f}–{q75:.0f})" if q50 >= 10 else f"{q50:.2f} ({q25:.1f}–{q75:.1f})"


def speed_table(sizes, rounds, peak_gflops):
    import torch

    rng = np.random.default_rng(0)
    lines = [
        "| n | causal | PyTorch SDPA, ms | `chunked_attention`, ms | ÷ PyTorch | `scaled_dot_product_attention`, ms | ÷ PyTorch | chunked GFLOP/s | % of matmul peak |",
        "|---:|:---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts = []
    for n in sizes:
        q, k, v = (rng.standard_normal((n, D), dtype=np.float32) for _ in range(3))
        tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
        for causal in (False, True):
            fns = {
                "torch": lambda: torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal),
                "chunked": lambda: chunked_attention(q, k, v, causal=causal),
                "plain": lambda: scaled_dot_product_attention(q, k, v, causal=causal),
            }
            # agreement first: a fast wrong answer is no answer
            reference = fns["torch"]().numpy()
            err_chunked = float(np.abs(fns["chunked"]() - reference).max())
            err_plain = float(np.abs(fns["plain"]()[0] - reference).max())
            if max(err_chunked, err_plain) > 1e-4:
                raise SystemExit(f"n={n} causal={causal}: outputs disagree with PyTorch ({err_chunked:.2e}, {err_plain:.2e})")
            times = time_round_robin(fns, rounds if n <= 4096 else max(3, rounds // 2))
            t_torch, s_torch = spread(times["torch"])
            t_chunked, s_chunked = spread(times["chunked"])
            t_plain, s_plain = spread(times["plain"])
            gflops = attention_flops(n, d_k=D, causal=causal) / (t_chunked / 1e3) / 1e9
            lines.append(
                f"| {n:,} | {'yes' if causal else 'no'} | {s_torch} | {s_chunked} | {t_chunked / t_torch:.2f} | "
                f"{s_plain} | {t_plain / t_torch:.2f} | {gflops:.0f} | {100 * gflops / peak_gflops:.0f}% |"
            )
            if n == TARGET_N:
                verdicts.append(("chunked", causal, t_chunked / t_torch, CHUNKED_TARGET))
                verdicts.append(("plain", causal, t_plain / t_torch, PLAIN_TARGET))
            print(lines[-1], flush=True)
    return lines, verdicts


MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, sys, time
    import numpy as np
    from lessons_lib import chunked_attention

    def peak_rss_kb():
        # VmHWM belongs to this process image; ru_maxrss would also count the parent, copied at fork.
        try:
            with open("/proc/self/status") as f:
                return int(next(line for line in f if line.startswith("VmHWM")).split()[1])
        except (OSError, StopIteration):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    n, d, causal = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
    baseline = peak_rss_kb()
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((n, d), dtype=np.float32) for _ in range(3))
    start = time.perf_counter()
    out = chunked_attention(q, k, v, causal=causal)
    seconds = time.perf_counter() - start
    peak = peak_rss_kb()
    assert np.isfinite(out).all()
    print(baseline, peak, seconds)
    """
)


def memory_check(n):
    """Peak resident memory (MB) of a fresh process that runs chunked_attention at length n."""
    rows = []
    for causal in (False, True):
        result = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, str(n), str(D), "1" if causal else "0"],
            capture_output=True, text=True, check=True,
        )
        baseline_kb, peak_kb, seconds = result.stdout.split()
        rows.append((causal, int(baseline_kb) / 1024, int(peak_kb) / 1024, float(seconds)))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 512 … 4096 only, 3 rounds (memory check still runs)")
    parser.add_argument("--runs", type=int, default=None, help="timed rounds per size (default 7, or 3 with --quick)")
    parser.add_argument("--no-memory", action="store_true", help="skip the n = 65,536 memory check")
    parser.add_argument("--update-readme", action="store_true", help="write the tables into README.md (its bench_attention block)")
    args = parser.parse_args()
    rounds = args.runs or (3 if args.quick else 7)
    sizes = [512, 1024, 2048, 4096] if args.quick else [512, 1024, 2048, 4096, 8192, 16384]

    try:
        import torch
    except ImportError:
        raise SystemExit("torch is needed for the side-by-side timings: pip install -r requirements-reference.txt")

    load_before = load_average()
    machine = machine_description() + f"; torch {torch.__version__.split('+')[0]} ({torch.get_num_threads()} threads)"
    print(f"Machine: {machine}")
    print(f"Load average before: {load_before:.2f}")
    matmul_timing, peak = matmul_gflops(n=2048, dtype=np.float32, repeat=7)
    print(f"float32 matmul peak (2048 × 2048 @ 2048 × 2048, best of 7): {peak:.0f} GFLOP/s\n", flush=True)

    out = [
        f"Machine: {machine}. d = 64, float32, one head; times are the median (middle half of the runs in "
        f"brackets) of {rounds} rounds{' (fewer above n = 4096)' if not args.quick else ''}; the three functions "
        f"run in turn in each round, in a rotating order; numpy's OpenBLAS threads sleep as soon as a call ends "
        f"(OPENBLAS_THREAD_TIMEOUT=4) so they do not spin on the cores PyTorch needs next. Matrix-multiply peak of this machine: {peak:.0f} GFLOP/s "
        f"(float32, 2048 × 2048, best of 7). Load average at start: {load_before:.2f}.",
        "",
    ]
    lines, verdicts = speed_table(sizes, rounds, peak)
    out += lines

    if not args.no_memory:
        print(f"\nMemory at n = {MEMORY_N:,} (fresh process each):", flush=True)
        out += ["", f"Peak resident memory of a fresh Python process running `chunked_attention` at n = {MEMORY_N:,}, d = 64, float32 "
                f"(the score matrix alone would be {MEMORY_N**2 * 4 / 2**30:.0f} GiB):", "",
                "| causal | after imports, MB | peak, MB | limit, MB | time, s |", "|:---:|---:|---:|---:|---:|"]
        for causal, base_mb, peak_mb, seconds in memory_check(MEMORY_N):
            out.append(f"| {'yes' if causal else 'no'} | {base_mb:.0f} | {peak_mb:.0f} | {MEMORY_LIMIT_MB} | {seconds:.1f} |")
            print(out[-1], flush=True)
            verdicts.append(("memory", causal, peak_mb, MEMORY_LIMIT_MB))

    load_after = load_average()
    out += ["", f"Load average at the end: {load_after:.2f}."]
    print(f"\nLoad average after: {load_after:.2f}")
    print("\nTargets:")
    all_met = True
    for what, causal, value, limit in verdicts:
        met = value <= limit
        all_met &= met
        label = {"chunked": "chunked_attention ÷ PyTorch", "plain": "scaled_dot_product_attention ÷ PyTorch",
                 "memory": f"peak MB at n = {MEMORY_N:,}"}[what]
        print(f"  {'met ' if met else 'MISS'}  {label} ({'causal' if causal else 'not causal'}): {value:.2f} (limit {limit})")
    print("\n" + "\n".join(out))

    if args.update_readme:
        update_readme("bench_attention", out)
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
