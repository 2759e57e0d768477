"""What the host grid writes: a cell's look, a group's header and the info line on
the host or group under the cursor. Pure renderers over `HostGroups` (Rich only, no
Textual); names and reasons from hosts pass through `render.truncate` (made inert)."""

from __future__ import annotations

from rich.text import Text

from jobtui.model import RunState
from jobtui.text import one_line
from jobtui.ui.hostgroups import HostGroups, group_label
from jobtui.ui.render import STATE_LOOK, STATE_ORDER, counts_text, truncate

NO_STATE = ("·", "grey42")
"""The look of a host with no run."""


def cell_look(state: RunState | None) -> tuple[str, str]:
    """A cell's glyph and Rich style for the host's worst state (None: no run)."""
    if state is None:
        return NO_STATE
    look = STATE_LOOK[state]
    return look.symbol, look.style


def group_text(groups: HostGroups, group: str, info: bool = False) -> Text:
    """A group's header, `webservers 200 ✘1 ▶63 ✔319` (its hosts, its runs' counts);
    for the info line, ` webservers 200 hosts ✘1 …`."""
    n = len(groups.hosts(group))
    text = Text(no_wrap=True)
    if info:
        text.append(f" {truncate(group_label(group), 30)}", "bold")
        text.append(f" {n} host{'s' if n != 1 else ''} ", "grey70")
    else:
        text.append(f"{truncate(group_label(group), 24)} ", "bold")
        text.append(f"{n} ", "grey62")
    text.append_text(counts_text(groups.counts(group)))
    return text


def host_text(groups: HostGroups, host: str | None) -> Text:
    """The info line on a host: its cell, its name, why it is unreachable, then each
    of its runs (most urgent first) as `✘ backup[users_db]`."""
    text = Text(no_wrap=True)
    if host is None:
        text.append(" no hosts yet", "grey62")
        return text
    glyph, style = cell_look(groups.worst(host))
    text.append(f" {glyph} ", style)
    text.append(truncate(host, 30), "bold")
    board = groups.board
    info = board.hosts.get(host)
    if info is not None and info.reachable is False:
        text.append(" unreachable: " + truncate(info.reason or "no reason given", 60), style)
    runs = sorted(
        (board.runs[k] for k in groups.runs_of.get(host, ())),
        key=lambda v: (STATE_ORDER[v.state], v.job, v.key[2]),
    )
    for view in runs:
        look = STATE_LOOK[view.state]
        item = f"[{one_line(view.item)}]" if view.item else ""
        text.append(f"  {look.symbol} ", look.style)
        text.append(truncate(view.job, 24) + truncate(item, 24))
    if not runs:
        text.append("  no runs", "grey62")
    return text
