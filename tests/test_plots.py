"""lessons_lib.plots: labelled figures whose values are printed, not carried by colour alone."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lessons_lib.plots import attention_heatmap, weight_bars  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_heatmap_prints_every_value_labels_axes_and_colour_bar():
    weights = np.array([[0.25, 0.75], [1.0, 0.0]])
    ax = attention_heatmap(weights, ["a", "b"], ["x", "y"], title="t")
    assert sorted(t.get_text() for t in ax.texts) == ["0.00", "0.25", "0.75", "1.00"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("key", "query", "t")
    colorbar_axes = [a for a in ax.figure.axes if a is not ax]
    assert len(colorbar_axes) == 1 and colorbar_axes[0].get_ylabel() == "attention weight"


def test_heatmap_colour_bar_label_can_name_other_quantities():
    ax = attention_heatmap(np.array([[-2.0, 3.0]]), vmin=-2, vmax=3, colorbar_label="score")
    assert [a for a in ax.figure.axes if a is not ax][0].get_ylabel() == "score"


def test_heatmap_marks_masked_cells_with_a_dash_and_hatching():
    ax = attention_heatmap(np.array([[1.0, np.nan]]))
    assert sorted(t.get_text() for t in ax.texts) == ["1.00", "–"]
    assert any(p.get_hatch() == "///" for p in ax.patches)


@pytest.mark.parametrize(
    "weights, rows, cols, message",
    [
        (np.ones(3), None, None, r"2-D \(n_q, n_k\) matrix, got shape \(3,\)"),
        (np.ones((2, 3)), ["a"], None, r"labels must match weights of shape \(2, 3\): got 1 row and 3 column labels"),
    ],
)
def test_heatmap_bad_input(weights, rows, cols, message):
    with pytest.raises(ValueError, match=message):
        attention_heatmap(weights, rows, cols)


def test_weight_bars_label_each_bar_with_its_value():
    ax = weight_bars(np.array([0.2, 0.8]), ["cat", "dog"])
    assert [t.get_text() for t in ax.texts] == ["0.200", "0.800"]
    with pytest.raises(ValueError, match=r"got shape \(2,\) and 3 labels"):
        weight_bars(np.array([0.2, 0.8]), ["a", "b", "c"])


def test_without_matplotlib_a_plot_says_what_to_install():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['matplotlib'] = None; sys.modules['matplotlib.pyplot'] = None\n"
        "from lessons_lib.plots import weight_bars\n"
        "try:\n"
        "    weight_bars([0.5, 0.5], ['a', 'b'])\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ImportError lessons_lib.plots draws with matplotlib"), done.stdout
    assert "pip install 'lessons_lib[plots]'" in done.stdout
