"""Show each explorer's static picture where the live widget cannot run, and in print.

An explorer's stored output carries, next to its widget view, a picture of its initial state
(``image/svg+xml``, or ``image/png``) and a one-line ``text/plain`` summary. MyST-NB keeps one mime type
per output (the widget view, in HTML); this post-transform runs just before that choice and moves the
picture out of the bundle, into ``div.lx-fallback-picture`` (the picture, then the summary as its
caption) beside the bundle, both inside ``div.lx-explorer-output``. explorer-fallback.css shows the
picture until the explorer renders (JavaScript off or failed: it stays) and in print, where the live
widget is hidden.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PICTURES = ("image/svg+xml", "image/png")


class ExplorerFallbackPicture(SphinxPostTransform):
    default_priority = 3  # before MyST-NB's SelectMimeType (4) drops every mime type but one
    formats = ("html",)

    def run(self, **kwargs) -> None:
        for bundle in list(self.document.findall(nodes.container)):
            if bundle.get("nb_element") != "mime_bundle":
                continue
            by_type = {child.get("mime_type"): child for child in bundle.children}
            picture = next((by_type[t] for t in PICTURES if t in by_type), None)
            if WIDGET_VIEW not in by_type or picture is None:
                continue
            summary = by_type["text/plain"].astext().strip() if "text/plain" in by_type else ""
            bundle.remove(picture)
            fallback = nodes.container(classes=["lx-fallback-picture"])
            for image in picture.findall(nodes.image):
                image["alt"] = summary or "Static picture of the explorer's initial state"
                image["classes"].append("lx-fallback-image")
            fallback.extend(picture.children)
            if summary:
                fallback.append(nodes.paragraph(summary, summary, classes=["lx-fallback-caption"]))
            wrapper = nodes.container(classes=["lx-explorer-output"])
            bundle.replace_self(wrapper)
            wrapper.extend([bundle, fallback])


def setup(app: Sphinx):
    app.add_post_transform(ExplorerFallbackPicture)
    app.add_css_file("explorer-fallback.css")  # in _ext/static/, which self_contained adds to html_static_path
    return {"parallel_read_safe": True, "parallel_write_safe": True}
