"""Time contestants each in its own Python process, interleaved, so none runs in another's thread pool.

The parent starts one long-lived worker process per contestant and talks to it over a pipe (one JSON
object per line). Only one worker computes at any moment: the parent asks each worker in turn for a
*turn* of timed calls, in a rotating order, and waits for the answer before asking the next. Between two
turns it pauses long enough for the previous worker's idle BLAS/OpenMP threads to stop spinning
(OpenBLAS spins for up to about 0.1 s after a call), so they do not steal the cores the next worker
needs; a turn of short calls then starts with one untimed call, so that every contestant is timed warm. A busy machine therefore slows every contestant alike, and no contestant shares its process,
its imports or its thread pools with another.

Worker side: ``serve(contestant)``, where ``contestant`` has ``setup(config) -> (fn, info)``: ``fn()`` is
the call to time, ``info`` a dict of facts to report (backend, thread counts, …).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COOLDOWN_S = 0.15
"""Pause between two turns: longer than OpenBLAS's default idle spin (2^28 cycles, ~0.1 s)."""

TURN_S = 0.1
"""A turn repeats the call until about this long (at least once), timing each call."""

WARM_UP_BELOW_S = 0.05
"""A turn of calls shorter than this starts with one untimed call, so every contestant is timed warm."""

BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
"""Machine-specific OpenBLAS settings a user's machine does not have: the README's tables come from runs without them."""


def blas_variables_set(environ=os.environ):
    """The names in BLAS_VARIABLES that ``environ`` sets (a README table must come from a run with none)."""
    return [name for name in BLAS_VARIABLES if name in environ]


def parse_arguments(description, readme_block, add_options, argv=None):
    """A benchmark's command line: its own options, ``--update-readme`` and the hidden ``--worker NAME``.

    Refuses ``--update-readme`` while this machine's OpenBLAS overrides are set.
    """
    parser = argparse.ArgumentParser(description=description)
    add_options(parser)
    parser.add_argument("--update-readme", action="store_true", help=f"write the table into README.md (its {readme_block} block)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.update_readme and not args.worker:
        refuse_readme_update_under_blas_overrides()
    return args


def refuse_readme_update_under_blas_overrides(environ=os.environ):
    """SystemExit when a run meant for the README has this machine's OpenBLAS overrides set."""
    found = blas_variables_set(environ)
    if found:
        raise SystemExit(
            f"{', '.join(found)} set: the README's tables must come from a run without them, as on a user's machine. "
            "Run `make bench`, or prefix the command with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`."
        )


def process_facts():
    """A worker's versions-independent facts for the table's header: its BLAS/OpenMP libraries and BLAS variables."""
    import threadpoolctl

    return {
        "blas": blas_description(threadpoolctl.threadpool_info()),
        "environment": {name: os.environ.get(name) for name in BLAS_VARIABLES},
    }


def blas_description(info):
    """One line per library from threadpoolctl's ``threadpool_info()``: API, kernel, threads, version."""
    parts = []
    for lib in info:
        what = lib.get("internal_api", "?")
        if lib.get("architecture"):
            what += f" {lib['architecture']} kernel"
        if lib.get("version"):
            what += f" {lib['version']}"
        parts.append(f"{lib.get('user_api', '?')}: {what}, {lib.get('num_threads', '?')} threads")
    return "; ".join(parts) or "no BLAS/OpenMP library loaded"


def method_text(rounds):
    """How a table was measured, in a sentence or two, for the line above it."""
    return (
        f"Each contestant in its own process; in each of {rounds} rounds each process runs its call for about "
        f"{TURN_S:g} s (one untimed call first when calls are short, then timing every call), in a rotating order, "
        f"with a {COOLDOWN_S:g} s pause between turns so that no process's idle threads spin on the next one's cores. "
        "Times: median (quartiles) over every timed call; ratios: the median times' ratio and, in brackets, the "
        "lowest and highest ratio of one round's medians (the spread over the run)."
    )


def environment_text(environment):
    """``OPENBLAS_CORETYPE unset, …`` from a worker's {name: value or None}."""
    return ", ".join(f"{k}={v}" if v is not None else f"{k} unset" for k, v in environment.items())


# ---------------------------------------------------------------- parent side


class Worker:
    """One contestant's process: ``python script --worker NAME``."""

    def __init__(self, name, script, extra_args=()):
        self.name = name
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(
            [sys.executable, str(script), "--worker", name, *extra_args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True, bufsize=1,
        )

    def ask(self, **message):
        self._proc.stdin.write(json.dumps(message) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            self._stderr.seek(0)
            raise SystemExit(f"worker {self.name!r} died; its stderr:\n{self._stderr.read()[-4000:]}")
        reply = json.loads(line)
        if "error" in reply:
            raise SystemExit(f"worker {self.name!r} failed on {message}:\n{reply['error']}")
        return reply

    def close(self):
        if self._proc.poll() is None:
            try:
                self.ask(op="quit")
            except (SystemExit, BrokenPipeError, OSError):
                pass
            self._proc.wait(timeout=30)
        self._stderr.close()


def interleave(workers, config, rounds, turn_s=TURN_S, cooldown_s=COOLDOWN_S):
    """Set ``config`` up in every worker, then time ``rounds`` rounds of one turn each, in a rotating order.

    Returns ``(infos, times)``: each worker's setup info, and per worker a list of rounds, each round a list
    of per-call seconds.
    """
    infos = {w.name: w.ask(op="setup", config=config) for w in workers}
    reps = {name: max(1, min(200, math.ceil(turn_s / max(info["warm_s"], 1e-6)))) for name, info in infos.items()}
    times = {w.name: [] for w in workers}
    for r in range(rounds):
        for w in workers[r % len(workers):] + workers[: r % len(workers)]:
            time.sleep(cooldown_s)
            warm_up = infos[w.name]["warm_s"] < WARM_UP_BELOW_S
            times[w.name].append(w.ask(op="time", reps=reps[w.name], warm_up=warm_up)["seconds"])
    return infos, times


def median_ms(rounds):
    """Median over every timed call of every round, in ms."""
    return float(np.median(np.concatenate(rounds))) * 1e3


def spread_text(rounds):
    """``median (q25–q75)`` over every timed call, in ms."""
    q25, q50, q75 = np.percentile(np.concatenate(rounds) * 1e3, [25, 50, 75])
    if q50 >= 100:
        return f"{q50:.0f} ({q25:.0f}–{q75:.0f})"
    if q50 >= 10:
        return f"{q50:.1f} ({q25:.0f}–{q75:.0f})"
    return f"{q50:.2f} ({q25:.2f}–{q75:.2f})"


def ratio(rounds, reference_rounds):
    """Median ratio, and the lowest and highest ratio of the per-round medians (the spread over the run)."""
    per_round = [float(np.median(a) / np.median(b)) for a, b in zip(rounds, reference_rounds)]
    return median_ms(rounds) / median_ms(reference_rounds), min(per_round), max(per_round)


def ratio_text(value, low, high):
    return f"{value:.2f} ({low:.2f}–{high:.2f})"


# ---------------------------------------------------------------- worker side


def serve(contestant):
    """Answer the parent's requests on stdin/stdout until told to quit."""
    # Our replies go to a private copy of stdout; anything a library prints goes to stderr instead.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    fn = None
    for line in sys.stdin:
        message = json.loads(line)
        try:
            if message["op"] == "quit":
                replies.write("{}\n")
                return
            if message["op"] == "setup":
                fn, info = contestant.setup(message["config"])
                fn()
                start = time.perf_counter()
                fn()  # second warm-up call, timed to size the turns
                info["warm_s"] = time.perf_counter() - start
                reply = info
            elif message["op"] == "time":
                if message.get("warm_up"):
                    fn()  # untimed: the first call after the pause wakes the process's threads and caches
                seconds = []
                for _ in range(message["reps"]):
                    start = time.perf_counter()
                    fn()
                    seconds.append(time.perf_counter() - start)
                reply = {"seconds": seconds}
            else:
                raise ValueError(f"unknown op {message['op']!r}")
        except Exception:
            import traceback

            reply = {"error": traceback.format_exc()}
        replies.write(json.dumps(reply) + "\n")


def save_output(array, directory, name):
    """Write a contestant's output where the parent can compare it with the reference's."""
    path = Path(directory) / f"{name}.npy"
    np.save(path, np.asarray(array))
    return str(path)
