"""The live run table: one row per run, updated in place by row key."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import ClassVar, Self

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.widgets import DataTable

from jobtui.events import RunView
from jobtui.ui.board import Board
from jobtui.ui.render import (
    COLUMNS,
    RunKey,
    cell_text,
    changed_columns,
    column_widths,
    elapsed_text,
    host_text,
    matches,
    parse_filter,
    row_cells,
    sort_key,
)

SORT_MODES = ("host", "job", "state", "elapsed", "progress")
DYNAMIC_SORTS = frozenset({"state", "progress", "elapsed"})
"""Sort modes whose order can change when a run changes."""
HEADER_SORTS = {"host": "host", "job": "job", "item": "host", "state": "state"}
HEADER_SORTS |= {"progress": "progress", "elapsed": "elapsed"}


class KeyedText(Text):
    """The first cell of a row: it knows its run, so `DataTable.sort` can sort by
    the run's data rather than by the cell's text."""

    run_key: RunKey


def row_key(key: RunKey) -> str:
    return f"{key[0]}\x1f{key[1]}\x1f{key[2]}"


VIEW_MARGIN = 10
"""Rows above and below the screen kept up to date, so a short scroll shows no stale row."""


class RunsTable(DataTable[Text]):
    """Rows for the runs of a `Board` that match the filter.

    Changes are applied with `update_cell`; rows are only added or removed when a
    run starts or stops matching the filter, and the whole table is rebuilt only
    when the filter, the sort mode or the column widths change (user actions).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Details", show=False, id="jobtui.details"),
    ]
    _deferring = False
    """Inside `_one_refresh` (a class default: DataTable refreshes during __init__)."""

    def __init__(self, board: Board, clock: Callable[[], float], **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.board = board
        self.clock = clock
        self.terms: list[str] = []
        self.hide_finished = False
        self.sort_mode = "host"
        self.marks: set[RunKey] = set()
        self.widths: dict[str, int] = column_widths(80, {})
        self._live: set[RunKey] = set()
        """Shown rows whose elapsed time moves."""
        self._shown: dict[RunKey, RunView] = {}
        """The version of each shown run its row displays."""
        self._stale: set[RunKey] = set()
        """Shown rows out of view whose run changed since they were drawn."""

    # -- what is shown --------------------------------------------------------

    def shows(self, view: RunView) -> bool:
        if self.hide_finished and view.state.finished:
            return False
        return matches(view, self.terms)

    def shown_keys(self) -> list[RunKey]:
        """The runs shown, in table order."""
        keys: list[RunKey] = []
        for row in self.ordered_rows:
            cell = self.get_cell(row.key, "host")
            if isinstance(cell, KeyedText):
                keys.append(cell.run_key)
        return keys

    def cursor_key(self) -> RunKey | None:
        if not self.row_count:
            return None
        row = self.ordered_rows[min(self.cursor_row, self.row_count - 1)]
        cell = self.get_cell(row.key, "host")
        return cell.run_key if isinstance(cell, KeyedText) else None

    def targets(self) -> list[RunKey]:
        """The runs an action applies to: the marked ones, else the cursor's."""
        if self.marks:
            return sorted(self.marks)
        key = self.cursor_key()
        return [key] if key is not None else []

    # -- settings (user actions: a rebuild is fine) ---------------------------

    def set_filter(self, text: str) -> None:
        self.terms = parse_filter(text)
        self.rebuild()

    def toggle_finished(self) -> None:
        self.hide_finished = not self.hide_finished
        self.rebuild()

    def set_sort(self, mode: str) -> None:
        self.sort_mode = mode
        self._sort()

    def cycle_sort(self) -> None:
        self.set_sort(SORT_MODES[(SORT_MODES.index(self.sort_mode) + 1) % len(SORT_MODES)])

    def toggle_mark(self, key: RunKey) -> None:
        self.marks.symmetric_difference_update({key})
        self._refresh_host_cell(key)

    def mark_shown(self) -> None:
        """Mark every shown run; if they all are already, unmark them."""
        shown = set(self.shown_keys())
        changed = shown - self.marks
        if changed:
            self.marks |= shown
        else:
            self.marks -= shown
            changed = shown
        for key in changed:
            self._refresh_host_cell(key)

    def clear_marks(self) -> None:
        keys, self.marks = self.marks, set()
        for key in keys:
            self._refresh_host_cell(key)

    # -- building --------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self.relayout()

    def relayout(self) -> None:
        """Fit the columns to the width; rebuild only if a width changed."""
        runs = self.board.runs.values()
        longest = {
            "host": max((len(v.host) for v in runs), default=0),
            "job": max((len(v.job) for v in runs), default=0),
            "item": max((len(v.item) for v in runs), default=0),
        }
        widths = column_widths(self.size.width - 1, longest)
        if widths != self.widths or not self.columns:
            self.widths = widths
            self.rebuild(columns=True)

    def rebuild(self, columns: bool = False) -> None:
        """Re-add every shown row (keeping the cursor on its run)."""
        keep = self.cursor_key()
        self.clear(columns=columns)
        if columns or not self.columns:
            for key, label in COLUMNS:
                label_text = Text(label, justify="right" if key in ("rc", "attempt") else "left")
                self.add_column(label_text, key=key, width=self.widths[key])
        self._live.clear()
        self._shown.clear()
        self._stale.clear()
        for view in self.board.runs.values():
            if self.shows(view):
                self._add(view)
        self._sort(keep)

    def _add(self, view: RunView) -> None:
        cells = row_cells(view, self.clock(), self.widths, view.key in self.marks)
        first = KeyedText()
        first.append_text(cells["host"])
        first.run_key = view.key
        cells["host"] = first
        self.add_row(*(cells[k] for k, _ in COLUMNS), key=row_key(view.key))
        self._track(view)

    def _track(self, view: RunView) -> None:
        self._shown[view.key] = view
        if view.started is not None and view.finished is None and not view.state.finished:
            self._live.add(view.key)
        else:
            self._live.discard(view.key)

    def _forget(self, key: RunKey) -> None:
        self._live.discard(key)
        self._stale.discard(key)
        self._shown.pop(key, None)

    def _sort(self, keep: RunKey | None = None) -> None:
        keep = keep if keep is not None else self.cursor_key()
        mode = self.sort_mode
        runs = self.board.runs

        def key(cell: Text) -> tuple[object, ...]:
            assert isinstance(cell, KeyedText)
            return sort_key(runs[cell.run_key], mode)

        self.sort("host", key=key)
        if keep is not None and row_key(keep) in self.rows:
            self.move_cursor(row=self.get_row_index(row_key(keep)), scroll=False)

    # -- live updates (in place) -------------------------------------------------

    def apply(self, keys: Iterable[RunKey], added: bool = False) -> None:
        """Bring the rows of these runs up to date (only the cells that changed).

        Rows far from the screen are only marked stale, and brought up to date when
        they scroll into view: with 5,000 runs changing every second, redrawing cells
        nobody sees was most of the console's time.
        """
        if added:
            self.relayout()
        now = self.clock()
        structure = False
        window = self._window()
        with self._one_refresh():
            for key in keys:
                view = self.board.runs[key]
                rk = row_key(key)
                shown = self._shown.get(key)
                if not self.shows(view):
                    if shown is not None:
                        self.remove_row(rk)
                        self._forget(key)
                    continue
                if shown is None:
                    self._add(view)
                    structure = True
                    continue
                if self.get_row_index(rk) not in window:
                    self._stale.add(key)
                    continue
                self._update_row(key, view, now)
        if structure or self.sort_mode in DYNAMIC_SORTS:
            self._sort()
        self._catch_up()

    def _window(self) -> range:
        """The row indexes on screen, with a margin."""
        top = int(self.scroll_y)
        return range(max(0, top - VIEW_MARGIN), top + self.size.height + VIEW_MARGIN)

    def _update_row(self, key: RunKey, view: RunView, now: float) -> None:
        rk = row_key(key)
        for column in changed_columns(self._shown[key], view):
            self.update_cell(rk, column, cell_text(column, view, now, self.widths))
        self._track(view)

    def _catch_up(self) -> None:
        """Bring stale rows that are now in view up to date."""
        if not self._stale:
            return
        window, now, runs = self._window(), self.clock(), self.board.runs
        with self._one_refresh():
            for key in list(self._stale):
                rk = row_key(key)
                if key not in self._shown or rk not in self.rows:
                    self._stale.discard(key)
                elif self.get_row_index(rk) in window:
                    self._stale.discard(key)
                    self._update_row(key, runs[key], now)
                    self.update_cell(rk, "elapsed", elapsed_text(runs[key], now))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self._catch_up()

    def tick(self) -> None:
        """Refresh the elapsed time of the running rows in view (once a second)."""
        now = self.clock()
        runs = self.board.runs
        window = self._window()
        with self._one_refresh():
            for key in self._live:
                rk = row_key(key)
                if self.get_row_index(rk) in window:
                    self.update_cell(rk, "elapsed", elapsed_text(runs[key], now))
                else:
                    self._stale.add(key)

    @contextmanager
    def _one_refresh(self) -> Iterator[None]:
        """Collapse the refresh each `update_cell` asks for into one at the end
        (with thousands of cells a frame, the per-call refresh is the cost)."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        self.refresh()

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Self:
        if self._deferring:
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _refresh_host_cell(self, key: RunKey) -> None:
        rk = row_key(key)
        if rk not in self.rows:
            return
        first = KeyedText()
        first.append_text(host_text(self.board.runs[key], self.widths["host"], key in self.marks))
        first.run_key = key
        self.update_cell(rk, "host", first)
