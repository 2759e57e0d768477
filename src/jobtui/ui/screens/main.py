"""The main screen: status line, host (list or grid), group and job summaries,
filter, run table."""

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
from jobtui.ui.hostgroups import NO_GROUP, NO_RUNS, HostGroups, group_filter
from jobtui.ui.keys import Scope, bindings
from jobtui.ui.order import sort_arrow
from jobtui.ui.render import COLUMN
from jobtui.ui.screens.problems import ProblemsScreen
from jobtui.ui.widgets.host_grid import HostGrid
from jobtui.ui.widgets.runs_table import RunsTable
from jobtui.ui.widgets.summary import GroupSummary, HostSummary, JobSummary, StatusLine

WIDE = 140
"""From this width on, the summaries sit in a side panel instead of a top strip."""
INFO_SETTINGS = (
    "run_filter",
    "filter_error",
    "hide_finished",
    "sort_mode",
    "sort_reverse",
    "marks",
    "only",
)
"""The table's settings the info label shows (it follows them as they change)."""
FILTER_ROOM = 24
"""Columns a filter error leaves to the filter box, at least (plus the label's padding)."""
GRID_FROM = 24
"""From this many hosts on, the hosts show as a grid (until `g` chooses)."""


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
        self.host_groups = HostGroups(board)
        self.host_grid = HostGrid(board, self.host_groups, id="grid")
        self.group_summary = GroupSummary(self.host_groups, id="groups")
        self.grid_chosen: bool | None = None
        """The operator's choice (`g`) of the grid (True) or the list; None: by the
        number of hosts (`GRID_FROM`)."""
        self.info = Static(id="info")
        self.problems: ProblemsScreen | None = None
        """The problems view, while it is open (it follows the changes)."""
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
                yield self.host_grid
                yield self.group_summary
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
        self._show_hosts()
        self.ready = True

    def on_resize(self, event: events.Resize) -> None:
        wide = event.size.width >= WIDE
        self.set_class(wide, "-wide")
        if self.host_grid.roomy != wide:
            self.host_grid.roomy = wide
            self.host_grid.relayout()

    # -- live updates ------------------------------------------------------------

    def apply(self, changes: Changes) -> None:
        """Update every widget in place with what changed."""
        if changes.runs:
            self.table.apply(changes.runs, added=changes.added)
        if changes.hosts:
            self.host_summary.apply(self._hosts_moved(changes.hosts))
        if changes.runs or changes.hosts:
            groups, moved = self.host_groups.apply(changes.runs, changes.hosts)
            self.host_grid.apply(changes, groups, moved)
            self.group_summary.apply(groups)
            if moved:
                self._show_hosts()
        if changes.jobs:
            self.job_summary.apply(changes.jobs)
        status = self._status_inputs()
        if status != self._status_shown:
            self._status_shown = status
            self.status.refresh_counts()
        if not (self.sort_chosen or self.sorted_by_trouble) and self._any_trouble():
            self._sort_by_trouble()
        self._refresh_info()  # the number of runs shown, or in all
        if self.problems is not None and changes.runs:
            self.problems.refresh_problems()

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
        shown = board.batch, board.settled, len(board.unfollowed), len(board.runs), totals, theirs
        return (*shown, sum(board.waiting.values()))  # runs held back (per_host, throttle)

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
        if table.only is not None:
            runs = "1 run" if len(table.only) == 1 else f"{len(table.only)} runs"
            text.append(f" · problem: {runs}", style="bold orange1")
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
        elif self.table.only is not None:
            self.table.only = None

    def action_problems(self) -> None:
        """The problems view; the one chosen there becomes the table's runs."""
        if self.problems is None:
            self.problems = ProblemsScreen(self.board)
            self.app.push_screen(self.problems, self._problem_chosen)

    def _problem_chosen(self, keys: frozenset[RunKey] | None) -> None:
        self.problems = None
        if keys is not None:
            self.table.only = keys
            self.table.focus()

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

    def _filter_by(self, term: str, *, focus_table: bool = True) -> None:
        box = self.filter_box
        box.value = "" if box.value == term else term
        if focus_table:
            self.table.focus()

    # -- the hosts: a list or a grid ------------------------------------------------

    @property
    def grid_shown(self) -> bool:
        """The hosts show as a grid: as `g` chose, else from `GRID_FROM` hosts on."""
        if self.grid_chosen is not None:
            return self.grid_chosen
        return len(self.host_groups) >= GRID_FROM

    def action_toggle_grid(self) -> None:
        self.grid_chosen = not self.grid_shown
        self._show_hosts()
        if self.grid_chosen:
            self.host_grid.focus()
        elif self.focused is None or self.focused is self.host_grid:
            self.table.focus()

    def _show_hosts(self) -> None:
        """The grid or the host list; the group summary beside the list where there
        are groups to tell apart (the grid's headers say the same)."""
        grid = self.grid_shown
        self.set_class(grid, "-grid")
        self.host_grid.display = grid
        self.host_summary.display = not grid
        groups = [g for g in self.host_groups.groups() if g not in (NO_GROUP, NO_RUNS)]
        self.group_summary.display = not grid and len(groups) > 1

    @on(HostGrid.HostSelected, "#grid")
    def _grid_host_selected(self, event: HostGrid.HostSelected) -> None:
        """As a host of the list: its runs only (the grid keeps the focus, to move on)."""
        info = self.board.hosts.get(event.host)
        if info is not None and info.reachable is False:
            reason = one_line(info.reason or "no reason given")
            self.notify(
                f"{event.host} is unreachable: {reason}",
                severity="warning",
                timeout=20,
                markup=False,
            )
        self._filter_by(f"host:{event.host}", focus_table=False)

    @on(HostGrid.GroupSelected, "#grid")
    def _grid_group_selected(self, event: HostGrid.GroupSelected) -> None:
        self._filter_by(group_filter(event.group), focus_table=False)

    @on(DataTable.RowSelected, "#groups")
    def _group_selected(self, event: DataTable.RowSelected) -> None:
        self._filter_by(group_filter(str(event.row_key.value)))
