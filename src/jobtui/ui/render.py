"""Pure renderers: a run, a state, a duration or a progress value as styled pieces
of text (for the run table) or Rich text (for the detail screen), from the same code.

No Textual here (only Rich), no I/O and no clock of its own: every function that
depends on the time takes `now` (epoch seconds), so the tests and the snapshots are
deterministic. Job output reaches the screen only through `output_text` (tails) and
`truncate` (messages, reasons), which pass it through `text.sanitize` and never
parse markup, so escape sequences and `[markup]` in job output stay inert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.text import Text

from jobtui import defaults
from jobtui.events import RunView
from jobtui.model import RunState
from jobtui.text import duration, limit, one_line, sanitize


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
    RunState.SKIPPED: StateLook("↷", "skipped", "grey70"),
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
            RunState.SKIPPED,
            RunState.CANCELLED,
            RunState.SUCCEEDED,
        ]
    )
}
"""Most urgent first: the order of the `state` sort and of the counts."""

MARK = "● "
"""Prefix of the host cell of a marked run (the host column reserves its width)."""


Piece = tuple[str, str]
"""A run of text and its Rich style definition ("" for none): what a cell is made of.

The run table draws pieces straight into segments; the detail screen makes them into
`Text` (`pieces_text`). One renderer for both, so they cannot drift apart."""


def pieces_text(pieces: Iterable[Piece], style: str = "") -> Text:
    """Pieces as one line of Rich text."""
    text = Text(style=style, no_wrap=True)
    for part, part_style in pieces:
        text.append(part, part_style)
    return text


def fit(
    pieces: list[Piece], width: int, right: bool = False, ellipsis: bool = False
) -> list[Piece]:
    """Pieces cut or padded (with unstyled spaces) to exactly `width` cells.

    Args:
        pieces: The cell's content.
        width: Cells wanted.
        right: Pad on the left (right-justified).
        ellipsis: Cut content ends with `…` (in the style of the piece it replaces).
    """
    size = 0
    for part, _ in pieces:
        size += len(part) if part.isascii() else cell_len(part)
    if size == width:
        return pieces
    if size < width:
        pad = (" " * (width - size), "")
        return [pad, *pieces] if right else [*pieces, pad]
    keep = width - 1 if ellipsis else width
    out: list[Piece] = []
    used = 0
    for part, style in pieces:
        n = cell_len(part)
        if used + n > keep:
            head = set_cell_size(part, keep - used) if keep > used else ""
            if head:
                out.append((head, style))
            if ellipsis and width > 0:
                out.append(("…", style))
            break
        out.append((part, style))
        used += n
    return out


def state_piece(state: RunState) -> Piece:
    """`✔ succeeded` in the state's colour."""
    look = STATE_LOOK[state]
    return f"{look.symbol} {look.label}", look.style


def state_text(state: RunState) -> Text:
    """`✔ succeeded` in the state's colour (the style is the text's own, so text
    appended to it carries it too)."""
    part, style = state_piece(state)
    return Text(part, style=style, no_wrap=True)


def truncate(text: str, width: int) -> str:
    """`text` made inert and cut to `width` cells with an ellipsis (one line)."""
    if not (text.isascii() and text.isprintable()):
        text = one_line(text.replace("\n", " ").replace("\t", " "))
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def elapsed_pieces(view: RunView, now: float) -> list[Piece]:
    """`1m12s/1h`; orange past 90% of the limit while the run is still going."""
    secs = view.elapsed(now)
    shown = "–" if secs is None else duration(secs)
    style = ""
    if secs is not None and view.timeout and not view.state.finished:
        if secs >= view.timeout:
            style = "bold red1"
        elif secs >= 0.9 * view.timeout:
            style = "dark_orange"
    if view.ansible and not view.timeout:  # a finished Ansible job's limit is not known
        return [(shown, style)]
    return [(f"{shown}/{limit(view.timeout)}", style)]


def elapsed_value(view: RunView) -> str:
    """As wide as the widest elapsed time the run shows as a rule (`59m59s/1h`): its
    limit and the longest duration up to the end of a timeout (its grace, twice)."""
    if not view.timeout:
        return "0" * len("59m59s") + ("" if view.ansible else "/∞")
    bound = view.timeout + 2 * defaults.GRACE
    times = [t for t in (59, 599, 3599, 35999, 86399) if t < bound] + [bound]
    return "0" * max(len(duration(t)) for t in times) + "/" + limit(view.timeout)


def elapsed_text(view: RunView, now: float) -> Text:
    """`elapsed_pieces` as text."""
    return pieces_text(elapsed_pieces(view, now))


_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(fraction: float, width: int, style: str) -> list[Piece]:
    """A bar of `width` cells filled to `fraction` with eighth-cell precision."""
    fraction = min(1.0, max(0.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    filled = "█" * full
    if part and full < width:
        filled += _EIGHTHS[part]
        full += 1
    return [(filled, style), ("░" * (width - full), "grey35")]


def progress_pieces(view: RunView, width: int) -> list[Piece]:
    """Bar, percentage and message (or the reason) in exactly `width` cells."""
    look = STATE_LOOK[view.state]
    message = view.message or view.reason
    if view.progress is None:
        pieces = [("—", "grey50")]
        if message:
            pieces.append((" " + truncate(message, width - 2), "grey70"))
    else:
        bar_width = max(3, width - 5) if width < 26 else min(16, width // 3)
        colour = look.style.replace("bold ", "")
        pieces = bar(view.progress / 100.0, bar_width, colour)
        pieces.append((f"{view.progress:4.0f}%", colour))
        rest = width - bar_width - 5
        if message and rest > 2:
            pieces.append((" " + truncate(message, rest - 1), "grey70"))
    return fit([p for p in pieces if p[0]], width, ellipsis=True)


def progress_text(view: RunView, width: int) -> Text:
    """`progress_pieces` as text."""
    return pieces_text(progress_pieces(view, width))


def as_user(view: RunView) -> str:
    """` as root` for a run that runs as another user than the login user (become),
    else "" (made inert: the user can come from a host's answer)."""
    return f" as {one_line(view.user)}" if view.user else ""


def host_value(view: RunView) -> str:
    """What the host cell holds at full width: `db01`, or `db01 as root`."""
    return view.host + as_user(view)


def host_pieces(view: RunView, width: int, marked: bool = False) -> list[Piece]:
    """The host cell: the mark (or room for it), the host name, then the user it runs
    as, if another (` as root`, dimmed). Short of room the host keeps its cells and the
    user is cut (` as…` still says that it becomes someone; the detail says whom)."""
    room = width - len(MARK)
    host = truncate(view.host, room)
    pieces = [
        (MARK if marked else " " * len(MARK), "bold magenta"),
        (host, "bold magenta" if marked else ""),
    ]
    rest = room - cell_len(host)
    if view.user and rest >= EXTRA_MIN:
        suffix = as_user(view)
        if cell_len(suffix) > rest:  # ` as po…`, ` as…`: never `as ` and a cut
            suffix = " as" + (f" {truncate(suffix[4:], rest - 4)}" if rest > 5 else "…")
        pieces.append((suffix, "grey62"))
    return pieces


EXTRA_MIN = len(" as…")
"""Cells a column's value beyond its core must get, or none (`Column.core`)."""


ANSIBLE_TAG = "ansible: "
"""Before what one of Ansible's own async jobs runs, in its job cell: not one of
jobtui's runs (no batch, no retry)."""
ANSIBLE_STYLE = "bold dark_cyan"
ANSIBLE_COMMAND_MIN = 10
"""Cells of the command an Ansible job's cell shows at least, else its module."""


def ansible_module(view: RunView) -> str:
    """The module of one of Ansible's jobs ("" when unknown: its job is `ansible`)."""
    return "" if view.job == "ansible" else view.job


def job_value(view: RunView) -> str:
    """What the job cell holds at full width: the job's name, or for one of Ansible's
    async jobs `ansible: ` and the command it runs (its module if that is unknown)."""
    if view.ansible:
        what = view.command or ansible_module(view)
        return ANSIBLE_TAG + what if what else "ansible"
    return view.job


def job_core(view: RunView) -> str:
    """What the job cell must show: the job's name, `ansible shell` (its module) for
    one of Ansible's jobs; short of room, the table gives its command no more."""
    return f"ansible {ansible_module(view)}".rstrip() if view.ansible else view.job


def job_pieces(view: RunView, width: int) -> list[Piece]:
    """The job cell: the job's name; `ansible: pg_dump …` (the tag coloured, the
    command cut to the width) for one of Ansible's jobs, or where that leaves too
    little of the command, `ansible shell` (its module; the detail has the command)."""
    if not view.ansible:
        return [(truncate(view.job, width), "")]
    what = view.command or ansible_module(view)
    if what and width >= len(ANSIBLE_TAG) + ANSIBLE_COMMAND_MIN:
        return [(ANSIBLE_TAG, ANSIBLE_STYLE), (truncate(what, width - len(ANSIBLE_TAG)), "")]
    module = ansible_module(view)
    pieces = [(truncate("ansible", width), ANSIBLE_STYLE)]
    if module and width > len("ansible"):
        pieces.append((truncate(" " + module, width - 7), "grey62"))
    return pieces


def _rc_pieces(view: RunView, now: float, width: int, marked: bool) -> list[Piece]:
    return [("" if view.rc is None else str(view.rc), "green3" if view.rc == 0 else "bold red1")]


def _attempt_pieces(view: RunView, now: float, width: int, marked: bool) -> list[Piece]:
    if view.ansible:  # Ansible's job: no attempts of jobtui's
        return []
    return [(str(view.attempt), "grey62" if view.attempt == 1 else "bold")]


CellPainter = Callable[[RunView, float, int, bool], list[Piece]]
"""A cell's content from the run, the time, the column's width and whether the run
is marked (before it is fitted to the width)."""


@dataclass(frozen=True)
class Column:
    """One column of the run table: its header, its width and how a cell is drawn.

    A column has a fixed `width`, or is sized by `widths.column_widths`: to its longest
    `value` (plus `reserve`) within `min_width` and `max_width`, or, with `fill`, to
    what the others leave.
    """

    key: str
    label: str
    cell: CellPainter
    width: int = 0
    """Fixed width in cells (0: sized by `column_widths`)."""
    min_width: int = 0
    max_width: int = 0
    value: Callable[[RunView], str] | None = None
    """The text the column is sized to (its longest), if it is sized by content."""
    fill: bool = False
    """Takes the width the other columns leave."""
    reserve: int = 0
    """Cells added to the longest value (the host's mark)."""
    core: Callable[[RunView], str] | None = None
    """The part of `value` that must show (the host, without ` as root`): a column that
    cannot hold `EXTRA_MIN` cells more than its longest core is sized to the core, and
    the rest of its value is what a cell cuts."""
    right: bool = False
    """Cells and label right-justified."""
    right_label: bool = False
    """The label right-justified (even if the cells are not)."""
    sort: str | None = None
    """The sort mode a click on the label picks (None: not sortable)."""
    optional: bool = False
    """Not drawn (0 wide) when no run has a value for it, or short of room."""
    keep: bool = False
    """Sized by content, but cut last (a cut state or time says less than a cut name);
    sized to `max_width` while no run was measured."""


COLUMNS: tuple[Column, ...] = (
    Column(
        "host", "Host", lambda v, now, w, marked: host_pieces(v, w, marked),
        value=host_value, min_width=6, max_width=24, reserve=len(MARK), sort="host",
        core=lambda v: v.host,
    ),
    Column(
        "job", "Job", lambda v, now, w, marked: job_pieces(v, w),
        value=job_value, min_width=6, max_width=24, sort="job", core=job_core,
    ),
    Column(
        "batch", "Batch", lambda v, now, w, marked: [(truncate(v.batch, w), "grey70")],
        value=lambda v: v.batch, min_width=14, max_width=22, optional=True,
    ),
    Column(
        "item", "Item", lambda v, now, w, marked: [(truncate(v.item, w), "italic")],
        value=lambda v: v.item, min_width=5, max_width=30, sort="host",
    ),
    Column(
        "state", "State", lambda v, now, w, marked: [state_piece(v.state)],
        value=lambda v: state_piece(v.state)[0], min_width=7, max_width=13, sort="state",
        keep=True,
    ),
    Column(
        "progress", "Progress", lambda v, now, w, marked: progress_pieces(v, w),
        min_width=10, max_width=48, fill=True, sort="progress",
    ),
    Column(
        "elapsed", "Elapsed", lambda v, now, w, marked: elapsed_pieces(v, now),
        value=elapsed_value, min_width=7, max_width=12, sort="elapsed", keep=True,
    ),
    Column("rc", "rc", _rc_pieces, width=3, right=True),
    Column("attempt", "#", _attempt_pieces, width=2, right_label=True),
)  # fmt: skip
"""The run table's columns, in order: what the header, the widths and the painter
are made from."""
COLUMN = {column.key: column for column in COLUMNS}
"""The columns by key."""


def cell_pieces(
    column: str, view: RunView, now: float, widths: Mapping[str, int], marked: bool = False
) -> list[Piece]:
    """One cell of the run table, before it is fitted to its column's width."""
    spec = COLUMN.get(column)
    if spec is None:
        raise ValueError(f"unknown column {column!r}")
    return spec.cell(view, now, widths[column], marked)


def sort_key(view: RunView, mode: str) -> tuple[object, ...]:
    """Order of the run table for a sort mode: host, job, state, elapsed or progress."""
    # The batch (oldest first: its id starts with its time) and the jid break ties:
    # discovered runs (watch) all have item index 0, and the table's order must not
    # change from one session to the next.
    natural = (view.host, view.job, view.key[2], view.batch, view.jid or "")
    if mode == "job":
        return (view.job, view.key[2], view.host, view.batch, view.jid or "")
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


def finished_counts(counts: Mapping[str, int]) -> str:
    """`1 failed, 2 timed out, 9 succeeded`: a summary's counts (by state name) in the
    console's words (`timed out`, as the header says), urgent states first."""
    known = {s.value: s for s in RunState}
    rank = {name: STATE_ORDER[state] for name, state in known.items()}
    return ", ".join(
        f"{counts[s]} {STATE_LOOK[known[s]].label if s in known else one_line(s)}"
        for s in sorted(counts, key=lambda s: (rank.get(s, len(rank)), s))
        if counts[s]
    )


def output_text(output: str, style: str = "") -> Text:
    """Job output made inert: sanitized, never parsed as markup."""
    return Text(sanitize(output), style=style)
