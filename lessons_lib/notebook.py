"""What a chapter needs from the book's tool chain at run time: ``glue``, without MyST-NB installed.

``glue(name, value)`` writes exactly the output ``myst_nb.glue`` writes (a display-data output whose
MIME types carry the ``application/papermill.record/`` prefix and whose metadata names the variable), so
the book renders the same, while Binder, Colab and a light local install need neither MyST-NB nor Sphinx.
"""

from __future__ import annotations

from typing import Any

#: The MIME-type prefix MyST-NB reads glued values from (``myst_nb.ext.glue.GLUE_PREFIX``).
GLUE_PREFIX = "application/papermill.record/"

__all__ = ["GLUE_PREFIX", "glue"]


def glue(name: str, variable: Any, display: bool = True) -> None:
    """Store ``variable``'s display form under ``name`` for ``{glue:text}`name```-style references.

    With ``display=False`` nothing shows in the notebook; the book still finds the value.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"glue: name must be a non-empty string, got {name!r}")
    if not isinstance(display, bool):
        raise TypeError(f"glue: display must be True or False, got {display!r}")
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipy_display

    mimebundle, metadata = format_display_data(variable)
    mime_prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = dict(name=name, mime_prefix=mime_prefix)
    ipy_display({mime_prefix + k: v for k, v in mimebundle.items()}, raw=True, metadata=metadata)
