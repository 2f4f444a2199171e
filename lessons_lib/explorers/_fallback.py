"""Static pictures of the explorers, for pages without JavaScript and for print.

Each explorer's ``_repr_mimebundle_`` adds, beside the live widget view, an ``image/svg+xml`` picture of
its initial state (root element class ``lx-fallback``, a one-line caption inside) and a one-line
``text/plain`` summary. The SVG is written here, without matplotlib, and is deterministic (nbval compares it):
fixed decimals, no random ids, heatmaps as one small embedded PNG.
"""

from __future__ import annotations

import base64
import functools
import html
import re
import struct
import zlib

import numpy as np

from ._base import _HERE

__all__ = ["svg_picture", "heatmap_image", "labelled_heatmap", "weight_rgb", "text_on", "label", "one_line"]

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
HIDDEN_RGB = (230, 230, 230)  # masked cells, as in ui.js


@functools.cache
def _cividis() -> np.ndarray:
    """The 33 cividis stops of ui.js (CIVIDIS_HEX), read from there: one home for the colour map."""
    source = (_HERE / "ui.js").read_text(encoding="utf-8")
    block = re.search(r"const CIVIDIS_HEX =((?:\s*\"[0-9a-f]+\"\s*\+?)+);", source).group(1)
    hex_string = "".join(re.findall(r'"([0-9a-f]+)"', block))
    return np.array([[int(hex_string[i + o : i + o + 2], 16) for o in (0, 2, 4)] for i in range(0, len(hex_string), 6)], float)


def weight_rgb(weights) -> np.ndarray:
    """(..., 3) uint8 colours of weights in [0, 1]: cividis of √w, like ui.js's weightColour."""
    stops = _cividis()
    t = np.sqrt(np.clip(np.nan_to_num(np.asarray(weights, float)), 0.0, 1.0)) * (len(stops) - 1)
    i = np.minimum(np.floor(t).astype(int), len(stops) - 2)
    f = (t - i)[..., None]
    return np.round(stops[i] + f * (stops[i + 1] - stops[i])).astype(np.uint8)


def _png(rgb: np.ndarray) -> bytes:
    """A minimal RGB PNG of an (h, w, 3) uint8 array."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[row].tobytes() for row in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def heatmap_image(weights, hidden=None, *, x: float, y: float, width: float, height: float) -> str:
    """An <image> of a weight matrix, one pixel per cell, scaled up without smoothing; hidden cells grey."""
    rgb = weight_rgb(weights)
    if hidden is not None:
        rgb[np.asarray(hidden, bool)] = HIDDEN_RGB
    data = base64.b64encode(_png(rgb)).decode("ascii")
    return (f'<image x="{x:g}" y="{y:g}" width="{width:g}" height="{height:g}" preserveAspectRatio="none" '
            f'style="image-rendering:pixelated" href="data:image/png;base64,{data}"/>')


def one_line(text: str, limit: int = 60) -> str:
    """A label on one line, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def label(text: str, limit: int = 40) -> str:
    """A label for SVG text: one line, escaped, and bidi-isolated (FSI … PDI) so it cannot reorder its line."""
    return html.escape(f"\u2068{one_line(text, limit)}\u2069")


def svg_picture(body: str, *, width: float, height: float, caption: str, description: str) -> str:
    """The whole picture: a light background (it is an image, readable in any theme), the body, the caption."""
    width = max(width, 7.0 * len(caption) + 16)
    total = height + 26
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lx-fallback" width="{width:g}" height="{total:g}" '
        f'viewBox="0 0 {width:g} {total:g}" role="img" aria-label="{html.escape(description)}" '
        f'font-family="{html.escape(FONT)}" font-size="12">'
        f"<title>{html.escape(description)}</title>"
        f'<rect width="100%" height="100%" fill="#ffffff" stroke="#c4c8cc"/>'
        f"{body}"
        f'<text x="8" y="{height + 17:g}" fill="#333333" font-size="12">{html.escape(caption)}</text>'
        "</svg>"
    )


def text_on(rgb) -> str:
    """Black or white text on the colour, whichever has the higher WCAG contrast ratio (as ui.js's textOn)."""
    channels = np.asarray(rgb, float) / 255
    linear = np.where(channels <= 0.03928, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    lum = float(linear @ [0.2126, 0.7152, 0.0722])
    return "#000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#fff"


def labelled_heatmap(weights, hidden, row_labels, col_labels, *, highlight_row=None, max_size=360, x0=8, y0=8):
    """A heatmap with its labels (when the cells are big enough) and printed weights (when they fit).

    Returns (svg, width, height). Rows with every key hidden may be None in ``weights``.
    """
    n, m = len(row_labels), len(col_labels)
    cell = max(4, min(40, max_size // max(n, m)))
    show_labels = cell >= 9
    longest = max(len(one_line(s, 14)) for s in list(row_labels) + list(col_labels))
    margin = min(100, 7 * longest + 10) if show_labels else 4
    left, top = x0 + margin, y0 + margin
    matrix = np.array([[0.0] * m if row is None else row for row in weights], float)
    grey = np.zeros((n, m), bool) if hidden is None else np.array(hidden, bool)
    grey[[row is None for row in weights]] = True
    parts = [heatmap_image(matrix, grey, x=left, y=top, width=m * cell, height=n * cell)]
    if show_labels:
        for i, s in enumerate(row_labels):
            bold = ' font-weight="bold"' if i == highlight_row else ""
            parts.append(f'<text x="{left - 4}" y="{top + (i + 0.5) * cell + 4:g}" text-anchor="end"{bold}>{label(s, 14)}</text>')
        for j, s in enumerate(col_labels):
            cx, cy = left + (j + 0.5) * cell + 4, top - 4
            parts.append(f'<text x="{cx:g}" y="{cy}" transform="rotate(-90 {cx:g} {cy})">{label(s, 14)}</text>')
    if cell >= 28:  # print the weights: the value is readable without colour
        colours = weight_rgb(matrix)
        for i in range(n):
            for j in range(m):
                if not grey[i, j]:
                    parts.append(f'<text x="{left + (j + 0.5) * cell:g}" y="{top + (i + 0.5) * cell + 4:g}" text-anchor="middle" '
                                 f'font-size="10" fill="{text_on(colours[i, j])}">{matrix[i, j]:.2f}</text>')
    if highlight_row is not None:
        parts.append(f'<rect x="{left}" y="{top + highlight_row * cell}" width="{m * cell}" height="{cell}" fill="none" stroke="#000" stroke-width="1.5"/>')
    return "".join(parts), left + m * cell + 8, top + n * cell + 8
