"""The run table's widths: each column sized by need, from the longest value it
showed (`widen`), within the width of the table (`column_widths`). Pure: no Textual.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from jobtui.events import RunView
from jobtui.ui.render import COLUMN, COLUMNS, EXTRA_MIN, Column

CHANGING = frozenset({"state"})
"""The columns sized by content whose value changes with the run (not only when it
is added)."""


def widen(longest: dict[str, int], views: Collection[RunView], only: Collection[str] = ()) -> bool:
    """Take these runs' values into `longest` (per column sized by content; `only`:
    of these columns).

    Returns:
        Whether one got longer (the widths may change).
    """
    grew = False
    for column in COLUMNS:
        if only and column.key not in only:
            continue
        for key, value in ((column.key, column.value), (core_key(column), column.core)):
            if value is not None:
                size = max(map(len, map(value, views)), default=0)
                if size > longest.get(key, 0):
                    longest[key] = size
                    grew = True
    return grew


def core_key(column: Column) -> str:
    """The key of a column's longest core in `widen`'s `longest` (`host.core`)."""
    return f"{column.key}.core"


def column_widths(total: int, longest: Mapping[str, int], padding: int = 1) -> dict[str, int]:
    """Widths of the run table's columns for a table `total` cells wide.

    Columns sized by content get what their longest value needs (within bounds),
    the fill column gets the rest; when that does not fit, the fill column and
    then the longest of the others shrink, down to their minimums. A column that
    would then show less than `EXTRA_MIN` cells of what its value adds to its core
    (the host's ` as root`) is sized to the core: those cells go to the others.
    An `optional` column (the batch) is 0 wide (not drawn) when no run has a value
    for it, or when showing it would narrow another column but the fill one.
    """
    hidden = {c.key for c in COLUMNS if c.optional and not longest.get(c.key)}
    widths = _cores(total, longest, padding, hidden)
    optional = {c.key for c in COLUMNS if c.optional} - hidden
    if optional:
        without = _cores(total, longest, padding, hidden | optional)
        if any(widths[k] < without[k] for k in without if k not in optional and not COLUMN[k].fill):
            return without
    return widths


def _cores(
    total: int, longest: Mapping[str, int], padding: int, hidden: set[str]
) -> dict[str, int]:
    widths = _fit(total, longest, padding, hidden)
    for c in COLUMNS:
        if c.core is None:
            continue
        full = longest.get(c.key, 0)
        core = longest.get(core_key(c), full)
        if full > core and widths[c.key] - c.reserve < core + EXTRA_MIN:
            longest = {**longest, c.key: core}
            widths = _fit(total, longest, padding, hidden)
    return widths


def _fit(total: int, longest: Mapping[str, int], padding: int, hidden: set[str]) -> dict[str, int]:
    shown = [c for c in COLUMNS if c.key not in hidden]
    fixed = [c for c in shown if c.width]
    sized = [c for c in shown if c.value is not None]
    fills = [c for c in shown if c.fill]
    free = total - 2 * padding * len(shown) - sum(c.width for c in fixed)
    widths = {
        c.key: min(
            c.max_width,
            max(c.min_width, longest.get(c.key, c.max_width if c.keep else 0) + c.reserve),
        )
        for c in sized
    }
    rest = free - sum(widths.values())
    for c in fills:
        widths[c.key] = min(c.max_width, max(c.min_width, rest // len(fills)))
    over = sum(widths.values()) - free
    while over > 0:
        cut = [c for c in sized if not c.keep and widths[c.key] > c.min_width] or sized
        widest = max(cut, key=lambda c: widths[c.key] - c.min_width)
        if widths[widest.key] <= widest.min_width:
            break
        widths[widest.key] -= 1
        over -= 1
    widths |= {c.key: c.width for c in fixed}
    return {c.key: widths.get(c.key, 0) for c in COLUMNS}
