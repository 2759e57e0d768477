"""The live run table: a virtual list drawn from `Board.runs`, one line per shown run.

Nothing is kept per row but the order of the shown runs (`ui.order.RunOrder`, which
filters and sorts; this widget draws, and moves the cursor): a line is drawn from the
run's latest view when it is on screen, and its strip is reused until that view, the
line's look (cursor, mouse, mark, stripe) or its elapsed time changes. So a second
in which 5,000 runs change costs the few lines on screen, not 5,000 cell updates.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import ClassVar

from rich.style import Style
from textual import events
from textual.binding import BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from jobtui.model import RunKey
from jobtui.ui.batch_progress import in_trouble
from jobtui.ui.board import Board
from jobtui.ui.keys import Scope, bindings
from jobtui.ui.order import SORT_MODES, Filter, FilterError, RunOrder, next_sort, parse_filter
from jobtui.ui.render import COLUMNS
from jobtui.ui.widgets.run_lines import CURSOR, HOVER, MARKED, ODD, PAD, Lines, table_width
from jobtui.ui.widths import CHANGING, column_widths, widen


class RunsTable(ScrollView, can_focus=True):
    """The runs of a `Board` that match the filter, with a header and a row cursor."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "runs-table--header",
        "runs-table--header-hover",
        "runs-table--cursor",
        "runs-table--hover",
        "runs-table--even-row",
        "runs-table--odd-row",
    }
    # The look of Textual's DataTable, which this table replaced.
    DEFAULT_CSS = """
    RunsTable {
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .runs-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .runs-table--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark > .runs-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .runs-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .runs-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .runs-table--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .runs-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .runs-table--header-hover {
            background: $accent 30%;
        }
        & > .runs-table--hover {
            background: $block-hover-background;
        }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = bindings(Scope.TABLE)

    run_filter: var[Filter] = var(Filter, always_update=True, init=False)
    """The last good filter (`set_filter`); always rebuilds, as typing in the box did."""
    filter_error: var[str] = var("", init=False)
    """Why the filter box's text was not taken ("": it was); the screen shows it."""
    hide_finished: var[bool] = var(False, init=False)
    sort_mode: var[str] = var("host", always_update=True, init=False)
    """One of `SORT_MODES`; setting it sorts again (even to the same mode)."""
    sort_reverse: var[bool] = var(False, init=False)
    """The sort mode's order turned around (`S`)."""
    marks: var[frozenset[RunKey]] = var(frozenset(), init=False)
    """The marked runs (replaced, never changed in place, so watchers see it)."""
    only: var[frozenset[RunKey] | None] = var(None, init=False)
    """Show these runs only (a problem's runs), None: every run the filter lets through."""

    class Selected(Message):
        """Enter, or a click on the cursor's row: the operator wants this run."""

        def __init__(self, table: RunsTable, key: RunKey) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> RunsTable:
            return self.table

    class HeaderSelected(Message):
        """A click on a column's label."""

        def __init__(self, table: RunsTable, column: str) -> None:
            super().__init__()
            self.table = table
            self.column = column

        @property
        def control(self) -> RunsTable:
            return self.table

    def __init__(self, board: Board, clock: Callable[[], float], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.board = board
        self.clock = clock
        self.order = RunOrder(board.runs)
        self.cursor_row = 0
        self.widths: dict[str, int] = column_widths(80, {})
        self._longest: dict[str, int] = {}
        """The longest value of each column sized by content (`widths.widen`)."""
        self._hover: int | None = None
        """The row under the mouse (-1: the header), None when the keyboard moved last."""
        self._lines = Lines(lambda name: self.get_component_rich_style(f"runs-table--{name}"))
        self._blank = Style()
        """Below the last row."""

    # -- what is shown --------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self.order)

    def shown_keys(self) -> list[RunKey]:
        """The runs shown, in table order."""
        return list(self.order.keys)

    def cursor_key(self) -> RunKey | None:
        keys = self.order.keys
        return keys[self.cursor_row] if keys else None

    def targets(self) -> list[RunKey]:
        """The runs an action applies to: the marked ones, else the cursor's."""
        if self.marks:
            return sorted(self.marks)
        key = self.cursor_key()
        return [key] if key is not None else []

    # -- settings (user actions: rebuilding the order is fine) ------------------

    def set_filter(self, text: str) -> None:
        """Show the runs that `text` lets through; a text that does not parse keeps
        the last good filter and says why in `filter_error` (never an empty table)."""
        try:
            run_filter = parse_filter(text)
        except FilterError as err:
            self.filter_error = str(err)
            return
        self.filter_error = ""
        self.order.batch = self.board.batch
        self.run_filter = run_filter

    def toggle_finished(self) -> None:
        self.hide_finished = not self.hide_finished

    def set_sort(self, mode: str) -> None:
        self.sort_mode = mode

    def cycle_sort(self) -> None:
        self.sort_mode = next_sort(self.sort_mode)

    def reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse

    def toggle_mark(self, key: RunKey) -> None:
        self.marks = self.marks ^ {key}

    def mark_shown(self) -> None:
        """Mark every shown run; if they all are already, unmark them."""
        shown = frozenset(self.order.keys)
        self.marks = self.marks | shown if shown - self.marks else self.marks - shown

    def clear_marks(self) -> None:
        self.marks = frozenset()

    def validate_sort_mode(self, mode: str) -> str:
        if mode not in SORT_MODES:
            raise ValueError(f"unknown sort mode {mode!r}")
        return mode

    def watch_run_filter(self, run_filter: Filter) -> None:
        self.order.filter = run_filter
        self.rebuild()

    def watch_only(self, only: frozenset[RunKey] | None) -> None:
        self.order.only = only
        self.rebuild()

    def watch_hide_finished(self, hide: bool) -> None:
        self.order.hide_finished = hide
        self.rebuild()

    def watch_sort_mode(self, mode: str) -> None:
        self.order.sort_mode = mode
        self.rebuild()

    def watch_sort_reverse(self, reverse: bool) -> None:
        self.order.reverse = reverse
        self.rebuild()

    def watch_marks(self, old: frozenset[RunKey], new: frozenset[RunKey]) -> None:
        """Repaint the lines on screen whose mark changed."""
        on_screen = self._on_screen()
        self._refresh_rows(*(on_screen[k] for k in old ^ new if k in on_screen))

    # -- the order ----------------------------------------------------------------

    def rebuild(self) -> None:
        """Filter and sort every run again (keeping the cursor on its run)."""
        keep = self.cursor_key()
        self.order.rebuild()
        if keep not in self.order:
            self.cursor_row = 0  # its run is gone: back to the top (as DataTable did)
        self.scroll_to(y=0, animate=False, force=True)
        self._reshaped(keep, follow=True)
        self.refresh()

    def apply(self, keys: Iterable[RunKey], added: Collection[RunKey] = ()) -> None:
        """Take changed runs into account: plain dict and set work per run; a repaint
        only for the lines on screen whose run changed, or when the order did."""
        runs = self.board.runs
        keys = keys if isinstance(keys, Collection) else list(keys)
        if (added and widen(self._longest, [runs[k] for k in added])) or widen(
            self._longest, [runs[k] for k in keys], only=CHANGING
        ):
            self.relayout()  # a run was added, or one's state is longer than all others
        keep, before = self.cursor_key(), self._visible()
        update = self.order.apply(keys)
        if update.moved:
            self._reshaped(keep)
            if self._visible() != before:
                self.refresh()  # the lines on screen moved
                return
        on_screen = self._on_screen()
        self._refresh_rows(*(on_screen[k] for k in update.shown if k in on_screen))

    def _reshaped(self, keep: RunKey | None, follow: bool = False) -> None:
        """After the order changed: the cursor stays on its run (and the view follows
        it if it moved, or if `follow`), the height follows the number of rows."""
        before = self.cursor_row
        if keep is not None and keep in self.order:
            self.cursor_row = self.order.index(keep)
        self.cursor_row = max(0, min(self.cursor_row, len(self.order) - 1))
        self.virtual_size = Size(self._table_width(), len(self.order) + 1)
        if follow or self.cursor_row != before:
            self._scroll_to_cursor()

    def tick(self) -> None:
        """Repaint the lines on screen whose elapsed time moved (once a second)."""
        now, runs, moved = self.clock(), self.board.runs, self._lines.elapsed_moved
        self._refresh_rows(
            *(row for key, row in self._on_screen().items() if moved(runs[key], now))
        )

    # -- layout -------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self.relayout()

    def relayout(self) -> None:
        """Fit the columns to the width (the longest values first)."""
        widths = column_widths(self.size.width - 1, self._longest)
        if widths != self.widths:
            self.widths = widths
            self.refresh()
        self.virtual_size = Size(self._table_width(), len(self.order) + 1)
        self._scroll_to_cursor()

    def _table_width(self) -> int:
        return table_width(self.widths)

    def _rows_in_view(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _visible(self) -> list[RunKey]:
        top = self.scroll_offset.y
        return self.order.keys[top : top + self._rows_in_view()]

    def _on_screen(self) -> dict[RunKey, int]:
        """The rows on screen, by run: their index in the order."""
        top = self.scroll_offset.y
        return {key: top + i for i, key in enumerate(self._visible())}

    def _refresh_rows(self, *rows: int) -> None:
        """Repaint these rows' lines (those on screen)."""
        top, height = self.scroll_offset.y, self._rows_in_view()
        width = max(self.size.width, self.virtual_size.width)
        regions = [Region(0, row - top + 1, width, 1) for row in rows if 0 <= row - top < height]
        if regions:
            self.refresh(*regions)

    def notify_style_update(self) -> None:
        """Focus, theme or CSS changed: the styles of every line may have."""
        super().notify_style_update()
        self._lines.restyle()
        self.refresh()

    # -- the cursor -----------------------------------------------------------------

    def move_cursor(self, row: int, scroll: bool = True) -> None:
        """Put the cursor on this row; repaint only the two lines that change."""
        row = max(0, min(row, len(self.order) - 1))
        old, self.cursor_row = self.cursor_row, row
        if row != old:
            self._refresh_rows(old, row)
        if scroll:
            self._scroll_to_cursor()

    def _scroll_to_cursor(self) -> None:
        if not self.size:
            return
        top, rows, row = self.scroll_offset.y, self._rows_in_view(), self.cursor_row
        if row < top:
            self.scroll_to(y=row, animate=False, force=True)
        elif row >= top + rows:
            self.scroll_to(y=row - rows + 1, animate=False, force=True)

    def _keyboard(self) -> None:
        """The keyboard moved: no more mouse highlight."""
        if self._hover is not None:
            self._set_hover(None)

    def action_cursor_up(self) -> None:
        self._keyboard()
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self._keyboard()
        self.move_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self._keyboard()
        rows = self._rows_in_view()
        self.scroll_to(y=self.scroll_offset.y - rows, animate=False, force=True)
        self.move_cursor(self.cursor_row - rows)

    def action_page_down(self) -> None:
        self._keyboard()
        rows = self._rows_in_view()
        self.scroll_to(y=self.scroll_offset.y + rows, animate=False, force=True)
        self.move_cursor(self.cursor_row + rows)

    def action_cursor_top(self) -> None:
        self._keyboard()
        self.move_cursor(0)

    def action_cursor_bottom(self) -> None:
        self._keyboard()
        self.move_cursor(len(self.order) - 1)

    def next_in_trouble(self) -> bool:
        """Put the cursor on the next shown run in trouble after it (`n`), wrapping
        round to the top; False if no shown run is in trouble."""
        keys, runs = self.order.keys, self.board.runs
        count = len(keys)
        for step in range(1, count + 1):
            row = (self.cursor_row + step) % count
            if in_trouble(runs[keys[row]].state):
                self._keyboard()
                self.move_cursor(row)
                return True
        return False

    def action_select_cursor(self) -> None:
        key = self.cursor_key()
        if key is not None:
            self.post_message(self.Selected(self, key))

    # -- the mouse ------------------------------------------------------------------

    def _row_at(self, event: events.MouseEvent) -> int | None:
        """The row under the mouse: -1 for the header, None off the rows."""
        offset = event.get_content_offset(self)
        if offset is None:
            return None
        if offset.y == 0:
            return -1
        row = self.scroll_offset.y + offset.y - 1
        return row if row < len(self.order) else None

    def _column_at(self, x: int) -> str | None:
        x += self.scroll_offset.x
        for column in COLUMNS:
            if not self.widths[column.key]:
                continue  # not shown
            x -= self.widths[column.key] + 2 * len(PAD)
            if x < 0:
                return column.key
        return None

    def on_click(self, event: events.Click) -> None:
        row = self._row_at(event)
        if row is None:
            return
        event.stop()
        if row == -1:
            offset = event.get_content_offset(self)
            column = self._column_at(offset.x) if offset is not None else None
            if column is not None:
                self.post_message(self.HeaderSelected(self, column))
        elif row == self.cursor_row:
            self.action_select_cursor()
        else:
            self.move_cursor(row)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._set_hover(self._row_at(event))

    def on_leave(self, event: events.Leave) -> None:
        self._set_hover(None)

    def _set_hover(self, row: int | None) -> None:
        old, self._hover = self._hover, row
        if old == row:
            return
        for line in (old, row):
            if line == -1:
                self.refresh(Region(0, 0, max(self.size.width, self.virtual_size.width), 1))
            elif line is not None:
                self._refresh_rows(line)

    # -- drawing --------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        # Once per paint, not per line: neither is free.
        self._lines.resize(self.widths, self.size.width)
        self._blank = self.rich_style
        if len(self._lines) > 4 * self._rows_in_view() + 100:
            self._lines.keep_only(self._on_screen())  # rows scrolled away long ago
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        scroll_x, top = self.scroll_offset
        width = self._lines.width
        if y == 0:
            strip = self._lines.header(self._hover == -1)
        else:
            row = top + y - 1
            if row >= len(self.order):
                return Strip.blank(width, self._blank)
            key = self.order.keys[row]
            kind = (
                (CURSOR if row == self.cursor_row else 0)
                | (HOVER if row == self._hover else 0)
                | (MARKED if key in self.marks else 0)
                | (ODD if row % 2 else 0)
            )
            strip = self._lines.row(self.board.runs[key], kind, self.clock())
        return strip.crop_extend(scroll_x, scroll_x + width, None) if scroll_x else strip
