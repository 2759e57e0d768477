"""Problems: the runs that did not succeed, grouped by the same error.

At 3 a.m., with 40 of 200 backups failed, the question is "why?", not "which?": as
`clush -b` gathers hosts whose output is the same, `group` gathers runs whose error
is the same once what varies from host to host is masked (addresses, numbers, ids,
paths, times), so `connection to 10.0.0.7 failed` and `connection to 10.0.0.9
failed` are one problem, `connection to <ip> failed`, on two hosts.

Pure functions, no I/O and no Textual: the JSON summary, the headless reporter and
the console's problems view all group with these. The text here is the host's, raw:
whoever shows it makes it inert (`text.one_line`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jobtui.events import RunView
from jobtui.model import RunKey, RunState

MAX_ERROR = 200
"""Characters of an error kept (its start: where a message says what went wrong)."""
REASON_FIRST = frozenset(
    {RunState.UNREACHABLE, RunState.LOST, RunState.CANCELLED, RunState.SKIPPED}
)
"""Ends that are not the job's own doing: their reason (the connection refused, the
supervisor gone, the operator) is the cause, whatever the job printed last."""
NO_OUTPUT = "(no output)"
"""The error of a run that printed nothing and was given no reason."""

_DIGITS = "0123456789"
_MASKS: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), placeholder, needs)
    for pattern, placeholder, needs in (
        # In this order, so that whole things (a URL, a UUID, a date) are masked
        # before their parts (a path, hex, numbers) could be. `needs`: characters of
        # which the message must hold one for the pattern to be tried at all (a
        # pass costs about as much as any other: most messages need few of them).
        (r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", "<url>", "/"),
        (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<uuid>", "-"),
        (
            r"\b\d{4}-\d{2}-\d{2}(?:[t ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
            r"(?:z|[+-]\d{2}:?\d{2})?)?(?![\w:])",
            "<time>",
            "-",
        ),
        (r"(?<![\w:.])\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?![\w:])", "<time>", ":"),
        (r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?!\w|\.\d)", "<ip>", "."),
        (
            r"(?<![\w:])(?=[0-9a-f:]*\d)(?:(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{1,4}"
            r"|(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?::(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?)"
            r"(?![\w:])|(?<![\w:])::(?![\w:])",
            "<ip>",
            ":",
        ),
        (
            r"(?<![\w<>/])(?:~|\.{1,2})?(?:/+[\w.@%+=,~-]+)+/*|(?<![\w<>/])/+(?![\w<])",
            "<path>",
            "/",
        ),
        (
            r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,}\b",
            "<hex>",
            _DIGITS,
        ),
        (
            r"(?<![\w.])\d+(?:\.\d+)?(?:ms|us|µs|ns|[smhd])(?:\d+(?:ms|[smh]))*\b",
            "<dur>",
            _DIGITS,
        ),
        # A number, unless it is part of a word between letters (`e2fsck`): `db01`
        # and `host12` are a host's number, `port 22` a port's.
        (r"(?<![a-z])\d+(?:[.,]\d+)*|\d+(?:[.,]\d+)*(?![a-z])", "<n>", _DIGITS),
    )
)
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=32768)  # at most ~10 MB: errors are cut to MAX_ERROR characters
def mask(message: str) -> str:
    """The message with what varies between hosts replaced by placeholders: `<ip>`
    (IPv4, with its port, and IPv6), `<uuid>`, `<hex>` (ids of 6+ hex digits with a
    digit in them, `0x…`), `<path>`, `<url>`, `<time>` (dates, times), `<dur>`
    (`12s`, `1m30s`, `250ms`) and `<n>` (any other number); runs of white space
    become one space. Words stay as they are: two messages that differ in a word
    never mask the same. Masking a masked message changes nothing.
    """
    text, before = _SPACES.sub(" ", message).strip(), ""
    # Until nothing changes: a placeholder can make what follows it look masked
    # (`T0::` is `T<n>::`, whose `::` stands alone now). Each pass that changes the
    # text takes digits, `:`, `/` or `-` out of it (placeholders hold none): it ends.
    while text != before:
        before = text
        for pattern, placeholder, needs in _MASKS:
            if any(c in text for c in needs):
                text = pattern.sub(placeholder, text)
    return text


def _last_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()
    return ""


def error_of(view: RunView) -> str:
    """What a run's error says, raw (at most `MAX_ERROR` characters): its last
    non-empty stderr line, else its last stdout line, else its reason; the reason
    first for the ends that are not the job's own (`REASON_FIRST`)."""
    output = _last_line(view.stderr_tail) or _last_line(view.tail)
    reason = view.reason.strip()
    first, second = (reason, output) if view.state in REASON_FIRST else (output, reason)
    error = first or second or NO_OUTPUT
    return error if len(error) <= MAX_ERROR else error[: MAX_ERROR - 1] + "…"


@dataclass(frozen=True)
class Problem:
    """Runs that ended the same way with the same (masked) error."""

    state: RunState
    rc: int | None
    pattern: str
    """The error, masked (`connection to <ip> failed`)."""
    error: str
    """The error as the runs said it when they all said the same, else `pattern`."""
    runs: tuple[RunView, ...]
    """Sorted by host, job, item."""

    @property
    def key(self) -> tuple[RunState, int | None, str]:
        return (self.state, self.rc, self.pattern)

    @property
    def keys(self) -> frozenset[RunKey]:
        return frozenset(v.key for v in self.runs)

    @property
    def hosts(self) -> list[str]:
        """Its runs' hosts, sorted, each once."""
        return sorted({v.host for v in self.runs})

    def summary(self) -> dict[str, Any]:
        """The problem in the JSON summary (`problems`): `runs` names its runs as the
        summary's `runs` list does (host, job, item, jid), `count` is how many."""
        return {
            "state": self.state.value,
            "rc": self.rc,
            "error": self.error,
            "pattern": self.pattern,
            "count": len(self.runs),
            "runs": [
                {"host": v.host, "job": v.job, "item": v.item, "jid": v.jid} for v in self.runs
            ],
            "hosts": self.hosts,
        }


_STATE_RANK = {state: rank for rank, state in enumerate(RunState)}


def group(views: Iterable[RunView]) -> list[Problem]:
    """The runs that did not succeed (`RunState.failed`: a running or pending run is
    no problem yet), grouped by state, rc and masked error: the biggest group first,
    then by state (in `RunState`'s order), rc and error, so the order is stable."""
    groups: dict[tuple[RunState, int | None, str], list[tuple[RunView, str]]] = {}
    for v in views:
        if not v.state.failed:
            continue
        error = error_of(v)
        groups.setdefault((v.state, v.rc, mask(error)), []).append((v, error))
    problems = []
    for (state, rc, pattern), members in groups.items():
        members.sort(key=lambda m: (m[0].host, m[0].job, m[0].key.item_index, m[0].item))
        errors = {error for _, error in members}
        error = errors.pop() if len(errors) == 1 else pattern
        problems.append(Problem(state, rc, pattern, error, tuple(v for v, _ in members)))
    problems.sort(
        key=lambda p: (
            -len(p.runs),
            _STATE_RANK[p.state],
            p.rc is not None,
            p.rc or 0,
            p.pattern,
        )
    )
    return problems


def hosts_text(hosts: list[str], shown: int = 5) -> str:
    """`db01, db02, db03, db04, db05 and 12 more`: a group's hosts, the first few."""
    if len(hosts) <= shown + 1:
        return ", ".join(hosts)
    return f"{', '.join(hosts[:shown])} and {len(hosts) - shown} more"


def outcome_text(problem: Problem) -> str:
    """`failed rc=3`, `timed out`, `unreachable`: how the runs of a problem ended."""
    text = problem.state.value.replace("_", " ")
    return f"{text} rc={problem.rc}" if problem.rc is not None else text
