"""The host grid: one cell per host, in the colour and glyph of its worst state, under
its inventory group; the fleet at a glance, for when a list of hosts no longer fits.

A Line-API `ScrollView`, as the run table: no widget per cell. Line 0 says what the
cursor (or the mouse) is on: a host, its group and its runs, or a group and its
counts. Below it, each group is a header line (`▾ dbservers 100  ✘2 ▶10 ✔88`: its
counts are the group's summary) and rows of cells. A change repaints only the cells
whose look changed, the headers whose counts changed and the info line if it is
about them.

A cell is the glyph of the host's worst state (`hostgroups.worst_state`, the urgency
order of `render.STATE_ORDER`) in that state's colour: the glyphs differ per state,
so colour is never the only sign. An unreachable host counts as one unreachable run
(a failed run on it still shows first); a host with no run is a dim `·`.

Cells are two columns wide (glyph and a blank) when the whole grid fits so, else one.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from jobtui.ui.board import Board, Changes
from jobtui.ui.grid_text import cell_look, group_text, host_text
from jobtui.ui.hostgroups import HostGroups
from jobtui.ui.keys import Scope, bindings

HEADER = -1
"""`Line.start` of a group's header line."""
INFO_LINES = 1
"""Fixed lines on top (the info line)."""

Line = tuple[str, int, int]
"""A line of the grid: its group, the index of its first host in the group (`HEADER`
for the group's header) and the number of cells on it."""
Spot = tuple[int, int]
"""A place in the grid: line, and column (in cells; 0 on a header)."""


def grid_lines(groups: list[tuple[str, int]], per_line: int) -> list[Line]:
    """The lines of a grid: for each group (name, number of hosts), a header, then
    rows of at most `per_line` cells."""
    lines: list[Line] = []
    per_line = max(1, per_line)
    for group, n in groups:
        lines.append((group, HEADER, 0))
        lines += [(group, start, min(per_line, n - start)) for start in range(0, n, per_line)]
    return lines


class HostGrid(ScrollView, can_focus=True):
    """Every host of a `Board` as one cell, by group, with a cursor."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "host-grid--cursor",
        "host-grid--selected",
        "host-grid--hover",
        "host-grid--header",
        "host-grid--info",
    }
    DEFAULT_CSS = """
    HostGrid {
        background: $surface;
        color: $foreground;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
        & > .host-grid--cursor {
            text-style: reverse;
        }
        &:focus > .host-grid--cursor {
            text-style: bold reverse;
        }
        & > .host-grid--selected {
            background: $block-cursor-blurred-background;
        }
        &:focus > .host-grid--selected {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
        }
        & > .host-grid--hover {
            background: $block-hover-background;
        }
        & > .host-grid--header {
            text-style: bold;
            color: $text-muted;
        }
        & > .host-grid--info {
            background: $panel;
            color: $foreground;
        }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = bindings(Scope.GRID)

    class HostSelected(Message):
        """Enter (or a click) on a host's cell."""

        def __init__(self, grid: HostGrid, host: str) -> None:
            super().__init__()
            self.grid = grid
            self.host = host

        @property
        def control(self) -> HostGrid:
            return self.grid

    class GroupSelected(Message):
        """Enter (or a click) on a group's header."""

        def __init__(self, grid: HostGrid, group: str) -> None:
            super().__init__()
            self.grid = grid
            self.group = group

        @property
        def control(self) -> HostGrid:
            return self.grid

    def __init__(self, board: Board, groups: HostGroups | None = None, **kwargs: object) -> None:
        """`groups`: the hosts by group, if the screen shares them (the group summary
        reads them too); this grid's own otherwise. Whoever holds them applies the
        board's changes to them first (`HostGroups.apply`), then calls `apply`."""
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.board = board
        self.groups = groups if groups is not None else HostGroups(board)
        self.roomy = False
        """Two-column cells may be used (where the grid's height is its own: the side
        panel), if all the grid fits so."""
        self.cell_width = 1
        self.lines: list[Line] = []
        self._spot_of_host: dict[str, Spot] = {}
        self._line_of_group: dict[str, int] = {}
        self.cursor: Spot = (0, 0)
        self._want_column = 0
        """The column up and down aim for (a header's line has one spot)."""
        self._hover: Spot | None = None
        self._looks: dict[str, tuple[str, str]] = {}
        """Each host's cell as drawn last."""
        self._headers: dict[str, str] = {}
        self._styles: dict[tuple[str, int], Style] = {}

    # -- what is where ------------------------------------------------------------

    def host_at(self, spot: Spot) -> str | None:
        """The host of a cell (None on a header or off the grid)."""
        line, column = spot
        if not 0 <= line < len(self.lines):
            return None
        group, start, count = self.lines[line]
        if start == HEADER or not 0 <= column < count:
            return None
        return self.groups.hosts(group)[start + column]

    def group_at(self, spot: Spot) -> str | None:
        """The group of a header (None elsewhere)."""
        line = spot[0]
        if 0 <= line < len(self.lines) and self.lines[line][1] == HEADER:
            return self.lines[line][0]
        return None

    def spot_of(self, host: str) -> Spot | None:
        return self._spot_of_host.get(host)

    def header_of(self, group: str) -> Spot | None:
        line = self._line_of_group.get(group)
        return None if line is None else (line, 0)

    def cursor_host(self) -> str | None:
        return self.host_at(self.cursor)

    # -- live updates ---------------------------------------------------------------

    def apply(self, changes: Changes, changed: set[str], moved: bool) -> None:
        """Show what changed: repaint the cells, headers and info line that did; the
        whole grid only when a host joined or moved (`moved`).

        Args:
            changed: the groups whose counts changed (`HostGroups.apply`).
        """
        if moved:
            self.relayout()
            return
        about = self._about()
        info = False
        for host in changes.hosts:
            look = cell_look(self.groups.worst(host))
            if self._looks.get(host) != look:
                self._looks[host] = look
                spot = self._spot_of_host.get(host)
                if spot is not None:
                    self._refresh_spot(spot)
            info = info or about == host
        for group in changed:
            if self._headers.get(group) != group_text(self.groups, group).plain:
                line = self._line_of_group.get(group)
                if line is not None:
                    self._refresh_line(line)
            info = info or about == group
        if info:
            self._refresh_info()

    # -- layout ---------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self.relayout()

    def relayout(self) -> None:
        """Lay the groups out again for the width (keeping the cursor on its host or
        header), and repaint."""
        keep_host, keep_group = self.cursor_host(), self.group_at(self.cursor)
        width = max(1, self.size.width - 1)  # a column for the scrollbar
        groups = [(g, len(self.groups.hosts(g))) for g in self.groups.groups()]
        self.cell_width = 1
        if self.roomy:
            wide = grid_lines(groups, width // 2)
            if len(wide) + INFO_LINES <= self.size.height:
                self.cell_width = 2
        self.lines = grid_lines(groups, width // self.cell_width)
        self._spot_of_host = {}
        self._line_of_group = {}
        for n, (group, start, count) in enumerate(self.lines):
            if start == HEADER:
                self._line_of_group[group] = n
                continue
            hosts = self.groups.hosts(group)
            for column in range(count):
                self._spot_of_host[hosts[start + column]] = (n, column)
        self._looks = {h: cell_look(self.groups.worst(h)) for h in self.groups.group_of}
        self._headers = {}
        spot = None
        if keep_host is not None:
            spot = self.spot_of(keep_host)
        elif keep_group is not None:
            spot = self.header_of(keep_group)
        self.cursor = self._clamp(spot or self.cursor)
        virtual = Size(width, len(self.lines) + INFO_LINES)
        layout = virtual.height != self.virtual_size.height  # its height may be `auto`
        self.virtual_size = virtual
        self._scroll_to_cursor()
        self.refresh(layout=layout)

    def _clamp(self, spot: Spot) -> Spot:
        if not self.lines:
            return (0, 0)
        line = max(0, min(spot[0], len(self.lines) - 1))
        count = self.lines[line][2]
        return line, (0 if self.lines[line][1] == HEADER else max(0, min(spot[1], count - 1)))

    def _rows_in_view(self) -> int:
        return max(1, self.scrollable_content_region.height - INFO_LINES)

    # -- repainting -----------------------------------------------------------------

    def _refresh_spot(self, spot: Spot) -> None:
        line, column = spot
        y = line - self.scroll_offset.y + INFO_LINES
        if INFO_LINES <= y < self.size.height:
            self.refresh(Region(column * self.cell_width, y, self.cell_width, 1))

    def _refresh_line(self, line: int) -> None:
        y = line - self.scroll_offset.y + INFO_LINES
        if INFO_LINES <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def _refresh_at(self, spot: Spot) -> None:
        """Repaint a cell, or a header's line."""
        if self.group_at(spot) is not None:
            self._refresh_line(spot[0])
        else:
            self._refresh_spot(spot)

    def _refresh_info(self) -> None:
        self.refresh(Region(0, 0, self.size.width, INFO_LINES))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = {}
        self.refresh()

    # -- the cursor -----------------------------------------------------------------

    def move_cursor(self, spot: Spot) -> None:
        """Put the cursor there; repaint the two spots and the info line."""
        old, self.cursor = self.cursor, self._clamp(spot)
        if self.cursor != old:
            self._refresh_at(old)
            self._refresh_at(self.cursor)
            self._refresh_info()
        self._scroll_to_cursor()

    def _scroll_to_cursor(self) -> None:
        if not self.size:
            return
        top, rows, line = self.scroll_offset.y, self._rows_in_view(), self.cursor[0]
        if line < top:
            self.scroll_to(y=line, animate=False, force=True)
        elif line >= top + rows:
            self.scroll_to(y=line - rows + 1, animate=False, force=True)

    def _keyboard(self) -> None:
        if self._hover is not None:
            self._set_hover(None)

    def _vertical(self, lines: int) -> None:
        self._keyboard()
        self.move_cursor((self.cursor[0] + lines, self._want_column))

    def _horizontal(self, step: int) -> None:
        """To the next (or previous) spot in reading order."""
        self._keyboard()
        line, column = self.cursor
        if not self.lines:
            return
        count = 1 if self.lines[line][1] == HEADER else self.lines[line][2]
        column += step
        if column >= count:
            line, column = line + 1, 0
        elif column < 0 and line > 0:
            line -= 1
            column = 0 if self.lines[line][1] == HEADER else self.lines[line][2] - 1
        self.move_cursor((line, max(0, column)))
        self._want_column = self.cursor[1]

    def action_cursor_up(self) -> None:
        self._vertical(-1)

    def action_cursor_down(self) -> None:
        self._vertical(+1)

    def action_cursor_left(self) -> None:
        self._horizontal(-1)

    def action_cursor_right(self) -> None:
        self._horizontal(+1)

    def action_page_up(self) -> None:
        self._vertical(-self._rows_in_view())

    def action_page_down(self) -> None:
        self._vertical(self._rows_in_view())

    def action_cursor_top(self) -> None:
        self._keyboard()
        self.move_cursor((0, 0))

    def action_cursor_bottom(self) -> None:
        self._keyboard()
        self.move_cursor((len(self.lines) - 1, len(self.groups.group_of)))

    def action_select_cursor(self) -> None:
        self._select(self.cursor)

    def _select(self, spot: Spot) -> None:
        host, group = self.host_at(spot), self.group_at(spot)
        if host is not None:
            self.post_message(self.HostSelected(self, host))
        elif group is not None:
            self.post_message(self.GroupSelected(self, group))

    # -- the mouse ------------------------------------------------------------------

    def _spot_at(self, event: events.MouseEvent) -> Spot | None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < INFO_LINES:
            return None
        spot = (self.scroll_offset.y + offset.y - INFO_LINES, offset.x // self.cell_width)
        if self.group_at(spot) is not None:
            return spot[0], 0
        return spot if self.host_at(spot) is not None else None

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._set_hover(self._spot_at(event))

    def on_leave(self, event: events.Leave) -> None:
        self._set_hover(None)

    def on_click(self, event: events.Click) -> None:
        spot = self._spot_at(event)
        if spot is None:
            return
        event.stop()
        if spot == self.cursor:
            self._select(spot)
        else:
            self.move_cursor(spot)
            self._want_column = spot[1]

    def _set_hover(self, spot: Spot | None) -> None:
        old, self._hover = self._hover, spot
        if old == spot:
            return
        for where in (old, spot):
            if where is not None:
                self._refresh_at(where)
        self._refresh_info()

    # -- drawing --------------------------------------------------------------------

    def _style(self, definition: str, kind: int) -> Style:
        """A Rich style over the line's (0), the cursor's (1) or the mouse's (2)."""
        key = (definition, kind)
        style = self._styles.get(key)
        if style is None:
            base = self.rich_style
            over = ("", "host-grid--cursor", "host-grid--hover")[kind]
            if over:
                base = base + self.get_component_rich_style(over)
            style = base + (Style.parse(definition) if definition else Style())
            self._styles[key] = style
        return style

    def _about(self) -> str | None:
        """The host or group the info line tells of: under the mouse, else the cursor."""
        spot = self._hover or self.cursor
        return self.host_at(spot) or self.group_at(spot)

    def _info(self) -> Text:
        spot = self._hover or self.cursor
        host, group = self.host_at(spot), self.group_at(spot)
        if group is not None:
            return group_text(self.groups, group, info=True)
        return host_text(self.groups, host)

    def _text_strip(self, text: Text, component: str) -> Strip:
        """A line of text over the widget's style and a component's."""
        width = self.size.width
        text.truncate(width, overflow="ellipsis", pad=True)
        base = self._base(component)
        segments = [
            Segment(seg.text, base + seg.style if seg.style else base)
            for seg in text.render(self.app.console)
            if seg.text != "\n"
        ]
        return Strip(segments, width)

    def _base(self, component: str) -> Style:
        key = (component, -1)
        style = self._styles.get(key)
        if style is None:
            style = self.rich_style
            if component:
                style = style + self.get_component_rich_style(component)
            self._styles[key] = style
        return style

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y < INFO_LINES:
            return self._text_strip(self._info(), "host-grid--info")
        line = self.scroll_offset.y + y - INFO_LINES
        if line >= len(self.lines):
            return Strip.blank(width, self.rich_style)
        group, start, count = self.lines[line]
        if start == HEADER:
            text = group_text(self.groups, group)
            self._headers[group] = text.plain
            if self.cursor == (line, 0):
                return self._text_strip(text, "host-grid--selected")
            if self._hover == (line, 0):
                return self._text_strip(text, "host-grid--hover")
            return self._text_strip(text, "host-grid--header")
        hosts = self.groups.hosts(group)
        segments: list[Segment] = []
        pad = " " * (self.cell_width - 1)
        for column in range(count):
            host = hosts[start + column]
            glyph, definition = self._looks.get(host) or cell_look(self.groups.worst(host))
            spot = (line, column)
            kind = 1 if spot == self.cursor else 2 if spot == self._hover else 0
            # A segment per cell, told apart by meta: a screenshot never merges two
            # cells (where the font lacks a glyph, the next ones would shift).
            style = self._style(definition, kind) + Style.from_meta({"cell": column})
            segments.append(Segment(glyph + pad, style))
        used = count * self.cell_width
        if used < width:
            segments.append(Segment(" " * (width - used), self.rich_style))
        return Strip(segments, max(width, used))
