"""Exercises: solutions that run only when the book is built, and checks that say "not yet".

A chapter's setup cell loads this as an IPython extension (``%load_ext lessons_lib.exercises``).
A solution code cell starts with the cell magic ``%%solution``: it runs only when the environment
variable ``LESSONS_LIB_SOLUTIONS`` is ``1`` (set by ``make execute`` and by the nbval run of
``make test``, so the book stores and shows the solution's output). A student who runs the whole
notebook in Binder, Colab or JupyterLab gets a one-line note instead, so nothing is given away, and
the check cell after it says "Not yet" until their own answer is right.

Check cells call :func:`check`, which prints and never raises: a notebook always runs top to bottom.
"""

from __future__ import annotations

import os

SOLUTIONS_ENV = "LESSONS_LIB_SOLUTIONS"

__all__ = ["SOLUTIONS_ENV", "CheckResult", "solutions_enabled", "check", "load_ipython_extension"]


def solutions_enabled() -> bool:
    """True when solution cells should run (the book build and the notebook tests)."""
    return os.environ.get(SOLUTIONS_ENV, "") == "1"


class CheckResult:
    """The outcome of :func:`check`: true when the answer passed; shows nothing as a cell's last value."""

    def __init__(self, passed: bool):
        self.passed = bool(passed)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"CheckResult(passed={self.passed})"

    def _ipython_display_(self) -> None:  # the printed line already said it
        return None


def check(passed, success: str, hint: str) -> CheckResult:
    """Print ``✓ success`` when ``passed`` is true, else ``Not yet: hint``; return a :class:`CheckResult`.

    ``passed`` may be a callable: it is called, and any exception it raises counts as "not yet"
    (with the exception's message added to the hint), so a half-finished answer never stops the run.
    """
    if not isinstance(success, str) or not isinstance(hint, str):
        raise TypeError("check: success and hint must be strings")
    reason = ""
    if callable(passed):
        try:
            passed = passed()
        except Exception as error:  # a student's partial answer can fail in any way
            unset = "NoneType" in str(error)
            reason = " (the answer is still None)" if unset else f" ({type(error).__name__}: {error})"
            passed = False
    ok = bool(passed)
    print(f"✓ {success}" if ok else f"Not yet: {hint}{reason}")
    return CheckResult(ok)


def _solution_magic(line: str, cell: str):
    """``%%solution``: run the cell only when solutions are enabled."""
    from IPython import get_ipython

    if solutions_enabled():
        result = get_ipython().run_cell(cell, store_history=False)
        if result.error_in_exec is not None:
            raise result.error_in_exec
        return None
    print("Solution hidden: try the exercise first (it is folded under 'Solution' in the book).")
    return None


def load_ipython_extension(ipython) -> None:
    """Register the ``%%solution`` cell magic."""
    ipython.register_magic_function(_solution_magic, magic_kind="cell", magic_name="solution")
