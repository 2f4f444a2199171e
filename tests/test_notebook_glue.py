"""lessons_lib.notebook.glue writes exactly what myst_nb.glue writes, so the book renders the same."""

import numpy as np
import pytest

from lessons_lib.notebook import GLUE_PREFIX, glue


def _captured(glue_function, *args, **kwargs):
    from IPython.testing.globalipapp import get_ipython

    ip = get_ipython()
    ip.display_formatter.active_types = list(ip.display_formatter.formatters)  # as in a kernel
    published = []
    original = ip.display_pub.publish

    def record(data, metadata=None, **extra):
        published.append((data, metadata))

    ip.display_pub.publish = record
    try:
        glue_function(*args, **kwargs)
    finally:
        ip.display_pub.publish = original
    return published


@pytest.mark.parametrize("value", [0.4375, 3, "text", np.float32(1.25), np.array([0.1, 0.2])])
@pytest.mark.parametrize("display", [True, False])
def test_same_output_as_myst_nb(value, display):
    myst_nb = pytest.importorskip("myst_nb")
    ours = _captured(glue, "name", value, display=display)
    theirs = _captured(myst_nb.glue, "name", value, display=display)
    assert ours == theirs
    assert len(ours) == 1


def test_hidden_value_uses_the_papermill_prefix():
    [(data, metadata)] = _captured(glue, "answer", 42, display=False)
    assert data == {GLUE_PREFIX + "text/plain": "42"}
    assert metadata["scrapbook"] == {"name": "answer", "mime_prefix": GLUE_PREFIX}


class _Picture:
    """Stands in for a figure: anything with a PNG representation is glued as an image."""

    def _repr_png_(self):
        return b"\x89PNG fake"


def test_rich_values_keep_their_image_form():
    [(data, _)] = _captured(glue, "fig", _Picture(), display=False)
    assert GLUE_PREFIX + "image/png" in data


@pytest.mark.parametrize("name, display, message", [("", True, "name"), (3, True, "name"), ("x", "no", "display")])
def test_bad_arguments(name, display, message):
    with pytest.raises(TypeError, match=message):
        glue(name, 1, display=display)


def test_glue_is_exported_at_the_top_level():
    import lessons_lib

    assert lessons_lib.glue is glue
