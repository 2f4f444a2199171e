"""Live attention explorers (anywidget) that stay interactive in the static book, with no kernel.

Each explorer takes its data from Python (computed with ``lessons_lib``), sends it to the page as
widget state, and does its interaction maths in one small pure JavaScript function (``math.js``).
In a live kernel its settings are synced traits, readable and settable from Python.

- :class:`SoftLookupExplorer` — chapter 1: drag a query among 2-D keys.
- :class:`AttentionExplorer` — chapters 2–4: click a token, follow scores → scale → mask → softmax → sum.
- :class:`HeadsExplorer` — chapters 5 and 7: all heads side by side, click one to enlarge it.
- :class:`OnlineSoftmaxExplorer` — chapter 6: step through the key blocks of the online softmax.

Bad data raises ``ValueError`` (:class:`ExplorerValueError`) before anything is displayed.
"""

try:
    import anywidget  # the explorers need these two beyond numpy
    import ipywidgets
except ModuleNotFoundError as exc:
    raise ImportError(
        f"lessons_lib.explorers needs anywidget and ipywidgets, and {exc.name} is not installed: "
        "pip install 'lessons_lib[explorers]'"
    ) from exc

from ._base import ExplorerValueError
from .attention import MASK_MODES, AttentionExplorer
from .heads import HeadsExplorer
from .online_softmax import OnlineSoftmaxExplorer
from .soft_lookup import SoftLookupExplorer

__all__ = [
    "SoftLookupExplorer",
    "AttentionExplorer",
    "HeadsExplorer",
    "OnlineSoftmaxExplorer",
    "ExplorerValueError",
    "MASK_MODES",
]
