"""lessons_lib.exercises: %%solution runs only for the book build; check() prints and never raises."""

import pytest

from lessons_lib import exercises
from lessons_lib.exercises import SOLUTIONS_ENV, check


def test_check_passes_and_fails_with_messages(capsys):
    assert check(True, "right", "try again")
    assert capsys.readouterr().out == "✓ right\n"
    assert not check(0, "right", "try again")
    assert capsys.readouterr().out == "Not yet: try again\n"


def test_check_turns_an_exception_in_a_callable_into_not_yet(capsys):
    result = check(lambda: 1 / 0, "right", "answer is not computed yet")
    assert not result
    assert "Not yet: answer is not computed yet (ZeroDivisionError" in capsys.readouterr().out


def test_check_says_when_the_answer_is_still_none(capsys):
    answer = None
    assert not check(lambda: answer + 1 == 2, "right", "add one")
    assert capsys.readouterr().out == "Not yet: add one (the answer is still None)\n"


def test_check_result_displays_nothing():
    assert check(True, "a", "b")._ipython_display_() is None


def test_check_refuses_non_string_messages():
    with pytest.raises(TypeError, match="success and hint"):
        check(True, 1, "b")


@pytest.mark.parametrize("value, enabled", [("1", True), ("0", False), ("", False), ("yes", False)])
def test_solutions_enabled_reads_the_environment(monkeypatch, value, enabled):
    monkeypatch.setenv(SOLUTIONS_ENV, value)
    assert exercises.solutions_enabled() is enabled


def test_solution_magic_runs_the_cell_only_when_enabled(monkeypatch, capsys):
    from IPython.testing.globalipapp import get_ipython

    ip = get_ipython()
    exercises.load_ipython_extension(ip)
    ip.user_ns["answer"] = None
    monkeypatch.delenv(SOLUTIONS_ENV, raising=False)
    ip.run_cell_magic("solution", "", "answer = 42")
    assert ip.user_ns["answer"] is None
    assert "Solution hidden" in capsys.readouterr().out
    monkeypatch.setenv(SOLUTIONS_ENV, "1")
    ip.run_cell_magic("solution", "", "answer = 42")
    assert ip.user_ns["answer"] == 42
