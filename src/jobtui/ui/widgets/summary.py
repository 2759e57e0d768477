"""Summaries: counts by state per host, per inventory group and per job, and the
status line on top."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from rich.text import Text
from textual import events
from textual.widgets import DataTable, Static

from jobtui.model import RunState
from jobtui.text import one_line
from jobtui.ui.batch_progress import (
    PRIORITY_BATCH,
    PRIORITY_COUNTS,
    PRIORITY_ETA,
    PRIORITY_FOLLOWING,
    PRIORITY_OVER,
    PRIORITY_TITLE,
    PRIORITY_TOTAL,
    PRIORITY_TROUBLE,
    BatchProgress,
    batch_progress,
    fit_parts,
    host_trouble_key,
    progress_parts,
)
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

    async def _on_idle(self, event: events.Idle) -> None:
        """Measure new and changed cells now, then draw every row again: DataTable
        caches a drawn row (the header too) by its count of updates, and measuring
        columns on idle changes their widths without counting an update, so a header
        drawn between an update and the idle kept its old widths for good (flaky
        snapshots at 500 hosts). Only when a width changed: drawing the rows is most
        of what a change of counts costs. DataTable's own handler runs after this one
        and finds nothing left to do."""
        if self._updated_cells or self._require_update_dimensions:
            widths = [c.content_width for c in self.columns.values()]
            await DataTable._on_idle(self, event)
            if widths != [c.content_width for c in self.columns.values()]:
                self._update_count += 1
                self.refresh()

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
        self.trouble_first = False
        """Hosts in trouble first (`batch_progress.host_trouble_key`), else by name."""
        self._cells: dict[str, Text] = {}
        """Each host's host cell, as the table holds it (the sort sees only cells)."""

    def on_mount(self) -> None:
        self.add_column("Host", key="host")
        self.add_column("Runs", key="counts")

    def set_trouble_first(self, trouble_first: bool) -> None:
        """Order the hosts by trouble, or by name."""
        if trouble_first != self.trouble_first:
            self.trouble_first = trouble_first
            self._sort()

    def _sort(self) -> None:
        hosts = self.board.hosts
        names = {id(cell): name for name, cell in self._cells.items()}
        if self.trouble_first:
            self.sort(
                "host",
                key=lambda cell: host_trouble_key(names[id(cell)], hosts[names[id(cell)]]),
            )
        else:
            self.sort("host", key=lambda cell: names[id(cell)])

    def apply(self, hosts: Iterable[str]) -> None:
        moved = False
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
            self._cells[name] = host
            if name in self.rows:
                self.update_cell(name, "host", host)
                self.update_cell(name, "counts", counts, update_width=self._wider(counts))
                moved = moved or self.trouble_first  # its rank may have changed
            else:
                self._wider(counts)
                self.add_row(host, counts, key=name)
                moved = True
        if moved:
            self._sort()


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
    """The top line: title, batch, the batch's progress and ETA, the runs in trouble,
    totals, and READ-ONLY when it is. Short of room it drops its least needed parts
    first (`batch_progress.fit_parts`): the title, the trouble and the runs finished
    stay longest."""

    def __init__(
        self,
        board: Board,
        title: str,
        read_only: bool,
        clock: Callable[[], float] = time.time,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.board = board
        self.title = title
        self.read_only = read_only
        self.clock = clock
        self.progress: BatchProgress = batch_progress((), 0.0)
        """What the line showed last of the batch's progress."""
        self._shown: Text | None = None

    def on_mount(self) -> None:
        self.refresh_counts()

    def on_resize(self) -> None:
        self._shown = None
        self.refresh_counts()

    def refresh_counts(self) -> None:
        """Totals with labels when there is room, symbols only when narrow; redrawn
        only when the text changed."""
        board = self.board
        self.progress = batch_progress(board.runs.values(), self.clock())
        width = self.size.width
        wide = width >= 120
        parts = self._parts(wide, labels=wide)
        room = width or sum(p.cell_len + 2 for p, _ in parts)
        keep = fit_parts([(p.cell_len, n) for p, n in parts], room)
        if wide and not all(keep):
            parts = self._parts(wide, labels=False)
            keep = fit_parts([(p.cell_len, n) for p, n in parts], room)
        text = Text(no_wrap=True, overflow="ellipsis")
        for (part, _), kept in zip(parts, keep, strict=True):
            if kept:
                if text:
                    text.append("  ")
                text.append_text(part)
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)  # one line, always (app.tcss): no new layout

    def _parts(self, wide: bool, labels: bool) -> list[tuple[Text, int]]:
        """The line's parts in the order shown, each with its priority."""
        board, progress = self.board, self.progress
        head = Text(f" {self.title} ", style="bold reverse")
        if self.read_only:
            head.append(" READ-ONLY ", style="bold black on yellow3")
        parts = [(head, PRIORITY_TITLE)]
        batch = one_line(board.batch)
        if batch and batch not in self.title:  # `jobtui attach BATCH` names it already
            parts.append((Text(f"batch {batch}" if wide else batch, "bold"), PRIORITY_BATCH))
        total = sum(board.totals.values())
        if wide:
            parts.append((Text(f"{total} run{'s' if total != 1 else ''}"), PRIORITY_TOTAL))
        if progress.total:
            for words, priority in progress_parts(progress, wide):
                style = "bold" if priority >= PRIORITY_ETA else "grey70"
                parts.append((Text(words, style), priority))
        if progress.trouble:
            n = progress.trouble
            words = f"⚠ {n} in trouble (n: next)" if wide else f"⚠ {n} (n)"
            parts.append((Text(words, "bold red1"), PRIORITY_TROUBLE))
        counts = counts_text(board.totals, labels=labels)
        theirs = board.jobs.get(ANSIBLE_JOBS)
        if theirs and any(theirs.values()):
            # Ansible's jobs are counted apart, after the batch's own runs.
            counts.append("  Ansible ", style=ANSIBLE_STYLE)
            counts.append_text(counts_text(theirs))
        if counts:
            parts.append((counts, PRIORITY_COUNTS))
        if waiting := sum(board.waiting.values()):
            parts.append((Text(f"({waiting} waiting)", "grey62"), PRIORITY_COUNTS))
        if board.settled and board.unfollowed:
            n = len(board.unfollowed)
            over = Text(f"(batch over: {n} not followed; jobtui attach)", "italic yellow3")
            parts.append((over, PRIORITY_OVER))
        elif board.settled:
            parts.append((Text("(batch over)", "italic grey70"), PRIORITY_OVER))
        elif board.totals[RunState.RUNNING]:
            parts.append((Text("following…", "italic grey70"), PRIORITY_FOLLOWING))
        return parts
