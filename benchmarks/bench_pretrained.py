"""How long does our numpy BERT (all-MiniLM-L6-v2, lessons_lib.pretrained) take on one 16-token sentence?

Run: .venv/bin/python benchmarks/bench_pretrained.py [--runs 50] [--update-readme]
Prints a markdown table: median (and fastest) wall time of the forward pass alone, and of
tokenize + forward + pooling, for float32 and float64. When torch and transformers are installed
(requirements-reference.txt) it times transformers' BertModel (eager attention, CPU) in the same run.
Target for the float32 forward pass: under 50 ms on the development machine (2 cores).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from lessons_lib import pretrained
from readme_block import update_readme

SENTENCE = "The animal didn't cross the street because it was too tired."
TARGET_MS = 50.0


def timings(fn, runs, warmup=3):
    """Wall times of ``fn()`` in milliseconds, after a few untimed warm-up calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="timed runs per row (default 50)")
    parser.add_argument("--update-readme", action="store_true", help="write the table into README.md (its bench_pretrained block)")
    args = parser.parse_args()

    start = time.perf_counter()
    model32 = pretrained.load_model(dtype=np.float32)
    load_ms = (time.perf_counter() - start) * 1e3
    model64 = pretrained.load_model(dtype=np.float64)
    tokens, ids = pretrained.tokenize(SENTENCE, model32)
    assert len(tokens) == 16, f"the benchmark sentence should have 16 tokens, it has {len(tokens)}: {tokens}"

    rows = []
    for label, model in (("numpy float32", model32), ("numpy float64", model64)):
        rows.append((f"{label}: forward pass", timings(lambda: pretrained.forward(ids, model), args.runs)))
        rows.append((f"{label}: tokenize + forward + pool", timings(lambda: pretrained.encode(SENTENCE, model), args.runs)))

    try:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        import transformers

        transformers.utils.logging.disable_progress_bar()
        bert = transformers.BertModel.from_pretrained(str(pretrained.model_dir()), attn_implementation="eager").eval()
        input_ids = torch.tensor(ids[None])

        def reference():
            with torch.no_grad():
                bert(input_ids, output_attentions=True, output_hidden_states=True)

        rows.append((f"transformers {transformers.__version__} (torch {torch.__version__}, {torch.get_num_threads()} threads): forward pass", timings(reference, args.runs)))
    except ImportError:
        print("(torch/transformers not installed: reference row skipped)")

    forward32 = statistics.median(rows[0][1])
    verdict = "meets" if forward32 < TARGET_MS else "MISSES"
    lines = [
        f"One sentence of {len(tokens)} tokens ({SENTENCE!r}), 6 layers × 12 heads, d_model 384; median of {args.runs} "
        f"runs after 3 warm-up runs; Python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs. "
        f"Loading the float32 model (first call, then cached) took {load_ms:.0f} ms.",
        "",
        "| what | median (ms) | fastest (ms) |",
        "|---|---:|---:|",
    ]
    lines += [f"| {label} | {statistics.median(times):.1f} | {min(times):.1f} |" for label, times in rows]
    lines += ["", f"numpy float32 forward pass: {forward32:.1f} ms, which {verdict} the {TARGET_MS:.0f} ms target."]
    print("\n" + "\n".join(lines))
    if args.update_readme:
        update_readme("bench_pretrained", lines)

if __name__ == "__main__":
    main()
