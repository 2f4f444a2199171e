"""Chapter 10's longer training runs: the recipes, and the function that writes them to ``lessons_lib/data``.

The runs take a minute or two each, so ``tools/train_chapter10.py`` made them once and the course
ships them (a few hundred kilobytes of ``.npz``). The chapter re-runs the first steps of a run with
these same functions to show it is this procedure, and tests/test_training.py checks that the first
steps reproduce the shipped loss curves bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .tasks import InductionTask, LookupTask, WinogradCorpus
from .training import TinyTransformer, train

#: Where the shipped runs live (package data).
DATA = Path(__file__).resolve().parent / "data"

# Every run: (model settings, task, batch size, steps, learning rate, data seed).
INDUCTION = dict(d_model=32, num_heads=2, d_ff=64, seed=0)
INDUCTION_STEPS, INDUCTION_BATCH, INDUCTION_LR = 1200, 64, 3e-3
WINOGRAD = dict(d_model=32, num_heads=2, d_ff=64, num_layers=2, causal=True, seed=0)
WINOGRAD_STEPS, WINOGRAD_BATCH, WINOGRAD_LR = 800, 64, 3e-3
SCALE = dict(d_model=64, num_heads=1, d_ff=64, num_layers=1)   # one head with d_k = 64
SCALE_TASK = LookupTask(num_pairs=6, num_keys=8, num_values=8)
SCALE_STEPS, SCALE_BATCH, SCALE_LR, SCALE_SEEDS = 300, 64, 3e-3, (0, 1, 2, 3)


def induction_model(num_layers):
    task = InductionTask()
    return TinyTransformer(task.vocab_size, task.length + 1, num_layers=num_layers, **INDUCTION), task


def train_induction(num_layers, steps=INDUCTION_STEPS):
    model, task = induction_model(num_layers)
    losses = train(model, task.batches(INDUCTION_BATCH), steps, lr=INDUCTION_LR, seed=1)
    return model, losses


def winograd_model():
    corpus = WinogradCorpus()
    return TinyTransformer(corpus.vocab_size, corpus.length - 1, **WINOGRAD), corpus


def train_winograd(steps=WINOGRAD_STEPS):
    model, corpus = winograd_model()
    losses = train(model, corpus.batches(WINOGRAD_BATCH), steps, lr=WINOGRAD_LR, seed=2)
    return model, losses


def train_scale(seed, scaled, steps=SCALE_STEPS):
    """One run of the √d_k experiment: the lookup task with d_k = 64, with or without the 1/√d_k."""
    model = TinyTransformer(SCALE_TASK.vocab_size, SCALE_TASK.length, scale=None if scaled else 1.0, seed=seed, **SCALE)
    return train(model, SCALE_TASK.batches(SCALE_BATCH), steps, lr=SCALE_LR, seed=100 + seed)


def write_runs(which=("induction", "winograd", "scale"), data=DATA):
    """Train the chosen runs and save them under ``data``; prints each run's final loss."""
    data = Path(data)
    data.mkdir(exist_ok=True)
    if "induction" in which:
        for layers in (1, 2):
            model, losses = train_induction(layers)
            model.save(data / f"ch10_induction_{layers}layer.npz", losses=losses)
            print(f"induction, {layers} layer(s): final loss {losses[-20:].mean():.3f}")
    if "winograd" in which:
        model, losses = train_winograd()
        model.save(data / "ch10_winograd.npz", losses=losses)
        print(f"winograd: final loss {losses[-20:].mean():.3f}")
    if "scale" in which:
        curves = {f"{'scaled' if scaled else 'unscaled'}_{seed}": train_scale(seed, scaled)
                  for seed in SCALE_SEEDS for scaled in (True, False)}
        np.savez_compressed(data / "ch10_scale_curves.npz", **curves)
        print("scale: final losses", {k: round(float(v[-20:].mean()), 3) for k, v in curves.items()})
