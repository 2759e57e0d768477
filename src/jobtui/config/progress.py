"""A job's `progress:` regex, checked at load time and applied with bounded work.

A regex is code from the job file, applied over and over to output that the job
(so anyone who can make it print) controls: `(a+)+$` over 3,000 `a`s backtracks
for ever, and `(?:a{1000}){1000}` takes seconds just to compile. So:

- at load time (`check_progress`), the pattern must compile under both `re` and
  `regex`, be at most `MAX_PATTERN_CHARS` long and expand to at most
  `MAX_PATTERN_SIZE` atoms once counted repeats (`{n}`, `{n,m}`) are multiplied out;
- at run time (`ProgressPattern.search_last`), it sees only the last `MAX_LINES`
  lines of the output, each cut to its last `MAX_LINE_CHARS` characters, and all
  its searches share one time budget (`regex`'s timeout, which stops the matching
  engine itself, where a thread around `re` could only stop waiting for it).
"""

from __future__ import annotations

import re
import time
from functools import lru_cache
from typing import Any, Protocol

import regex  # type: ignore[import-untyped, unused-ignore]

from jobtui.config.errors import ConfigError
from jobtui.model import Location

MAX_PATTERN_CHARS = 1000
MAX_PATTERN_SIZE = 10_000
MAX_LINES = 50
MAX_LINE_CHARS = 1000
TIME_BUDGET = 0.05
"""Seconds of matching per `search_last` call, over all the lines it looks at."""

_COUNT = re.compile(r"\{(\d*)(?:,(\d*))?\}")


class Match(Protocol):
    """What `search_last` returns: the part of `re.Match` a progress reader uses."""

    def group(self, index: int | str = 0, /) -> Any: ...

    def groups(self) -> tuple[Any, ...]: ...

    def groupdict(self) -> dict[str, Any]: ...


class ProgressPattern:
    """A compiled `progress:` regex whose every use is bounded in input and time."""

    def __init__(self, pattern: str, budget: float = TIME_BUDGET) -> None:
        """Compile `pattern` (checked with `check_progress` first, as load_jobs does).

        Raises:
            ConfigError: the pattern is invalid or too large.
        """
        check_progress(pattern)
        self.pattern = pattern
        self.budget = budget
        self._compiled = regex.compile(pattern)

    def search_last(self, tail: str) -> Match | None:
        """The last match in the latest output, or None.

        Looks at the last `MAX_LINES` lines of `tail`, each cut to its last
        `MAX_LINE_CHARS` characters. When the time budget runs out, the last match
        found so far is the answer (None if there was none): a pathological regex
        costs at most `budget` seconds per call and shows no progress.
        """
        deadline = time.monotonic() + self.budget
        last: Match | None = None
        for line in tail.splitlines()[-MAX_LINES:]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                for match in self._compiled.finditer(line[-MAX_LINE_CHARS:], timeout=remaining):
                    last = match
            except TimeoutError:
                break
        return last


@lru_cache(maxsize=256)
def progress_pattern(pattern: str) -> ProgressPattern:
    """`ProgressPattern(pattern)`, compiled once per distinct pattern."""
    return ProgressPattern(pattern)


def check_progress(pattern: str, location: Location | None = None, label: str = "a job") -> None:
    """Raise ConfigError unless `pattern` is a regex that is cheap to compile and apply.

    Raises:
        ConfigError: invalid in `re` or `regex`, longer than `MAX_PATTERN_CHARS`, or
            expanding to more than `MAX_PATTERN_SIZE` atoms.
    """
    hint = "in YAML, write regexes in single quotes: '(\\d+)%'"
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ConfigError(
            f"'progress' in {label} is longer than {MAX_PATTERN_CHARS} characters",
            location,
            "a progress regex only needs to find a number, like '(\\d+)%'",
        )
    _compiles(re.compile, re.error, pattern, location, label, hint)
    size = expanded_size(pattern)
    if size > MAX_PATTERN_SIZE:
        raise ConfigError(
            f"'progress' in {label} is too large: its counted repeats ({{n}}, {{n,m}})"
            f" expand to more than {MAX_PATTERN_SIZE} atoms",
            location,
            "use + or * instead of large counts, like '(\\d+)%'",
        )
    # Checked by `re` first (its messages are clearer), and by `regex`, which applies it.
    _compiles(regex.compile, regex.error, pattern, location, label, hint)


def _compiles(
    compile_: Any,
    error: type[Exception],
    pattern: str,
    location: Location | None,
    label: str,
    hint: str,
) -> None:
    try:
        compile_(pattern)
    except (error, OverflowError, RecursionError) as e:
        raise ConfigError(
            f"'progress' in {label} is not a valid regex: {e}", location, hint
        ) from None


def expanded_size(pattern: str) -> int:
    """An upper estimate of the atoms in `pattern` once `{n}`/`{n,m}` are multiplied out.

    `(?:a{1000}){1000}` is 1,000,000: the `regex` engine writes each counted repeat
    out, so that is what compiling it costs. Unbounded `*`, `+` and `{n,}` count
    their minimum once (they loop rather than expand).
    """
    # Frames of [total, last atom's size]; a group is one atom of its total size.
    stack = [[0, 0]]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        frame = stack[-1]
        count = _COUNT.match(pattern, i) if char == "{" else None
        if count and (count.group(1) or count.group(2)):
            low, high = count.group(1), count.group(2)
            times = int(high) if high else int(low or 0)
            if count.group(0).endswith(",}"):  # {n,}: n copies, then a loop
                times = int(low or 0)
            frame[0] += frame[1] * (max(times, 1) - 1)
            frame[1] *= max(times, 1)
            i = count.end()
            if frame[0] > MAX_PATTERN_SIZE:
                return frame[0]
            continue
        if char == "(":
            stack.append([0, 0])
        elif char == ")" and len(stack) > 1:
            done = stack.pop()
            stack[-1][0] += max(done[0], 1)
            stack[-1][1] = max(done[0], 1)
        elif char in "*+?|^$":
            pass
        else:
            if char == "\\":
                i += 1
            elif char == "[":
                i = _class_end(pattern, i)
            frame[0] += 1
            frame[1] = 1
        i += 1
    return sum(frame[0] for frame in stack)


def _class_end(pattern: str, start: int) -> int:
    """The index of the `]` that closes the character class opened at `start`."""
    i = start + 1
    if pattern.startswith("^", i):
        i += 1
    if pattern.startswith("]", i):
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i
