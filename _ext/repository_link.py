"""Make the repository's address, which lives only in _config.yml (``repository: url:``), available to
the pages as MyST substitutions: ``{{ repository_link }}`` (a Markdown link) and ``{{ repository_url }}``."""

from __future__ import annotations

from sphinx.application import Sphinx
from sphinx.errors import ConfigError


def add_repository_substitutions(app: Sphinx, config) -> None:
    url = (config.html_theme_options or {}).get("repository_url", "")  # Jupyter Book puts repository.url here
    if not url:
        raise ConfigError("_config.yml has no `repository: url:`; the intro links the repository from it")
    url = url.rstrip("/")
    name = url.split("://", 1)[-1]
    config.myst_substitutions = {**config.myst_substitutions, "repository_url": url, "repository_link": f"[{name}]({url})"}


def setup(app: Sphinx):
    app.connect("config-inited", add_repository_substitutions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
