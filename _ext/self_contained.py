"""Serve every script the built book needs from its own ``_static/`` (no CDN): a page opened from disk,
or from any sub-path of a static host, loads nothing from another origin.

The files are copied at build time from the pinned npm packages in ``js/`` (``make js-deps``, i.e.
``npm ci`` against js/package-lock.json), so their versions are the lock file's:

- require.js and the widget HTML manager (``@jupyter-widgets/html-manager``'s ``embed-amd.js``), which
  MyST-NB loads for pages with widget state (``nb_ipywidgets_js``);
- the anywidget front-end (its AMD ``dist/index.js``), which the HTML manager asks require.js for;
  ``vendor-paths.js`` maps the module name ``anywidget`` to the local copy, and the manager's fallback
  "CDN" is the page's own folder, so a missing file fails locally instead of going to jsDelivr;
- MathJax (``mathjax_path``), with the fonts and TeX extensions it loads next to itself.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

NODE_MODULES = Path(__file__).resolve().parent.parent / "js" / "node_modules"
VENDOR = "vendor-js"  # folder under _static/
# (file or folder inside js/node_modules, where it goes under _static/vendor-js/)
COPIES = [
    ("requirejs/require.js", "require.js"),
    ("@jupyter-widgets/html-manager/dist/embed-amd.js", "html-manager/embed-amd.js"),
    ("anywidget/dist/index.js", "anywidget/index.js"),
    ("mathjax/es5/tex-mml-chtml.js", "mathjax/tex-mml-chtml.js"),
    ("mathjax/es5/input/tex/extensions", "mathjax/input/tex/extensions"),
    ("mathjax/es5/output/chtml/fonts/woff-v2", "mathjax/output/chtml/fonts/woff-v2"),
    ("mathjax/es5/a11y", "mathjax/a11y"),
    ("mathjax/es5/ui", "mathjax/ui"),
    ("mathjax/es5/sre", "mathjax/sre"),
]
PACKAGES = ["requirejs", "@jupyter-widgets/html-manager", "anywidget", "mathjax"]
STATIC = Path(__file__).resolve().parent / "static"  # the course's own files for _static/ (vendor-js/vendor-paths.js, CSS)


def package_versions() -> dict[str, str]:
    """The installed version of each package the book serves (they must match js/package.json's pins)."""
    versions = {}
    for name in PACKAGES:
        manifest = NODE_MODULES / name / "package.json"
        if not manifest.is_file():
            raise ExtensionError(
                f"js/node_modules/{name} is missing: the book serves its scripts from pinned npm packages. "
                "Run `make js-deps` (npm ci in js/) before building."
            )
        versions[name] = json.loads(manifest.read_text())["version"]
    return versions


def configure(app: Sphinx, config) -> None:
    """Point MyST-NB's widget scripts and Sphinx's MathJax at the local copies (paths relative to _static/)."""
    package_versions()  # fail early, with the remedy, when the npm packages are missing
    config.nb_ipywidgets_js = {
        f"{VENDOR}/require.js": {},
        f"{VENDOR}/vendor-paths.js": {},
        # The manager falls back to "<cdn><package>@<version>/dist/index.js" when require.js cannot load a
        # module; "./" keeps that fallback on the page's own origin.
        f"{VENDOR}/html-manager/embed-amd.js": {"data-jupyter-widgets-cdn": "./"},
    }
    config.mathjax_path = f"{VENDOR}/mathjax/tex-mml-chtml.js"
    config.html_static_path = [*config.html_static_path, str(STATIC)]


def copy_vendor_files(app: Sphinx, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / VENDOR
    for source, destination in COPIES:
        source_path, destination_path = NODE_MODULES / source, target / destination
        destination_path.parent.mkdir(parents=True, exist_ok=True)
        if source_path.is_dir():
            shutil.copytree(source_path, destination_path, dirs_exist_ok=True)
        else:
            shutil.copy2(source_path, destination_path)
    (target / "VERSIONS.json").write_text(json.dumps(package_versions(), indent=1) + "\n")


def setup(app: Sphinx):
    app.connect("config-inited", configure)  # MyST-NB reads nb_* at builder-inited, after this
    app.connect("build-finished", copy_vendor_files)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
