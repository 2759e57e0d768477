"""The run table's lines as strips: cells from `render.COLUMNS` turned into
segments with styles combined once per kind of line, and each row's strip kept until
its run, its look or its elapsed time changes."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from jobtui.events import RunView
from jobtui.model import RunKey
from jobtui.ui.render import COLUMNS, Piece, elapsed_pieces, fit

CURSOR, HOVER, MARKED, ODD, HEADER = 1, 2, 4, 8, 16
"""Bits of a line's look."""
PAD = " "
"""The blank on each side of a cell."""

Cell = tuple[str, list[Piece], int, bool]
"""A cell's column, content, width and whether it is right-justified."""


def table_width(widths: Mapping[str, int]) -> int:
    """Cells a row takes: the columns and their padding."""
    return sum(w + 2 * len(PAD) for w in widths.values() if w)


class Look:
    """The styles of one kind of line (header, even or odd row, under the cursor or
    the mouse), combined as `DataTable` does: line, then cursor or mouse highlight,
    then the cell's own style, then the highlight's colours over everything.

    Each style also names its column (Rich meta, dropped on output), as DataTable's
    did: screenshots merge neighbouring segments of equal style, and a cell merged
    into the next no longer sits on the grid when a viewer lacks the font."""

    def __init__(self, base: Style, post: Style) -> None:
        self.base = base
        self.post = post
        self._styles: dict[tuple[str, str], Style] = {}

    def style(self, column: str, definition: str) -> Style:
        key = (column, definition)
        style = self._styles.get(key)
        if style is None:
            style = Style.parse(definition) if definition else Style()
            style = self.base + style + self.post + Style.from_meta({"column": column})
            self._styles[key] = style
        return style


def paint(look: Look, cells: list[Cell], width: int) -> Strip:
    """One line at least `width` cells wide: each cell fitted to its width between
    padding, then the line's background to the edge."""
    segments: list[Segment] = []
    append, style_of = segments.append, look.style
    used = 0
    for column, pieces, cell_width, right in cells:
        if not cell_width:
            continue  # a column not shown (`Column.optional`)
        pad_style = style_of(column, "")
        text, style = PAD, pad_style
        for part, definition in fit(pieces, cell_width, right):
            part_style = style_of(column, definition)
            if part_style is style:
                text += part
            else:
                append(Segment(text, style))
                text, style = part, part_style
        if style is pad_style:
            append(Segment(text + PAD, style))
        else:
            append(Segment(text, style))
            append(Segment(PAD, pad_style))
        used += cell_width + 2 * len(PAD)
    if used < width:
        append(Segment(" " * (width - used), look.base))
    return Strip(segments, max(used, width))


class Lines:
    """The header and the rows as strips, each reused while it would not change.

    Args:
        component_style: The table's style for one of its component classes, by
            name without the `runs-table--` prefix.
    """

    def __init__(self, component_style: Callable[[str], Style]) -> None:
        self._component_style = component_style
        self.widths: dict[str, int] = {}
        self.width = 0
        """The width of the lines (at least the table's)."""
        self._looks: dict[int, Look] = {}
        self._header: dict[int, Strip] = {}
        self._rows: dict[RunKey, tuple[RunView, int, list[Piece], Strip]] = {}
        """Per run: the view, the look and the elapsed time its strip was drawn with."""

    def resize(self, widths: dict[str, int], width: int) -> None:
        """New column widths or line width: every strip is redrawn."""
        if widths != self.widths or width != self.width:
            self.widths, self.width = widths, width
            self._header.clear()
            self._rows.clear()

    def restyle(self) -> None:
        """The table's styles changed (focus, theme): every strip is redrawn."""
        self._looks.clear()
        self._header.clear()
        self._rows.clear()

    def keep_only(self, keys: Collection[RunKey]) -> None:
        """Forget the strips of other runs (scrolled away long ago)."""
        self._rows = {k: v for k, v in self._rows.items() if k in keys}

    def __len__(self) -> int:
        return len(self._rows)

    def header(self, hover: bool) -> Strip:
        kind = HEADER | (HOVER if hover else 0)
        strip = self._header.get(kind)
        if strip is None:
            cells = [
                (c.key, [(c.label, "")], self.widths[c.key], c.right or c.right_label)
                for c in COLUMNS
            ]
            strip = self._header[kind] = paint(self.look(kind), cells, self.width)
        return strip

    def row(self, view: RunView, kind: int, now: float) -> Strip:
        """A run's line (`kind`: CURSOR, HOVER, MARKED and ODD bits)."""
        elapsed = elapsed_pieces(view, now)
        drawn = self._rows.get(view.key)
        if drawn is not None and drawn[0] is view and drawn[1] == kind and drawn[2] == elapsed:
            return drawn[3]
        widths, marked = self.widths, bool(kind & MARKED)
        cells = [
            (
                c.key,
                elapsed if c.key == "elapsed" else c.cell(view, now, widths[c.key], marked),
                widths[c.key],
                c.right,
            )
            for c in COLUMNS
        ]
        strip = paint(self.look(kind & ~MARKED), cells, self.width)
        self._rows[view.key] = (view, kind, elapsed, strip)
        return strip

    def elapsed_moved(self, view: RunView, now: float) -> bool:
        """Whether the run's line shows another elapsed time than it would now."""
        drawn = self._rows.get(view.key)
        return drawn is None or drawn[2] != elapsed_pieces(view, now)

    def look(self, kind: int) -> Look:
        look = self._looks.get(kind)
        if look is None:
            look = self._looks[kind] = self._make_look(kind)
        return look

    def _make_look(self, kind: int) -> Look:
        style = self._component_style
        highlight = Style()
        if kind & HOVER:
            highlight += style("hover")
        if kind & HEADER:
            line = style("header")
            if kind & HOVER:
                highlight += style("header-hover")
        else:
            line = style("odd-row" if kind & ODD else "even-row")
            if kind & CURSOR:
                highlight += style("cursor")
        # The highlight's colours win over the cells' own (as in DataTable).
        post = Style.from_color(highlight.color, highlight.bgcolor) if highlight else Style()
        return Look(line + highlight, post)
