"""Summaries: counts by state per host, per inventory group and per job, and the
status line on top."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import DataTable, Static

from jobtui.model import RunState
from jobtui.text import one_line
from jobtui.ui.board import ANSIBLE_JOBS, Board
from jobtui.ui.hostgroups import HostGroups, group_label
from jobtui.ui.render import ANSIBLE_STYLE, counts_text, truncate


class _Summary(DataTable[Text]):
    """A summary table: its cursor shows only while it has the focus."""

    _shown: dict[str, tuple[str, str]]
    _counts_width = 0

    def _wider(self, counts: Text) -> bool:
        """Re-measure the column only when a cell outgrows it: measuring every cell
        of the column on each update was a third of the UI's time at 100 hosts."""
        if counts.cell_len <= self._counts_width:
            return False
        self._counts_width = counts.cell_len
        return True

    def on_focus(self) -> None:
        self.show_cursor = True

    def on_blur(self) -> None:
        self.show_cursor = False


class HostSummary(_Summary):
    """One row per host: reachability and counts by state (in place)."""

    def __init__(self, board: Board, **kwargs: object) -> None:
        super().__init__(cursor_type="row", show_cursor=False, **kwargs)  # type: ignore[arg-type]
        self.board = board
        self._shown = {}

    def on_mount(self) -> None:
        self.add_column("Host", key="host")
        self.add_column("Runs", key="counts")

    def apply(self, hosts: Iterable[str]) -> None:
        for name in sorted(hosts):
            info = self.board.hosts.get(name)
            if info is None:
                continue
            if info.reachable is False:
                host = Text("↯ ", style="bold orange_red1")
            elif info.reachable:
                host = Text("● ", style="green3")
            else:
                host = Text("○ ", style="grey50")
            host.append(truncate(name, 20))
            counts = counts_text(info.counts)
            if info.reachable is False:
                counts.append(" " + truncate(info.reason or "unreachable", 40), "orange_red1")
            if self._shown.get(name) == (host.plain, counts.plain):
                continue  # progress moved, counts did not: nothing to redraw
            self._shown[name] = (host.plain, counts.plain)
            if name in self.rows:
                self.update_cell(name, "host", host)
                self.update_cell(name, "counts", counts, update_width=self._wider(counts))
            else:
                self._wider(counts)
                self.add_row(host, counts, key=name)
                self.sort("host", key=lambda cell: cell.plain[2:])


class JobSummary(_Summary):
    """One row per job: counts by state (in place); Ansible's own async jobs found on
    the hosts in one row of their own, `Ansible`, last."""

    def __init__(self, board: Board, **kwargs: object) -> None:
        super().__init__(cursor_type="row", show_cursor=False, **kwargs)  # type: ignore[arg-type]
        self.board = board
        self._shown = {}

    def on_mount(self) -> None:
        self.add_column("Job", key="job")
        self.add_column("Runs", key="counts")

    def apply(self, jobs: Iterable[str]) -> None:
        for name in sorted(jobs):
            counts = counts_text(self.board.jobs.get(name, {}))
            if waiting := self.board.waiting.get(name):  # held back by per_host/throttle
                counts.append(f" ({waiting} waiting)", "grey62")
            if self._shown.get(name) == ("", counts.plain):
                continue
            self._shown[name] = ("", counts.plain)
            if name in self.rows:
                self.update_cell(name, "counts", counts, update_width=self._wider(counts))
            else:
                self._wider(counts)
                if name == ANSIBLE_JOBS:
                    self.add_row(Text("Ansible", style=ANSIBLE_STYLE), counts, key=name)
                else:
                    self.add_row(Text(truncate(name, 24), style="bold"), counts, key=name)
                    if ANSIBLE_JOBS in self.rows:
                        self.sort("job", key=lambda cell: cell.plain == "Ansible")


class GroupSummary(_Summary):
    """One row per inventory group (`HostGroups`): its hosts and their runs' counts
    by state (in place), in the groups' order."""

    def __init__(self, groups: HostGroups, **kwargs: object) -> None:
        super().__init__(cursor_type="row", show_cursor=False, **kwargs)  # type: ignore[arg-type]
        self.groups = groups
        self._shown = {}

    def on_mount(self) -> None:
        self.add_column("Group", key="group")
        self.add_column("Runs", key="counts")

    def apply(self, groups: Iterable[str]) -> None:
        added = False
        for name in groups:
            if name not in self.groups:
                if name in self.rows:
                    self.remove_row(name)
                    del self._shown[name]
                continue
            n = len(self.groups.hosts(name))
            label = Text(truncate(group_label(name), 18), style="bold")
            label.append(f" {n}", style="grey62")
            counts = counts_text(self.groups.counts(name))
            if self._shown.get(name) == (label.plain, counts.plain):
                continue
            self._shown[name] = (label.plain, counts.plain)
            if name in self.rows:
                self.update_cell(name, "group", label)
                self.update_cell(name, "counts", counts, update_width=self._wider(counts))
            else:
                self._wider(counts)
                self.add_row(label, counts, key=name)
                added = True
        if added:  # in the groups' order (the key function sees cells, not row keys)
            rank = {self._shown[g][0]: i for i, g in enumerate(self.groups.groups())}
            self.sort("group", key=lambda cell: rank.get(cell.plain, len(rank)))


class StatusLine(Static):
    """The top line: title, batch, totals, and READ-ONLY when it is."""

    def __init__(self, board: Board, title: str, read_only: bool, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.board = board
        self.title = title
        self.read_only = read_only

    def on_mount(self) -> None:
        self.refresh_counts()

    def on_resize(self) -> None:
        self.refresh_counts()

    def refresh_counts(self) -> None:
        """Totals with labels when there is room, symbols only when narrow."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {self.title} ", style="bold reverse")
        if self.read_only:
            text.append(" READ-ONLY ", style="bold black on yellow3")
        wide = self.size.width >= 120
        batch = one_line(self.board.batch)
        if batch and batch not in self.title:  # `jobtui attach BATCH` names it already
            text.append(f" batch {batch}" if wide else f" {batch}", "bold")
        total = sum(self.board.totals.values())
        text.append(f"  {total} run{'s' if total != 1 else ''}  " if wide else "  ")
        counts = counts_text(self.board.totals, labels=wide)
        theirs = self.board.jobs.get(ANSIBLE_JOBS)
        if theirs and any(theirs.values()):
            # Ansible's jobs are counted apart: with them, labels only if all fits.
            ansible = Text("  Ansible ", style=ANSIBLE_STYLE)
            ansible.append_text(counts_text(theirs))
            room = self.size.width - text.cell_len - ansible.cell_len - len("  following…")
            if wide and counts.cell_len > room:
                counts = counts_text(self.board.totals)
            counts.append_text(ansible)
        text.append_text(counts)
        if waiting := sum(self.board.waiting.values()):
            text.append(f" ({waiting} waiting)", "grey62")
        if self.board.settled and self.board.unfollowed:
            n = len(self.board.unfollowed)
            text.append(f"  (batch over: {n} not followed; jobtui attach)", style="italic yellow3")
        elif self.board.settled:
            text.append("  (batch over)", style="italic grey70")
        elif self.board.totals[RunState.RUNNING]:
            text.append("  following…", style="italic grey70")
        self.update(text, layout=False)  # one line, always (app.tcss): no new layout
