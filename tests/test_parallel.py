"""_parallel: the default thread count (CPU affinity capped by a cgroup v2 CPU quota, failing safe) and the
worker threads that share a list of tasks."""

import os
import threading

import pytest

from lessons_lib import _parallel


# ---------------------------------------------------------------- the default: CPU affinity and cgroup quota


def affinity():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@pytest.mark.parametrize(
    "contents, quota",
    [
        ("100000 100000\n", 1),
        ("150000 100000\n", 2),  # 1.5 CPUs: round up
        ("50000 100000\n", 1),  # half a CPU still gets one thread
        ("800000 100000\n", 8),
        ("max 100000\n", None),  # no quota
        ("", None),
        ("garbage\n", None),
        ("abc 100000\n", None),
        ("100000 0\n", None),
        ("-1 100000\n", None),
        ("1 2 3\n", None),
    ],
)
def test_cgroup_quota_is_read_and_odd_contents_are_ignored(tmp_path, monkeypatch, contents, quota):
    path = tmp_path / "cpu.max"
    path.write_text(contents)
    monkeypatch.setattr(_parallel, "CGROUP_CPU_MAX", str(path))
    assert _parallel.cgroup_cpu_quota() == quota
    expected = affinity() if quota is None else min(affinity(), quota)
    assert _parallel.cpu_count() == max(1, expected)


def test_no_cgroup_file_means_no_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(_parallel, "CGROUP_CPU_MAX", str(tmp_path / "missing"))
    assert _parallel.cgroup_cpu_quota() is None
    assert _parallel.cpu_count() == affinity()


def test_an_unreadable_cgroup_path_means_no_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(_parallel, "CGROUP_CPU_MAX", str(tmp_path))  # a directory: open() fails
    assert _parallel.cgroup_cpu_quota() is None
    assert _parallel.cpu_count() == affinity()


# ---------------------------------------------------------------- run_in_threads


def test_run_in_threads_hands_out_each_task_once():
    done, lock = [], threading.Lock()

    def work(tasks, workspace):
        for task in tasks:
            with lock:
                done.append((task, workspace))

    _parallel.run_in_threads(work, range(100), ["a", "b", "c"])
    assert sorted(task for task, _ in done) == list(range(100))


def test_run_in_threads_raises_a_workers_exception():
    def work(tasks, workspace):
        for task in tasks:
            if task == 5:
                raise ValueError("task 5 failed")

    with pytest.raises(ValueError, match="task 5 failed"):
        _parallel.run_in_threads(work, range(10), [0, 1])
