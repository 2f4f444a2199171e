"""Escape every ``<`` in the widget state that MyST-NB embeds in a page, so that no label can end the
``<script>`` tag early, open an HTML comment or inject markup.

MyST-NB 1.4.0 writes the notebook's widget state into ``<script type="application/vnd.jupyter.widget-state+json">``
and its ``sanitize_script_content`` replaces only the exact, lower-case ``</script>``: a label containing
``</SCRIPT>``, ``</script >`` or ``<!--<script>`` still ends or breaks the tag, and markup after it runs
in the reader's page. ipywidgets' own embedding escapes ``<`` as ``\\u003c``, which JSON.parse reads back
as the same character. TODO(upstream): report to executablebooks/MyST-NB that
``myst_nb.core.render.sanitize_script_content`` should escape every ``<`` (as ipywidgets.embed does);
this extension can go once a fixed MyST-NB is pinned.
"""

from __future__ import annotations

import json

from sphinx.application import Sphinx

WIDGET_STATE_TYPE = "application/vnd.jupyter.widget-state+json"


def escape_for_script(data) -> str:
    """JSON text that is safe inside any HTML ``<script>`` element: no ``<`` at all."""
    return json.dumps(data).replace("<", "\\u003c")


def escape_widget_state(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    scripts = context.get("script_files") or []
    for index, script in enumerate(scripts):
        attributes = getattr(script, "attributes", {})
        if attributes.get("type") == WIDGET_STATE_TYPE and "body" in attributes:
            # MyST-NB's body is json.dumps output with "</script>" turned into "<\/script>": still JSON.
            body = escape_for_script(json.loads(attributes["body"]))
            scripts[index] = type(script)(script.filename, priority=script.priority, **{**attributes, "body": body})


def setup(app: Sphinx):
    app.connect("html-page-context", escape_widget_state, priority=900)  # after MyST-NB adds the state (500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
