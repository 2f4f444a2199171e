"""Static figures for the chapters (matplotlib). Values are always printed, never shown by colour alone."""

from __future__ import annotations

import numpy as np

__all__ = ["attention_heatmap", "weight_bars"]

# Colour-blind-safe sequential map; light cells get dark text and the reverse.
CMAP = "cividis"


def _matplotlib():
    try:
        import matplotlib.pyplot as plt
    except ModuleNotFoundError as exc:
        raise ImportError(
            f"lessons_lib.plots draws with matplotlib, and {exc.name} is not installed: "
            "pip install 'lessons_lib[plots]' (or pip install matplotlib)"
        ) from exc
    return plt


def attention_heatmap(weights, row_labels=None, col_labels=None, ax=None, title=None,
                      annotate=True, fmt=".2f", vmin=0.0, vmax=1.0, xlabel="key", ylabel="query",
                      colorbar_label="attention weight"):
    """Draw a (n_q, n_k) matrix as a labelled heatmap with each value printed in its cell.

    Masked entries given as NaN are drawn hatched and labelled "–". The colour bar is labelled
    ``colorbar_label`` (pass e.g. "score" when the matrix is not weights). Returns the axes.
    """
    plt = _matplotlib()
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2:
        raise ValueError(f"weights must be a 2-D (n_q, n_k) matrix, got shape {weights.shape}")
    n_q, n_k = weights.shape
    row_labels = list(range(n_q)) if row_labels is None else list(row_labels)
    col_labels = list(range(n_k)) if col_labels is None else list(col_labels)
    if len(row_labels) != n_q or len(col_labels) != n_k:
        raise ValueError(
            f"labels must match weights of shape {weights.shape}: got {len(row_labels)} row and {len(col_labels)} column labels"
        )
    if ax is None:
        size = (max(3.0, 0.55 * n_k + 1.5), max(2.5, 0.45 * n_q + 1.0))
        _, ax = plt.subplots(figsize=size)
    masked = np.ma.masked_invalid(weights)
    image = ax.imshow(masked, cmap=CMAP, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_facecolor("white")
    if np.isnan(weights).any():
        for i, j in zip(*np.nonzero(np.isnan(weights))):
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="0.6", lw=0))
    ax.set_xticks(range(n_k), [str(c) for c in col_labels], rotation=45 if n_k > 4 else 0, ha="right" if n_k > 4 else "center")
    ax.set_yticks(range(n_q), [str(r) for r in row_labels])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if annotate and n_q * n_k <= 400:
        mid = (vmin + vmax) / 2
        for i in range(n_q):
            for j in range(n_k):
                value = weights[i, j]
                text = "–" if np.isnan(value) else format(value, fmt)
                color = "black" if np.isnan(value) or value > mid else "white"
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color=color)
    colorbar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    colorbar.set_label(colorbar_label)
    return ax


def weight_bars(weights, labels, ax=None, title=None, fmt=".3f", xlabel="key", ylabel="weight"):
    """Bar chart of one row of attention weights, each bar labelled with its value. Returns the axes."""
    plt = _matplotlib()
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 1 or len(labels) != weights.shape[0]:
        raise ValueError(f"weights must be 1-D with one label each: got shape {weights.shape} and {len(labels)} labels")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3.0, 0.6 * len(labels) + 1.0), 2.8))
    bars = ax.bar(range(len(labels)), weights, color="#3b6fb6", edgecolor="black", hatch="//")
    ax.bar_label(bars, labels=[format(w, fmt) for w in weights], fontsize=8)
    ax.set_xticks(range(len(labels)), [str(t) for t in labels])
    ax.set_ylim(0, max(1.0, float(weights.max()) * 1.15))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax
