"""Attention speed and memory: lessons_lib against PyTorch's fused CPU kernel, each in its own process.

Run: .venv/bin/python benchmarks/bench_attention.py [--quick] [--runs N] [--no-memory] [--update-readme]
(`make bench` runs it without this machine's OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, as a user's machine would.)

Contestants, each in its own Python process (benchmarks/harness.py), timed in turn, in a rotating order:

- PyTorch: ``torch.nn.functional.scaled_dot_product_attention`` on 4-D ``(batch, heads, n, d)`` tensors,
  the layout every transformer passes. On CPU that runs PyTorch's fused flash-attention kernel
  (``aten::_scaled_dot_product_flash_attention_for_cpu``); 2-D and 3-D inputs fall back to the unfused math
  path (``aten::_scaled_dot_product_attention_math``), several times slower. The PyTorch worker records,
  with torch.profiler, which of the two ran for every shape, and the benchmark refuses to print a table in
  which PyTorch took any path other than the fused one.
- ``lessons_lib.chunked_attention`` and the plain ``lessons_lib.scaled_dot_product_attention`` (which also
  returns the n × n weights), on the same float32 arrays. Their outputs are checked against PyTorch's first.

Shapes: one head, d = 64, n = 512 … 16,384, causal and not; and the shapes of the course's models:
(1, 12, 128, 32) (chapter 7's MiniLM at 128 tokens), (1, 12, 512, 64) (BERT-base), (8, 8, 256, 64)
(a training batch). Then ``chunked_attention`` at n = 65,536 in a fresh process, for its peak resident memory.

Targets (issue 10), as ratios to PyTorch's time in the same run: chunked ≤ 1.25× for n = 1024 … 16,384 and at
the model shapes, ≤ 1.5× at n = 512; the plain function ≤ 2× at n ≥ 1024; under 512 MB at n = 65,536.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    Worker, environment_text, interleave, method_text, process_facts, ratio, ratio_text,
    parse_arguments, save_output, serve, spread_text,
)

HERE = Path(__file__).resolve()
SINGLE_HEAD_NS = (512, 1024, 2048, 4096, 8192, 16384)
QUICK_NS = (512, 1024, 2048, 4096)
D = 64
MODEL_SHAPES = {
    (1, 12, 128, 32): "chapter 7's MiniLM, 128 tokens",
    (1, 12, 512, 64): "BERT-base, 512 tokens",
    (8, 8, 256, 64): "a training batch",
}
CONTESTANTS = ("torch", "chunked", "plain")
AGREEMENT_ATOL = 1e-4  # float32; PyTorch's kernel sums in a different order
MEMORY_N = 65_536
MEMORY_LIMIT_MB = 512

FUSED_OP = "aten::_scaled_dot_product_flash_attention_for_cpu"
MATH_OP = "aten::_scaled_dot_product_attention_math"


def torch_backend(op_names):
    """Which scaled-dot-product kernel the profiled op names show: "fused", "math", or "unknown (…)"."""
    names = set(op_names)
    if MATH_OP in names:
        return "math"
    if FUSED_OP in names:
        return "fused"
    return f"unknown ({', '.join(sorted(names)) or 'no scaled_dot_product op recorded'})"


def profiled(fn):
    """``fn()``'s result, and which scaled-dot-product kernel PyTorch ran inside it (:func:`torch_backend`)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        result = fn()
    ops = {e.key for e in prof.key_averages() if e.key.startswith("aten::_scaled_dot_product")}
    return result, torch_backend(ops)


def check_all_fused(backends):
    """Refuse (SystemExit) a table in which PyTorch took any path but the fused flash kernel.

    ``backends`` maps a row label to what :func:`torch_backend` said for it.
    """
    bad = {label: backend for label, backend in backends.items() if backend != "fused"}
    if bad:
        listing = "\n".join(f"  {label}: {backend}" for label, backend in bad.items())
        raise SystemExit(
            "PyTorch did not run its fused flash-attention CPU kernel for:\n" + listing + "\n"
            "A table against its unfused math path would flatter lessons_lib: no table is reported. "
            "Pass 4-D (batch, heads, n, d) float32 tensors."
        )


def chunked_limit(shape):
    """The issue's target for chunked_attention ÷ PyTorch: 1.5× for one head at n = 512, else 1.25×."""
    return 1.5 if tuple(shape[:2]) == (1, 1) and shape[-2] < 1024 else 1.25


def plain_limit(shape):
    """The target for scaled_dot_product_attention ÷ PyTorch: single-head shapes with n ≥ 1024 only."""
    return 2.0 if shape[:2] == (1, 1) and shape[-2] >= 1024 else None


def verdicts(rows):
    """``(what, value, limit, met)`` for every target in the rows of a run."""
    out = []
    for row in rows:
        label = f"{row['shape']}, {'causal' if row['causal'] else 'not causal'}"
        out.append((f"chunked_attention ÷ PyTorch at {label}", row["chunked"][0], chunked_limit(row["shape"])))
        limit = plain_limit(row["shape"])
        if limit is not None:
            out.append((f"scaled_dot_product_attention ÷ PyTorch at {label}", row["plain"][0], limit))
    return [(what, value, limit, value <= limit) for what, value, limit in out]


# ---------------------------------------------------------------- workers


def make_inputs(shape, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(shape, dtype=np.float32) for _ in range(3))


class TorchContestant:
    def setup(self, config):
        import torch

        shape, causal = tuple(config["shape"]), config["causal"]
        tq, tk, tv = (torch.from_numpy(a) for a in make_inputs(shape))
        sdpa = torch.nn.functional.scaled_dot_product_attention

        def fn():
            return sdpa(tq, tk, tv, is_causal=causal)

        out, backend = profiled(fn)
        return fn, {
            "backend": backend,
            "output": save_output(out.numpy(), config["outdir"], "torch"),
            "versions": f"torch {torch.__version__} ({torch.get_num_threads()} threads, CPU capability "
            f"{torch.backends.cpu.get_cpu_capability()})",
            **process_facts(),
        }


class NumpyContestant:
    def __init__(self, which):
        self.which = which

    def setup(self, config):
        from lessons_lib import chunked_attention, scaled_dot_product_attention

        shape, causal = tuple(config["shape"]), config["causal"]
        q, k, v = make_inputs(shape)
        if self.which == "chunked":
            def fn():
                return chunked_attention(q, k, v, causal=causal)
            out = fn()
        else:
            def fn():
                return scaled_dot_product_attention(q, k, v, causal=causal)
            out = fn()[0]
        return fn, {
            "output": save_output(out, config["outdir"], self.which),
            "versions": f"numpy {np.__version__}",
            **process_facts(),
        }


def worker_main(name):
    serve(TorchContestant() if name == "torch" else NumpyContestant(name))


# ---------------------------------------------------------------- parent


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
    return f"{cpu}, {cores} cores{mem}; Python {platform.python_version()}"


def load_average():
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return float("nan")


def rounds_for(shape, rounds):
    n = shape[-2]
    return rounds if n <= 4096 else max(3, rounds // 2)


def run_shapes(workers, configs, rounds, outdir):
    """Time every (shape, causal) config; returns one row dict per config, and the setup facts."""
    rows, facts = [], {}
    for shape, causal in configs:
        config = {"shape": list(shape), "causal": causal, "outdir": outdir}
        infos, times = interleave(workers, config, rounds_for(shape, rounds))
        facts = {name: {k: info[k] for k in ("versions", "blas", "environment")} for name, info in infos.items()}
        reference = np.load(infos["torch"]["output"])
        for name in ("chunked", "plain"):
            err = float(np.abs(np.load(infos[name]["output"]) - reference).max())
            if not err <= AGREEMENT_ATOL:
                raise SystemExit(f"{shape} causal={causal}: {name} disagrees with PyTorch by {err:.2e}")
        row = {"shape": shape, "causal": causal, "backend": infos["torch"]["backend"], "times": times,
               "chunked": ratio(times["chunked"], times["torch"]), "plain": ratio(times["plain"], times["torch"])}
        rows.append(row)
        print(table_line(row), flush=True)
    return rows, facts


TABLE_HEAD = [
    "| shape (batch, heads, n, d) | causal | PyTorch kernel | PyTorch, ms | `chunked_attention`, ms | ÷ PyTorch | "
    "`scaled_dot_product_attention`, ms | ÷ PyTorch |",
    "|---|:---:|:---:|---:|---:|---:|---:|---:|",
]


def table_line(row):
    t = row["times"]
    shape = "(" + ", ".join(f"{s:,}" for s in row["shape"]) + ")"
    label = MODEL_SHAPES.get(tuple(row["shape"]))
    return (
        f"| {shape}{f' {label}' if label else ''} | {'yes' if row['causal'] else 'no'} | {row['backend']} | "
        f"{spread_text(t['torch'])} | {spread_text(t['chunked'])} | {ratio_text(*row['chunked'])} | "
        f"{spread_text(t['plain'])} | {ratio_text(*row['plain'])} |"
    )


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


WHY_MISSED = (
    "Why targets are missed on this machine. `chunked_attention` does the same two products and one `exp` per "
    "score as PyTorch's kernel, but numpy's OpenBLAS runs these thin products (inner size d + 1 = 65) at about "
    "120 GFLOP/s per core where PyTorch's GEMM reaches about 150, and every step is a separate numpy call: at "
    "large n that leaves it some tens of percent behind. Below a few million scores per call (n ≤ 2048, and the "
    "model shapes with many small heads) numpy's fixed costs per call, per head and per product, and handing "
    "work to a second thread, weigh on a call that PyTorch finishes in a millisecond or less. "
    "`scaled_dot_product_attention` must write and return the n × n weights (64 MiB at n = 4096, 1 GiB at "
    "16,384) and read them again for the output, which the fused kernel never forms; with `causal=True` the "
    "mask is an n × n boolean array too, and every score is still computed. On a busy machine the ratios at "
    "small n also swing (see the brackets): PyTorch's two OpenMP threads wait for each other whenever another "
    "process takes one of the two cores."
)


NOTE = (
    "Earlier versions of this table (before issue 10) passed 2-D `(n, d)` arrays to PyTorch. On CPU, PyTorch "
    "runs 2-D and 3-D inputs through its unfused math path, 3–6× slower than the fused flash-attention kernel "
    "it uses for the 4-D `(batch, heads, n, d)` layout that transformers pass; those tables also timed the three "
    "functions in one process, where numpy's spinning BLAS threads slowed PyTorch. They showed "
    "`chunked_attention` at 0.3–1.7× of PyTorch's time, which was wrong. Now PyTorch gets 4-D tensors, the "
    "benchmark checks (torch.profiler) that its fused kernel ran and refuses to report otherwise, and each "
    "contestant runs in its own process, interleaved."
)


def options(parser):
    parser.add_argument("--quick", action="store_true", help="n = 512 … 4096 and the model shapes, 3 rounds")
    parser.add_argument("--runs", type=int, default=None, help="rounds per shape (default 7, or 3 with --quick)")
    parser.add_argument("--no-memory", action="store_true", help="skip the n = 65,536 memory check")


def main(argv=None):
    args = parse_arguments(__doc__.splitlines()[0], "bench_attention", options, argv)
    if args.worker:
        return worker_main(args.worker)
    if importlib.util.find_spec("torch") is None:  # only the PyTorch worker imports it
        raise SystemExit("torch is needed for the side-by-side timings: pip install -r requirements-reference.txt")

    rounds = args.runs or (3 if args.quick else 7)
    ns = QUICK_NS if args.quick else SINGLE_HEAD_NS
    configs = [((1, 1, n, D), causal) for n in ns for causal in (False, True)]
    configs += [(shape, causal) for shape in MODEL_SHAPES for causal in (False, True)]

    load_before = load_average()
    print(f"Machine: {machine_description()}; load average {load_before:.2f}", flush=True)
    workers = [Worker(name, HERE) for name in CONTESTANTS]
    try:
        with tempfile.TemporaryDirectory() as outdir:
            rows, facts = run_shapes(workers, configs, rounds, outdir)
    finally:
        for w in workers:
            w.close()
    check_all_fused({f"{r['shape']} causal={r['causal']}": r["backend"] for r in rows})
    load_after = load_average()

    out = [
        f"Machine: {machine_description()}. {facts['torch']['versions']}; {facts['chunked']['versions']}. "
        f"BLAS in the numpy processes: {facts['chunked']['blas']}. In the PyTorch process: {facts['torch']['blas']}. "
        f"{environment_text(facts['chunked']['environment'])}. Float32. {method_text(rounds)} (Fewer rounds above "
        f"n = 4096.) PyTorch kernel: which kernel torch.profiler saw (fused = `{FUSED_OP}`). Load average "
        f"{load_before:.2f} at the start, {load_after:.2f} at the end.",
        "",
        *TABLE_HEAD,
        *(table_line(r) for r in rows),
    ]
    results = verdicts(rows)

    if not args.no_memory:
        print(f"\nMemory at n = {MEMORY_N:,} (fresh process each):", flush=True)
        out += ["", f"Peak resident memory of a fresh Python process running `chunked_attention` at n = {MEMORY_N:,}, "
                f"d = 64, float32 (the score matrix alone would be {MEMORY_N**2 * 4 / 2**30:.0f} GiB):", "",
                "| causal | after imports, MB | peak, MB | limit, MB | time, s |", "|:---:|---:|---:|---:|---:|"]
        for causal, base_mb, peak_mb, seconds in memory_check(MEMORY_N):
            out.append(f"| {'yes' if causal else 'no'} | {base_mb:.0f} | {peak_mb:.0f} | {MEMORY_LIMIT_MB} | {seconds:.1f} |")
            print(out[-1], flush=True)
            what = f"peak MB at n = {MEMORY_N:,}, {'causal' if causal else 'not causal'}"
            results.append((what, peak_mb, MEMORY_LIMIT_MB, peak_mb <= MEMORY_LIMIT_MB))

    misses = [r for r in results if not r[3]]
    out += ["", f"Targets met: {len(results) - len(misses)} of {len(results)}."]
    out += [f"- miss: {what}: {value:.2f} (target ≤ {limit})" for what, value, limit, _ in misses]
    if misses:
        out += ["", WHY_MISSED]
    out += ["", NOTE]
    print("\n" + "\n".join(out))
    if args.update_readme:
        from readme_block import update_readme

        update_readme("bench_attention", out)
    return 0  # misses are stated in the table; only an unfair or wrong comparison stops the run


if __name__ == "__main__":
    sys.exit(main())
