"""What every explorer shares: the inlined front-end, the stylesheet, and checks on the data.

Each explorer's front-end is one ES module (``<name>.js``) that may import from sibling files
(``math.js`` for the pure maths, ``ui.js`` for drawing helpers). The static book's widget manager
loads ``_esm`` as a string with no base URL, so relative imports cannot be resolved there: the
imports are inlined here, once, when the class is defined. No module may import from the web.
"""

from __future__ import annotations

import contextlib
import functools
import numbers
import pathlib
import re

import anywidget
import numpy as np
import traitlets

from .._checks import as_float_array, is_integer

__all__ = ["ExplorerBase", "ExplorerValueError", "bundle_esm"]

_HERE = pathlib.Path(__file__).parent
_RELATIVE_IMPORT = re.compile(r'^import\s*\{[^}]*\}\s*from\s*"\./([\w.-]+\.js)";[ \t]*$', re.M)
_ANY_IMPORT = re.compile(r"^\s*import\b|\bimport\s*\(", re.M)


class ExplorerValueError(traitlets.TraitError, ValueError):
    """Bad data or a bad setting for an explorer (a ``ValueError``, and a ``TraitError`` for traitlets)."""


@functools.cache
def bundle_esm(entry: str) -> str:
    """Return the ES module ``entry`` with its ``import { … } from "./x.js"`` lines replaced by x.js itself."""
    included: set[str] = set()

    def inline(name: str) -> str:
        if name in included:
            return f"/* {name}: already included above */"
        included.add(name)
        source = (_HERE / name).read_text(encoding="utf-8")
        return f"/* ---- {name} ---- */\n" + _RELATIVE_IMPORT.sub(lambda m: inline(m.group(1)), source)

    code = inline(entry)
    if _ANY_IMPORT.search(code):
        raise RuntimeError(f"{entry}: only `import {{ … }} from \"./file.js\";` lines can be inlined")
    return code


class ExplorerBase(anywidget.AnyWidget):
    """Base class: the shared stylesheet, and a height the static page can reserve."""

    _css = (_HERE / "explorers.css").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Checks: every explorer validates its data in Python, before anything is sent to a browser.


@contextlib.contextmanager
def explorer_errors():
    """Raise a library check's TypeError or ValueError as an :class:`ExplorerValueError`, with its message."""
    try:
        yield
    except (TypeError, ValueError) as exc:
        raise ExplorerValueError(str(exc)) from None


def as_matrix(name: str, x, *, rows: int | None = None, cols: int | None = None, rows_from: str = "") -> np.ndarray:
    """A finite float64 ``(rows, cols)`` matrix, or a ValueError naming ``name`` and the shapes."""
    with explorer_errors():
        arr = as_float_array(name, x)
    if arr.ndim != 2:
        raise ExplorerValueError(f"{name} must be a matrix (2-D), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ExplorerValueError(f"{name} must not be empty, got shape {arr.shape}")
    if rows is not None and arr.shape[0] != rows:
        raise ExplorerValueError(
            f"{name} must have one row per {rows_from or 'item'} ({rows}), got shape {arr.shape}"
        )
    if cols is not None and arr.shape[1] != cols:
        raise ExplorerValueError(f"{name} must have {cols} columns, got shape {arr.shape}")
    return arr.astype(np.float64)


def as_vector(name: str, x, *, size: int | None = None) -> np.ndarray:
    """A finite float64 vector, or a ValueError naming ``name``."""
    with explorer_errors():
        arr = as_float_array(name, x)
    if arr.ndim != 1 or arr.size == 0:
        raise ExplorerValueError(f"{name} must be a non-empty vector (1-D), got shape {arr.shape}")
    if size is not None and arr.size != size:
        raise ExplorerValueError(f"{name} must have {size} entries, got shape {arr.shape}")
    return arr.astype(np.float64)


def as_labels(name: str, labels, n: int | None = None, *, what: str = "rows") -> list[str]:
    """A list of strings (one per row when ``n`` is given)."""
    if isinstance(labels, (str, bytes)):
        raise ExplorerValueError(f"{name} must be a sequence of strings, not one string ({labels!r})")
    try:
        labels = list(labels)
    except TypeError:
        raise ExplorerValueError(f"{name} must be a sequence of strings, got {type(labels).__name__}") from None
    for i, label in enumerate(labels):
        if not isinstance(label, str):
            raise ExplorerValueError(f"{name}[{i}] must be a string, got {type(label).__name__} ({label!r})")
    if not labels:
        raise ExplorerValueError(f"{name} must not be empty")
    if n is not None and len(labels) != n:
        raise ExplorerValueError(f"{name} has {len(labels)} entries but there are {n} {what}")
    return [str(label) for label in labels]


def as_index(name: str, value, n: int) -> int:
    """An integer in ``range(n)``."""
    if not is_integer(value):
        raise ExplorerValueError(f"{name} must be an integer, got {type(value).__name__} ({value!r})")
    if not 0 <= int(value) < n:
        raise ExplorerValueError(f"{name} must be between 0 and {n - 1}, got {value}")
    return int(value)


def as_scale(value, *, default: float, allow_zero: bool) -> float:
    """A finite scale (inverse temperature): positive, or non-negative when ``allow_zero``."""
    if value is None:
        return float(default)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise ExplorerValueError(f"scale must be a real number, got {type(value).__name__} ({value!r})")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        need = "finite and >= 0" if allow_zero else "finite and > 0"
        raise ExplorerValueError(f"scale must be {need}, got {value}")
    return value


def as_lists(arr: np.ndarray) -> list:
    """Nested lists of Python floats at full precision: what the widget state stores and the tests read."""
    return np.asarray(arr, dtype=np.float64).tolist()
