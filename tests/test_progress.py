"""`progress:` regexes: checked at load time, applied with bounded input and time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from jobtui.config.errors import ConfigError
from jobtui.config.jobs import load_jobs
from jobtui.config.progress import (
    MAX_LINE_CHARS,
    MAX_PATTERN_SIZE,
    ProgressPattern,
    check_progress,
    expanded_size,
    progress_pattern,
)
from jobtui.model import Location


def returns_within(seconds: float, call: Callable[[], object]) -> object:
    """Run `call` in a thread; fail if it has not returned after `seconds` (generous)."""
    result: list[object] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(call())
        except BaseException as e:  # handed to the test's thread below
            errors.append(e)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if errors:
        raise errors[0]
    return result[0]


def test_catastrophic_backtracking_returns() -> None:
    pattern = ProgressPattern("(a+)+$")
    assert returns_within(20, lambda: pattern.search_last("a" * 3000 + "b")) is None


def test_catastrophic_backtracking_on_many_lines_shares_one_budget() -> None:
    pattern = ProgressPattern("(a+)+$")
    tail = "\n".join(["a" * 40 + "b"] * 50)
    assert returns_within(20, lambda: pattern.search_last(tail)) is None


def test_the_last_match_of_the_last_lines_counts() -> None:
    match = ProgressPattern(r"(\d+)%").search_last("10%\nstep 20% and 30%\nno number\n")
    assert match is not None and match.group(1) == "30"


def test_named_msg_group_is_kept() -> None:
    match = progress_pattern(r"(\d+)% (?P<msg>.*)").search_last("5% copying a\n7% copying b")
    assert match is not None and match.groupdict()["msg"] == "copying b"


def test_long_lines_are_cut_to_their_end() -> None:
    line = "1% " + "x" * (MAX_LINE_CHARS * 5) + " 42%"
    match = ProgressPattern(r"(\d+)%").search_last(line)
    assert match is not None and match.group(1) == "42"


def test_expanded_size_multiplies_nested_counts() -> None:
    assert expanded_size(r"(\d+)%") == 2
    assert expanded_size(r"(?:a{1000}){1000}") > MAX_PATTERN_SIZE
    assert expanded_size(r"[{]{3}\{9}") == 6  # [{] x 3, then \{ 9 }


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(\\d+", "not a valid regex"),
        ("(?:(?:a{1000}){1000}){1000}", "too large"),
        ("a{100000000}", "too large"),
        ("a{4294967296}", "not a valid regex"),
        ("x" * 2000, "longer than"),
    ],
)
def test_bad_or_costly_patterns_are_refused(pattern: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_progress(pattern, Location("jobs.yml", 5, 15), "job 'j'")
    assert reason in info.value.message
    assert info.value.location == Location("jobs.yml", 5, 15)


def test_load_jobs_refuses_a_costly_progress_regex(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yml"
    path.write_text(
        "jobs:\n  - name: j\n    hosts: all\n    shell: 'true'\n"
        "    progress: '(?:(?:a{1000}){1000}){1000}'\n"
    )
    with pytest.raises(ConfigError) as info:
        returns_within(20, lambda: load_jobs(str(path)))
    assert "too large" in info.value.message
    assert info.value.location == Location(str(path), 5, 15)


def test_a_regex_that_times_out_shows_no_progress_rather_than_hanging() -> None:
    pattern = ProgressPattern("(a|aa)+$", budget=0.05)
    assert returns_within(20, lambda: pattern.search_last("a" * 900 + "0")) is None
