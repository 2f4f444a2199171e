"""Input checks shared by the library: clear errors instead of NaNs or numpy tracebacks."""

from __future__ import annotations

import numbers

import numpy as np

_FLOAT_KINDS = "f"
_NUMERIC_KINDS = "biuf"


def as_float_array(name: str, x, *, min_ndim: int = 0, allow_nonfinite: bool = False) -> np.ndarray:
    """Return ``x`` as a floating numpy array (ints become float64), or raise naming ``name``."""
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}")
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


def check_nonempty(name: str, arr: np.ndarray, axes_names: dict[int, str]) -> None:
    """Raise if any named axis of ``arr`` has length zero."""
    for axis, label in axes_names.items():
        if arr.shape[axis] == 0:
            raise ValueError(f"{name} has an empty {label} axis: shape {arr.shape}")


def check_scale(scale, default: float) -> float:
    """Return a finite float scale, defaulting when ``scale`` is None."""
    if scale is None:
        return float(default)
    if isinstance(scale, bool) or not isinstance(scale, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"scale must be a real number, got {type(scale).__name__}")
    scale = float(scale)
    if not np.isfinite(scale):
        raise ValueError(f"scale must be finite, got {scale}")
    return scale


def check_bool(name: str, value) -> bool:
    """Accept Python or numpy booleans only."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def check_positive_int(name: str, value) -> int:
    """Accept a positive integer (not bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return int(value)


def as_bool_mask(mask, target_shape: tuple[int, ...], *, name: str = "mask") -> np.ndarray:
    """Check that ``mask`` is boolean and broadcastable to ``target_shape`` (..., n_q, n_k)."""
    if isinstance(mask, (str, bytes)):
        raise TypeError(f"{name} must be a boolean array, got {type(mask).__name__}")
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
