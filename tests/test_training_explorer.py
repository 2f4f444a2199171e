"""TrainingExplorer (chapter 10): the data it sends, its synced settings, and bad data refused by name."""

import numpy as np
import pytest

import lessons_lib as ll
from lessons_lib.explorers import ExplorerValueError, TrainingExplorer


def snapshots(count=4, heads=2, n=3, seed=0):
    return ll.softmax(np.random.default_rng(seed).normal(size=(count, heads, n, n)))


def test_the_widget_carries_the_snapshots_and_starts_at_the_last_one():
    w = snapshots()
    explorer = TrainingExplorer(["a", "b", "c"], w, [0, 5, 10, 20], np.linspace(3, 1, 20))
    assert explorer.snapshot_index == 3 and explorer.head == 0
    assert explorer.head_labels == ["head 0", "head 1"]
    np.testing.assert_array_equal(explorer.shown_weights(), w[3, 0])
    explorer.snapshot_index, explorer.head = 1, 1
    np.testing.assert_array_equal(explorer.shown_weights(), w[1, 1])
    assert "training.js" in explorer._esm and "export default" in explorer._esm
    single = TrainingExplorer(["a", "b", "c"], w[:, 0], [0, 1, 2, 3], [1.0, 0.5, 0.2], snapshot_index=0)
    assert single.head_labels == ["head 0"] and single.snapshot_index == 0


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(snapshots=np.ones((4, 2, 3, 4)) / 4), ["n = 3"]),
        (dict(snapshots=np.ones((4, 2, 3, 3))), ["distribution"]),
        (dict(snapshots="x"), ["snapshots"]),
        (dict(snapshot_steps=[0, 5, 10]), ["4 integers"]),
        (dict(snapshot_steps=[0.0, 5.0, 10.0, 20.0]), ["integers"]),
        (dict(snapshot_steps=[0, 10, 5, 20]), ["non-decreasing"]),
        (dict(snapshot_steps=[0, 5, 10, 99]), ["len(losses) = 20"]),
        (dict(losses=[np.nan] * 20), ["losses"]),
        (dict(head_labels=["one"]), ["head_labels"]),
        (dict(head=2), ["head"]),
        (dict(snapshot_index=4), ["snapshot_index"]),
        (dict(tokens="abc"), ["tokens"]),
    ],
)
def test_bad_data_is_refused_by_name(kwargs, words):
    args = dict(tokens=["a", "b", "c"], snapshots=snapshots(), snapshot_steps=[0, 5, 10, 20], losses=np.ones(20))
    args.update(kwargs)
    with pytest.raises(ExplorerValueError) as info:
        TrainingExplorer(args.pop("tokens"), args.pop("snapshots"), args.pop("snapshot_steps"), args.pop("losses"), **args)
    for word in words:
        assert word in str(info.value)


def test_settings_out_of_range_are_refused_after_creation():
    explorer = TrainingExplorer(["a", "b", "c"], snapshots(), [0, 5, 10, 20], np.ones(20))
    with pytest.raises(ExplorerValueError, match="snapshot_index"):
        explorer.snapshot_index = 7
    with pytest.raises(ExplorerValueError, match="head"):
        explorer.head = -1
