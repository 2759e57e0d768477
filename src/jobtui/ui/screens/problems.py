"""The problems view (`p`): the runs that did not succeed, grouped by their error.

One line per problem (`problems.group`): how many runs, how they ended, the error
with what varies between hosts masked, and the hosts; the biggest first. Enter goes
back to the run list showing that problem's runs only (escape there shows every run
again). It follows the batch: the main screen calls `refresh_problems` when runs
change, and the cursor stays on its problem.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from jobtui.model import RunKey
from jobtui.problems import Problem, group, hosts_text
from jobtui.text import one_line
from jobtui.ui.board import Board
from jobtui.ui.keys import Scope, bindings
from jobtui.ui.render import STATE_LOOK, truncate

COLUMNS = ("Runs", "Ended", "Error", "Hosts")
HOSTS_SHARE = 5
"""The hosts column takes at most a fifth of the width (the error is what matters)."""
NONE = "No problems: every run that ended succeeded."


def outcome_cell(problem: Problem) -> Text:
    """`✘ failed rc=3` in the state's colour."""
    look = STATE_LOOK[problem.state]
    text = Text(f"{look.symbol} {look.label}", style=look.style, no_wrap=True)
    if problem.rc is not None:
        text.append(f" rc={problem.rc}", style="grey70")
    return text


def hosts_cell(problem: Problem, width: int) -> str:
    """As many hosts as fit in `width`, then `and N more`."""
    hosts = [one_line(h) for h in problem.hosts]
    shown = len(hosts)
    while shown > 1 and len(hosts_text(hosts, shown)) > width:
        shown -= 1
    return truncate(hosts_text(hosts, shown), width)


class ProblemsScreen(Screen[frozenset[RunKey] | None]):
    """The board's problems; dismissed with the chosen problem's runs (None: none)."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(Scope.PROBLEMS)
    DEFAULT_CSS = """
    ProblemsScreen {
        & > #problems-title { padding: 0 1; text-style: bold; }
        & > #problems-none { padding: 1 2; color: $text-muted; }
        & > DataTable { height: 1fr; }
    }
    """

    def __init__(self, board: Board) -> None:
        super().__init__()
        self.board = board
        self.problems: list[Problem] = []
        self._shown: list[tuple[object, ...]] = []
        """What the rows say now (drawn again only when it changes)."""
        self.title_line = Static(id="problems-title")
        self.none = Static(NONE, id="problems-none")
        self.table: DataTable[Text | str] = DataTable(
            id="problems-table", cursor_type="row", zebra_stripes=True
        )

    def compose(self) -> ComposeResult:
        yield self.title_line
        yield self.none
        yield self.table
        yield Footer()

    def on_mount(self) -> None:
        self.table.focus()
        self.refresh_problems()

    def on_resize(self) -> None:
        self._shown = []  # the widths changed: draw every row again
        self.refresh_problems()

    def refresh_problems(self) -> None:
        """Group the board's runs again; redraw the rows if anything they say changed."""
        before = self.chosen()
        self.problems = group(self.board.runs.values())
        runs = sum(len(p.runs) for p in self.problems)
        runs_text = "1 run" if runs == 1 else f"{runs} runs"
        causes = "1 cause" if len(self.problems) == 1 else f"{len(self.problems)} causes"
        title = f"Problems: {runs_text} that did not succeed, {causes}" if runs else "Problems"
        self.title_line.update(title)
        self.none.display = not self.problems
        self.table.display = bool(self.problems)
        rows: list[tuple[object, ...]] = [
            (p.key, len(p.runs), p.error, tuple(p.hosts)) for p in self.problems
        ]
        if rows != self._shown:
            self._draw(before.key if before is not None else None)
            self._shown = rows

    def _widths(self) -> tuple[int, int, int, int]:
        """Runs, ended, error, hosts: the error takes what the others leave."""
        count = max(len(COLUMNS[0]), *(len(str(len(p.runs))) for p in self.problems))
        ended = max(len(COLUMNS[1]), *(outcome_cell(p).cell_len for p in self.problems))
        hosts_room = max(16, self.size.width // HOSTS_SHARE)
        longest = max(len(hosts_text(p.hosts, len(p.hosts))) for p in self.problems)
        hosts = min(hosts_room, max(len(COLUMNS[3]), longest))
        # Each column has one cell of padding either side; leave the scroll bar room.
        error = max(10, self.size.width - count - ended - hosts - 2 * len(COLUMNS) - 2)
        return count, ended, error, hosts

    def _draw(self, keep: tuple[object, ...] | None) -> None:
        """Every row again (a few dozen at most), the cursor on the problem `keep`."""
        table = self.table
        table.clear(columns=True)
        if not self.problems:
            return
        widths = self._widths()
        for label, width in zip(COLUMNS, widths, strict=True):
            table.add_column(label, width=width, key=label)
        for p in self.problems:
            table.add_row(
                Text(str(len(p.runs)), style="bold", justify="right"),
                outcome_cell(p),
                truncate(p.error, widths[2]),
                hosts_cell(p, widths[3]),
                key="\0".join(map(str, p.key)),
            )
        row = next((i for i, p in enumerate(self.problems) if p.key == keep), 0)
        table.move_cursor(row=row, animate=False)

    def chosen(self) -> Problem | None:
        """The problem under the cursor."""
        row = self.table.cursor_row
        return self.problems[row] if 0 <= row < len(self.problems) else None

    # -- actions -----------------------------------------------------------------

    def action_choose(self) -> None:
        problem = self.chosen()
        if problem is not None:
            self.dismiss(problem.keys)

    def action_close(self) -> None:
        self.dismiss(None)

    @on(DataTable.RowSelected, "#problems-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_choose()
