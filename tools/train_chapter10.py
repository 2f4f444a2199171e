"""Train chapter 10's longer runs and write them to lessons_lib/data/ (a few hundred kilobytes in all).

    PYTHONPATH=. python tools/train_chapter10.py            # all runs (about two minutes here)
    PYTHONPATH=. python tools/train_chapter10.py winograd   # one run

The recipes live in lessons_lib/training_runs.py, so the chapter (in Binder or Colab too) re-runs
the first steps of a run with the same code; tests/test_training.py checks that those first steps
reproduce the shipped loss curves bit for bit.
"""

from __future__ import annotations

import sys

from lessons_lib.training_runs import write_runs

if __name__ == "__main__":
    write_runs(sys.argv[1:] or ["induction", "winograd", "scale"])
