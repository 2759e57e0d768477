"""The main screen: status line, host and job summaries, filter, run table."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from jobtui.model import RunKey
from jobtui.text import one_line
from jobtui.ui.batch_progress import trouble_count
from jobtui.ui.board import ANSIBLE_JOBS, Board, Changes
from jobtui.ui.keys import Scope, bindings
from jobtui.ui.order import sort_arrow
from jobtui.ui.render import COLUMN
from jobtui.ui.widgets.runs_table import RunsTable
from jobtui.ui.widgets.summary import HostSummary, JobSummary, StatusLine

WIDE = 140
"""From this width on, the summaries sit in a side panel instead of a top strip."""
INFO_SETTINGS = (
    "run_filter",
    "filter_error",
    "hide_finished",
    "sort_mode",
    "sort_reverse",
    "marks",
)
"""The table's settings the info label shows (it follows them as they change)."""
FILTER_ROOM = 24
"""Columns a filter error leaves to the filter box, at least (plus the label's padding)."""


class MainScreen(Screen[None]):
    """Every run of the batch, live, with the summaries."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(Scope.MAIN)

    def __init__(
        self,
        board: Board,
        clock: Callable[[], float],
        *,
        title: str,
        read_only: bool,
        open_detail: Callable[[RunKey], None],
    ) -> None:
        super().__init__()
        self.board = board
        self.clock = clock
        self.console_title = title
        self.read_only = read_only
        self.open_detail = open_detail
        self.ready = False
        """Composed and mounted: the app may apply changes."""
        # Held, not queried: timers may still fire while the app tears widgets down.
        self.table = RunsTable(board, clock, id="runs")
        self.status = StatusLine(board, title, read_only, clock, id="status")
        self.host_summary = HostSummary(board, id="hosts")
        self.job_summary = JobSummary(board, id="jobs")
        self.info = Static(id="info")
        self._info_shown: Text | None = None
        self._status_shown: tuple[object, ...] = ()
        self.sort_chosen = False
        """The operator chose a sort (`s`, `S`, a column's label): the console never
        changes it on its own from then on."""
        self.sorted_by_trouble = False
        """The console switched to the `trouble` sort on its own (it does so once)."""
        self._host_counts: dict[str, tuple[object, ...]] = {}
        self.filter_box = Input(
            placeholder="/ filter: host, job, item or state (host:db01 state:failed)",
            id="filter",
        )

    def compose(self) -> ComposeResult:
        yield self.status
        with Horizontal(id="body"):
            with Vertical(id="side"):
                yield self.host_summary
                yield self.job_summary
            with Vertical(id="center"):
                with Horizontal(id="filterbar"):
                    yield self.filter_box
                    yield self.info
                yield self.table
        yield Footer()

    def on_mount(self) -> None:
        self.table.focus()
        for setting in INFO_SETTINGS:
            self.watch(self.table, setting, self._refresh_info, init=False)
        self.watch(self.table, "sort_mode", self._sort_changed, init=False)
        self._refresh_info()
        self.ready = True

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width >= WIDE, "-wide")

    # -- live updates ------------------------------------------------------------

    def apply(self, changes: Changes) -> None:
        """Update every widget in place with what changed."""
        if changes.runs:
            self.table.apply(changes.runs, added=changes.added)
        if changes.hosts:
            self.host_summary.apply(self._hosts_moved(changes.hosts))
        if changes.jobs:
            self.job_summary.apply(changes.jobs)
        status = self._status_inputs()
        if status != self._status_shown:
            self._status_shown = status
            self.status.refresh_counts()
        if not (self.sort_chosen or self.sorted_by_trouble) and self._any_trouble():
            self._sort_by_trouble()
        self._refresh_info()  # the number of runs shown, or in all

    def _hosts_moved(self, hosts: Iterable[str]) -> list[str]:
        """The hosts whose reachability or counts changed: what a host's row shows.
        Most updates are progress, which no host row shows; at 500 hosts, building
        every changed host's row only to find it unchanged was most of a flush."""
        moved = []
        board, shown = self.board.hosts, self._host_counts
        for name in hosts:
            info = board.get(name)
            if info is None:
                continue
            # A host's counts only ever gain states (a count falls to 0, never away),
            # so the same number of them in the same order are the same states.
            counts = info.counts
            now = (info.reachable, info.reason, len(counts), *counts.values())
            if shown.get(name) != now:
                shown[name] = now
                moved.append(name)
        return moved

    def _status_inputs(self) -> tuple[object, ...]:
        """What the status line shows but the batch's progress, which it reads again
        once a second (`tick`): progress moves with nearly every update, and reading
        it is a pass over every run."""
        board = self.board
        theirs = dict(board.jobs.get(ANSIBLE_JOBS, ()))
        totals = dict(board.totals)
        return board.batch, board.settled, len(board.unfollowed), len(board.runs), totals, theirs

    def _any_trouble(self) -> bool:
        """Some run (Ansible's jobs too) is in trouble (from the board's counts)."""
        theirs = self.board.jobs.get(ANSIBLE_JOBS)
        return bool(trouble_count(self.board.totals) or (theirs and trouble_count(theirs)))

    def _sort_by_trouble(self) -> None:
        """The first time a run is in trouble: sort by trouble (once; never over the
        operator's own choice). A cursor the operator left on the top row stays there,
        on the first run in trouble; one he moved stays on its run."""
        self.sorted_by_trouble = True
        table = self.table
        at_top = table.cursor_row == 0
        table.set_sort("trouble")
        if at_top:
            table.move_cursor(0)

    def _sort_changed(self, mode: str) -> None:
        self.host_summary.set_trouble_first(mode == "trouble")

    def tick(self) -> None:
        self.table.tick()
        self.status.refresh_counts()  # elapsed, ETA and the running runs' progress

    def _refresh_info(self) -> None:
        """The label right of the filter box: rows shown, sort, finished, marks; or
        why the filter box's text was not taken (the table keeps its last good one)."""
        table = self.table
        if table.filter_error:
            text = Text(f"✘ {table.filter_error}", style="bold red1", no_wrap=True)
            # Leave the box room to show what was typed (0: not laid out yet).
            room = self.filter_box.region.width + self.info.region.width - FILTER_ROOM
            if room > 0:
                text.truncate(room, overflow="ellipsis")
        else:
            text = self._settings_text()
        shown = self._info_shown
        if shown is None or text != shown:
            # A layout (the whole screen) only when the label's width changed.
            self.info.update(text, layout=shown is None or text.cell_len != shown.cell_len)
            self._info_shown = text

    def _settings_text(self) -> Text:
        table = self.table
        text = Text(no_wrap=True, style="grey70")
        text.append(f"{table.row_count}/{len(self.board.runs)} shown")
        text.append(f" · sort: {table.sort_mode} {sort_arrow(table.sort_mode, table.sort_reverse)}")
        if table.hide_finished:
            text.append(" · finished hidden", style="yellow3")
        if table.marks:
            text.append(f" · {len(table.marks)} marked", style="bold magenta")
        return text

    # -- user actions --------------------------------------------------------------

    def action_filter(self) -> None:
        self.filter_box.focus()

    def action_toggle_finished(self) -> None:
        self.table.toggle_finished()

    def action_cycle_sort(self) -> None:
        self.sort_chosen = True
        self.table.cycle_sort()

    def action_reverse_sort(self) -> None:
        self.sort_chosen = True
        self.table.reverse_sort()

    def action_next_trouble(self) -> None:
        """The cursor to the next run in trouble (wrapping), or say there is none."""
        table = self.table
        if table.next_in_trouble():
            table.focus()
            return
        hidden = self.status.progress.trouble
        where = f" shown ({hidden} hidden: the filter, or f)" if hidden else ""
        self.notify(f"no run in trouble{where}", timeout=4, markup=False)

    def action_escape(self) -> None:
        box = self.filter_box
        if box.has_focus:
            self.table.focus()
        elif box.value:
            box.value = ""

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.table.focus()

    @on(RunsTable.Selected, "#runs")
    def _run_selected(self, event: RunsTable.Selected) -> None:
        self.open_detail(event.key)

    @on(RunsTable.HeaderSelected, "#runs")
    def _header_selected(self, event: RunsTable.HeaderSelected) -> None:
        mode = COLUMN[event.column].sort
        if mode:
            self.sort_chosen = True
            self.table.set_sort(mode)

    @on(DataTable.RowSelected, "#hosts")
    def _host_selected(self, event: DataTable.RowSelected) -> None:
        """Its runs only; and why it cannot be reached, in full (the row cuts it)."""
        name = str(event.row_key.value)
        info = self.board.hosts.get(name)
        if info is not None and info.reachable is False:
            reason = one_line(info.reason or "no reason given")
            self.notify(
                f"{name} is unreachable: {reason}", severity="warning", timeout=20, markup=False
            )
        self._filter_by(f"host:{name}")

    @on(DataTable.RowSelected, "#jobs")
    def _job_selected(self, event: DataTable.RowSelected) -> None:
        name = event.row_key.value
        self._filter_by("kind:ansible" if name == ANSIBLE_JOBS else f"job:{name}")

    def _filter_by(self, term: str) -> None:
        box = self.filter_box
        box.value = "" if box.value == term else term
        self.table.focus()
