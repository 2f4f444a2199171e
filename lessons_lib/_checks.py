"""Input checks shared by the library: clear errors instead of NaNs or numpy tracebacks."""

from __future__ import annotations

import math
import numbers

import numpy as np

_FLOAT_KINDS = "f"
_NUMERIC_KINDS = "biuf"


def as_float_array(name: str, x, *, min_ndim: int = 0, allow_nonfinite: bool = False) -> np.ndarray:
    """Return ``x`` as a floating numpy array (ints become float64), or raise naming ``name``."""
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}")
    refuse_masked_array(name, x)
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be read as an array: {exc}") from None
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be real-valued, got complex dtype {arr.dtype}")
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {arr.shape}")
    if not allow_nonfinite and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name} contains non-finite values (NaN or inf), first at index {tuple(int(i) for i in bad)} "
            f"of shape {arr.shape}"
        )
    return arr


def refuse_masked_array(name: str, x) -> None:
    """numpy would silently use the hidden entries of a masked array: refuse it rather than guess."""
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a numpy masked array (np.ma); its hidden entries would be used as if visible. "
            f"Pass {name}.filled(value) or {name}.compressed(), or express the hiding as an attention mask"
        )


def check_nonempty(name: str, arr: np.ndarray, axes_names: dict[int, str]) -> None:
    """Raise if any named axis of ``arr`` has length zero."""
    for axis, label in axes_names.items():
        if arr.shape[axis] == 0:
            raise ValueError(f"{name} has an empty {label} axis: shape {arr.shape}")


def is_integer(value) -> bool:
    """True for Python and numpy integers; False for everything else, bools included (True is not 1 here)."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_integer(name: str, value, *, minimum: int | None = None) -> int:
    """Accept an integer (not bool), at least ``minimum`` when given."""
    if not is_integer(value):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        need = "positive" if minimum == 1 else f"at least {minimum}"
        raise ValueError(f"{name} must be {need}, got {value}")
    return int(value)


def check_positive_int(name: str, value) -> int:
    """Accept a positive integer (not bool)."""
    return check_integer(name, value, minimum=1)


def check_real(name: str, value, *, positive: bool = False) -> float:
    """Accept a finite real number (not bool), positive when asked; return it as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def check_scale(scale, default: float) -> float:
    """Return a finite float scale, defaulting when ``scale`` is None."""
    if scale is None:
        return float(default)
    return check_real("scale", scale)


def check_bool(name: str, value) -> bool:
    """Accept Python or numpy booleans only."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def check_tokens(tokens) -> tuple[str, ...]:
    """A non-empty sequence of token strings, as a tuple; one string is refused (it is a sentence, not tokens)."""
    if isinstance(tokens, (str, bytes)):
        raise TypeError("tokens must be a sequence of token strings, not one string; try text.split()")
    try:
        tokens = tuple(tokens)
    except TypeError:
        raise TypeError(f"tokens must be a sequence of strings, got {type(tokens).__name__}") from None
    if not tokens:
        raise ValueError("tokens is empty: give at least one token")
    for token in tokens:
        if not isinstance(token, str):
            raise TypeError(f"every token must be a str, got {type(token).__name__} ({token!r})")
    return tokens


def check_qkv(q, k, v):
    """Check q (..., n_q, d_k), k (..., n_k, d_k), v (..., n_k, d_v); return them in one dtype, and the batch shape."""
    q = as_float_array("q", q)
    k = as_float_array("k", k)
    v = as_float_array("v", v)
    for name, arr in (("q", q), ("k", k), ("v", v)):
        if arr.ndim < 2:
            raise ValueError(f"{name} must have shape (..., n, d) with at least 2 dimensions, got shape {arr.shape}")
    check_nonempty("q", q, {-2: "n_q (sequence)", -1: "d_k (feature)"})
    check_nonempty("k", k, {-2: "n_k (sequence)", -1: "d_k (feature)"})
    check_nonempty("v", v, {-2: "n_k (sequence)", -1: "d_v (feature)"})
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share d_k: q has shape {q.shape}, k has shape {k.shape}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same number of positions n_k: k has shape {k.shape}, v has shape {v.shape}")
    try:
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(
            f"the leading (batch/head) axes of q {q.shape}, k {k.shape} and v {v.shape} do not broadcast"
        ) from None
    dtype = np.result_type(q, k, v)
    return q.astype(dtype, copy=False), k.astype(dtype, copy=False), v.astype(dtype, copy=False), batch


def raise_scores_overflow(index, scores_shape, dtype, q, k, *, names=("q", "k"), scale=None):
    """Finite q and k can still overflow in q·kᵀ·scale: say where, and what to do, instead of returning NaN.

    ``names`` are the caller's names for q and k; give ``scale`` when the caller chose it, to name it too.
    """
    dtype = np.dtype(dtype)
    q_name, k_name = names
    by_scale = "" if scale is None else f" with scale = {scale:.3g}"
    raise ValueError(
        f"the scores {q_name}·{k_name}ᵀ·scale overflow {dtype}{by_scale} (first at index "
        f"{tuple(int(i) for i in index)} of scores shape {tuple(scores_shape)}); "
        f"{q_name} has shape {q.shape} and max |{q_name}| = {float(np.max(np.abs(q))):.3g}, "
        f"{k_name} has shape {k.shape} and max |{k_name}| = {float(np.max(np.abs(k))):.3g}: "
        + ("use a smaller scale or rescale them" if scale is not None else "rescale them")
        + (" or use float64" if dtype != np.float64 else "")
    )


def as_bool_mask(mask, target_shape: tuple[int, ...], *, name: str = "mask") -> np.ndarray:
    """Check that ``mask`` is boolean and broadcastable to ``target_shape`` (..., n_q, n_k)."""
    if isinstance(mask, (str, bytes)):
        raise TypeError(f"{name} must be a boolean array, got {type(mask).__name__}")
    refuse_masked_array(name, mask)
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        raise TypeError(
            f"{name} must be a boolean array (True = may attend), got dtype {arr.dtype} (shape {arr.shape}); "
            "use mask.astype(bool) if you meant 0/1"
        )
    n_q, n_k = target_shape[-2:]
    if arr.ndim >= 1 and arr.shape[-1] not in (1, n_k):
        raise ValueError(
            f"{name} of shape {arr.shape} does not fit the scores of shape (..., n_q={n_q}, n_k={n_k}): "
            f"its last axis must be 1 or n_k={n_k}"
        )
    if arr.ndim >= 2 and arr.shape[-2] not in (1, n_q):
        raise ValueError(
            f"{name} of shape {arr.shape} does not fit the scores of shape (..., n_q={n_q}, n_k={n_k}): "
            f"its second-to-last axis must be 1 or n_q={n_q}"
        )
    try:
        np.broadcast_shapes(arr.shape, target_shape)
    except ValueError:
        raise ValueError(
            f"{name} of shape {arr.shape} cannot broadcast to the scores of shape {target_shape}"
        ) from None
    return arr
