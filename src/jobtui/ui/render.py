"""Pure renderers: a run, a state, a duration or a progress value as Rich text.

No Textual here (only Rich), no I/O and no clock of its own: every function that
depends on the time takes `now` (epoch seconds), so the tests and the snapshots are
deterministic. Job output only ever reaches the screen through `output_text`, which
passes it through `report.sanitize` and builds a `Text` without markup, so escape
sequences and `[markup]` in job output stay inert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rich.text import Text

from jobtui.events import RunView
from jobtui.model import RunState
from jobtui.report import duration, sanitize

RunKey = tuple[str, str, int]


@dataclass(frozen=True)
class StateLook:
    """How a state is shown: a one-cell symbol, a label and a Rich style."""

    symbol: str
    label: str
    style: str


STATE_LOOK: dict[RunState, StateLook] = {
    RunState.PENDING: StateLook("◌", "pending", "grey62"),
    RunState.RUNNING: StateLook("▶", "running", "bold deep_sky_blue1"),
    RunState.SUCCEEDED: StateLook("✔", "succeeded", "green3"),
    RunState.FAILED: StateLook("✘", "failed", "bold red1"),
    RunState.TIMED_OUT: StateLook("◷", "timed out", "bold dark_orange"),
    RunState.CANCELLED: StateLook("⊘", "cancelled", "yellow3"),
    RunState.LOST: StateLook("?", "lost", "bold magenta"),
    RunState.UNREACHABLE: StateLook("↯", "unreachable", "bold orange_red1"),
}

STATE_ORDER: dict[RunState, int] = {
    state: rank
    for rank, state in enumerate(
        [
            RunState.FAILED,
            RunState.TIMED_OUT,
            RunState.LOST,
            RunState.UNREACHABLE,
            RunState.RUNNING,
            RunState.PENDING,
            RunState.CANCELLED,
            RunState.SUCCEEDED,
        ]
    )
}
"""Most urgent first: the order of the `state` sort and of the counts."""

ALERT_STATES = frozenset({RunState.FAILED, RunState.TIMED_OUT, RunState.LOST})
"""A run entering one of these is worth a toast."""

COLUMNS: tuple[tuple[str, str], ...] = (
    ("host", "Host"),
    ("job", "Job"),
    ("item", "Item"),
    ("state", "State"),
    ("progress", "Progress"),
    ("elapsed", "Elapsed"),
    ("rc", "rc"),
    ("attempt", "#"),
)
"""The run table's columns: key and label, in order."""

FIXED_WIDTHS = {"state": 13, "elapsed": 12, "rc": 3, "attempt": 2}
MIN_WIDTHS = {"host": 6, "job": 6, "item": 5, "progress": 10}
MAX_WIDTHS = {"host": 24, "job": 24, "item": 30, "progress": 48}
MARK = "● "
"""Prefix of the host cell of a marked run (the host column reserves its width)."""


def state_text(state: RunState) -> Text:
    """`✔ succeeded` in the state's colour."""
    look = STATE_LOOK[state]
    return Text(f"{look.symbol} {look.label}", style=look.style, no_wrap=True)


def truncate(text: str, width: int) -> str:
    """`text` cut to `width` cells with an ellipsis (one line)."""
    text = text.replace("\n", " ")
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def limit(seconds: int) -> str:
    """A time limit without its zero parts: `30s`, `1m`, `1m30s`, `1h`, `1h30m`."""
    if seconds <= 0:
        return "∞"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts[:2])


def elapsed_seconds(view: RunView, now: float) -> float | None:
    """Seconds since the run started (until it finished); None before it started.

    `started`/`finished` come from the host's clock and `now` from ours: a negative
    difference (clock skew) shows as 0.
    """
    if view.started is None or (view.finished is None and view.state.finished):
        return None  # not started, or ended at a time nobody recorded (lost)
    end = view.finished if view.finished is not None else now
    return max(0.0, end - view.started)


def elapsed_text(view: RunView, now: float) -> Text:
    """`1m12s/1h`; orange past 90% of the limit while the run is still going."""
    secs = elapsed_seconds(view, now)
    shown = "–" if secs is None else duration(secs)
    text = Text(f"{shown}/{limit(view.timeout)}", no_wrap=True)
    if secs is not None and view.timeout and not view.state.finished:
        if secs >= view.timeout:
            text.stylize("bold red1")
        elif secs >= 0.9 * view.timeout:
            text.stylize("dark_orange")
    return text


_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(fraction: float, width: int, style: str) -> Text:
    """A bar of `width` cells filled to `fraction` with eighth-cell precision."""
    fraction = min(1.0, max(0.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    text = Text("█" * full, style=style)
    if part and full < width:
        text.append(_EIGHTHS[part], style=style)
        full += 1
    text.append("░" * (width - full), style="grey35")
    return text


def progress_text(view: RunView, width: int) -> Text:
    """Bar, percentage and message (or the reason) in exactly `width` cells."""
    look = STATE_LOOK[view.state]
    message = view.message or view.reason
    if view.progress is None:
        text = Text("—", style="grey50")
        if message:
            text.append(" " + truncate(message, width - 2), style="grey70")
    else:
        bar_width = max(3, width - 5) if width < 26 else min(16, width // 3)
        text = bar(view.progress / 100.0, bar_width, look.style.replace("bold ", ""))
        text.append(f"{view.progress:4.0f}%")
        rest = width - bar_width - 5
        if message and rest > 2:
            text.append(" " + truncate(message, rest - 1), style="grey70")
    text.no_wrap = True
    text.truncate(width, overflow="ellipsis", pad=True)
    return text


def host_text(view: RunView, width: int, marked: bool = False) -> Text:
    """The host cell: the mark (or room for it) and the host name."""
    host = Text(no_wrap=True)
    host.append(MARK if marked else " " * len(MARK), style="bold magenta")
    host.append(truncate(view.host, width - len(MARK)), style="bold magenta" if marked else "")
    return host


def cell_text(column: str, view: RunView, now: float, widths: Mapping[str, int]) -> Text:
    """One cell of the run table (any column but the host's: see `host_text`)."""
    if column == "state":
        return state_text(view.state)
    if column == "progress":
        return progress_text(view, widths["progress"])
    if column == "elapsed":
        return elapsed_text(view, now)
    if column == "rc":
        style = "green3" if view.rc == 0 else "bold red1"
        return Text("" if view.rc is None else str(view.rc), style=style, justify="right")
    if column == "attempt":
        return Text(str(view.attempt), style="grey62" if view.attempt == 1 else "bold")
    if column == "job":
        return Text(truncate(view.job, widths["job"]))
    if column == "item":
        return Text(truncate(view.item, widths["item"]), style="italic")
    raise ValueError(f"unknown column {column!r}")


def row_cells(
    view: RunView, now: float, widths: Mapping[str, int], marked: bool = False
) -> dict[str, Text]:
    """The run table's cells for one run, by column key."""
    cells = {"host": host_text(view, widths["host"], marked)}
    for column, _ in COLUMNS[1:]:
        cells[column] = cell_text(column, view, now, widths)
    return cells


CELL_INPUTS: dict[str, tuple[str, ...]] = {
    "state": ("state",),
    "progress": ("state", "progress", "message", "reason"),
    "elapsed": ("state", "started", "finished", "timeout"),
    "rc": ("rc",),
    "attempt": ("attempt",),
}
"""The RunView fields each live cell depends on (host, job and item never change)."""


def changed_columns(old: RunView, new: RunView) -> list[str]:
    """The columns whose cells differ between two versions of a run."""
    return [
        column
        for column, names in CELL_INPUTS.items()
        if any(getattr(old, n) != getattr(new, n) for n in names)
    ]


def column_widths(total: int, longest: Mapping[str, int], padding: int = 1) -> dict[str, int]:
    """Widths of the run table's columns for a table `total` cells wide.

    Host, job and item get what their longest value needs (within bounds), the
    progress column gets the rest; when that does not fit, the progress column and
    then the longest of the others shrink, down to their minimums.
    """
    free = total - 2 * padding * len(COLUMNS) - sum(FIXED_WIDTHS.values())
    widths = {
        "host": longest.get("host", 0) + len(MARK),
        "job": longest.get("job", 0),
        "item": longest.get("item", 0),
    }
    widths = {k: min(MAX_WIDTHS[k], max(MIN_WIDTHS[k], v)) for k, v in widths.items()}
    widths["progress"] = min(
        MAX_WIDTHS["progress"], max(MIN_WIDTHS["progress"], free - sum(widths.values()))
    )
    over = sum(widths.values()) - free
    while over > 0:
        name = max(("host", "job", "item"), key=lambda k: widths[k] - MIN_WIDTHS[k])
        if widths[name] <= MIN_WIDTHS[name]:
            break
        widths[name] -= 1
        over -= 1
    return {**widths, **FIXED_WIDTHS}


def matches(view: RunView, terms: list[str]) -> bool:
    """Whether every term is found in the run's host, job, item or state.

    A term `field:value` (field one of host, job, item, state) looks in that field
    only. Matching ignores case.
    """
    fields = {
        "host": view.host.lower(),
        "job": view.job.lower(),
        "item": view.item.lower(),
        "state": f"{view.state.value} {STATE_LOOK[view.state].label}",
    }
    for term in terms:
        name, sep, value = term.partition(":")
        if sep and name in fields:
            if value not in fields[name]:
                return False
        elif not any(term in v for v in fields.values()):
            return False
    return True


def parse_filter(text: str) -> list[str]:
    """The filter box's text as lower-case terms."""
    return text.lower().split()


def sort_key(view: RunView, mode: str) -> tuple[object, ...]:
    """Order of the run table for a sort mode: host, job, state, elapsed or progress."""
    natural = (view.host, view.job, view.key[2])
    if mode == "job":
        return (view.job, view.key[2], view.host)
    if mode == "state":
        return (STATE_ORDER[view.state], *natural)
    if mode == "elapsed":
        started = view.started if view.started is not None else float("inf")
        return (started, *natural)
    if mode == "progress":
        return (-(view.progress if view.progress is not None else -1.0), *natural)
    return natural


def counts_text(counts: Mapping[RunState, int], labels: bool = False) -> Text:
    """`▶3 ✔6 ✘1` (or `3 running  6 succeeded …` with labels), urgent states first."""
    text = Text(no_wrap=True)
    for state in sorted(counts, key=STATE_ORDER.__getitem__):
        n = counts[state]
        if not n:
            continue
        look = STATE_LOOK[state]
        if text:
            text.append("  " if labels else " ")
        shown = f"{look.symbol} {n} {look.label}" if labels else f"{look.symbol}{n}"
        text.append(shown, style=look.style)
    return text


def output_text(output: str, style: str = "") -> Text:
    """Job output made inert: sanitized, never parsed as markup."""
    return Text(sanitize(output), style=style)
