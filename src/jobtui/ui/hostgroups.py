"""The hosts of a `Board` by inventory group, and each host's worst state; no Textual.

The host grid and the group summary read this. A host sits under one group: the
group of the first run of it seen (`RunView.group`, `plan.display_group`: the first
group the job's pattern selected it through); a run of jobtui's wins over one of
Ansible's jobs found on the host, which only knows the host's first group. A host
that has no run yet (watch: a host with nothing on it) sits under `NO_RUNS`, last.

A group's counts are those of its hosts' runs (`HostInfo.counts`), kept up to date
by the difference of each changed host's counts, so a flush costs the changed hosts,
not the fleet.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from jobtui.model import RunKey, RunState
from jobtui.ui.board import Board
from jobtui.ui.render import STATE_ORDER

NO_RUNS = "\0no runs"
"""The group of hosts with no run (a name no inventory group can have)."""
NO_GROUP = ""
"""The group of runs that know none (a console fed by hand-made views)."""
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[object, ...]:
    """`web2` before `web10`: digit runs compare as numbers."""
    parts = _DIGITS.split(name.lower())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def group_label(group: str) -> str:
    """What a group header says: its name, or what stands for none."""
    if group == NO_RUNS:
        return "no runs yet"
    return group or "hosts"


def group_filter(group: str) -> str:
    """The filter term that shows a group's runs ("" for the pseudo-groups: all)."""
    return "" if group in (NO_RUNS, NO_GROUP) else f"group:{group}"


def worst_state(counts: Counter[RunState], reachable: bool | None) -> RunState | None:
    """The host's most urgent state (`STATE_ORDER`), an unreachable host counting as
    one run `unreachable` (so a failed run still shows first); None: nothing to show
    (no run, and reachable or not known yet)."""
    states = [s for s, n in counts.items() if n > 0]
    if reachable is False:
        states.append(RunState.UNREACHABLE)
    return min(states, key=STATE_ORDER.__getitem__) if states else None


@dataclass
class _Group:
    hosts: list[str] = field(default_factory=list)
    """Its hosts, in natural order."""
    counts: Counter[RunState] = field(default_factory=Counter)


class HostGroups:
    """Which group each host of a board sits under, and each group's counts."""

    def __init__(self, board: Board) -> None:
        self.board = board
        self.group_of: dict[str, str] = {}
        self._from_ansible: set[str] = set()
        """Hosts placed by one of Ansible's jobs (a run of jobtui's may move them)."""
        self._groups: dict[str, _Group] = {}
        self._seen: dict[str, dict[RunState, int]] = {}
        """Each host's counts as last added to its group's."""
        self.runs_of: dict[str, dict[RunKey, None]] = {}
        """Each host's runs (the board never drops one)."""
        self._unsorted: set[str] = set()
        """Groups that took hosts in this `apply` (sorted once, at its end)."""

    def groups(self) -> list[str]:
        """The groups, by name (`NO_GROUP` first, `NO_RUNS` last)."""
        return sorted(self._groups, key=lambda g: (g == NO_RUNS, natural_key(g)))

    def hosts(self, group: str) -> list[str]:
        return self._groups[group].hosts

    def counts(self, group: str) -> Counter[RunState]:
        return self._groups[group].counts

    def __len__(self) -> int:
        return len(self.group_of)

    def __contains__(self, group: object) -> bool:
        return group in self._groups

    def worst(self, host: str) -> RunState | None:
        info = self.board.hosts.get(host)
        if info is None:
            return None
        return worst_state(info.counts, info.reachable)

    def apply(self, runs: Iterable[RunKey], hosts: Iterable[str]) -> tuple[set[str], bool]:
        """Take changed runs and hosts into account.

        Returns:
            The groups whose counts changed, and whether any host joined or moved
            (the grid's layout changed).
        """
        moved = False
        changed: set[str] = set()
        self._unsorted = set()
        for key in runs:
            view = self.board.runs.get(key)
            if view is None:
                continue
            self.runs_of.setdefault(view.host, {})[key] = None
            host, now = view.host, self.group_of.get(view.host)
            if now is None or now == NO_RUNS:
                if view.ansible:
                    self._from_ansible.add(host)
            elif view.ansible or host not in self._from_ansible:
                continue  # placed for good
            else:
                self._from_ansible.discard(host)  # jobtui's run: its group wins
                if now == view.group:
                    continue
            self._place(host, view.group, changed)
            moved = True
        for host in hosts:
            if host not in self.group_of:
                self._place(host, NO_RUNS, changed)
                moved = True
            self._recount(host, changed)
        for group in self._unsorted & set(self._groups):  # once per apply, not per host
            self._groups[group].hosts.sort(key=natural_key)
        return changed, moved

    def _place(self, host: str, group: str, changed: set[str]) -> None:
        old = self.group_of.get(host)
        if old is not None:
            self._take_out(host, old, changed)
        self.group_of[host] = group
        members = self._groups.setdefault(group, _Group()).hosts
        members.append(host)
        self._unsorted.add(group)
        changed.add(group)
        self._recount(host, changed)

    def _take_out(self, host: str, group: str, changed: set[str]) -> None:
        entry = self._groups[group]
        entry.hosts.remove(host)
        for state, n in self._seen.pop(host, {}).items():
            entry.counts[state] -= n
        if not entry.hosts:
            del self._groups[group]
        changed.add(group)

    def _recount(self, host: str, changed: set[str]) -> None:
        info = self.board.hosts.get(host)
        now = {s: n for s, n in info.counts.items() if n} if info is not None else {}
        before = self._seen.get(host, {})
        if now == before:  # plain dicts: Counter's == is ten times slower
            return
        group = self.group_of[host]
        counts = self._groups[group].counts
        for state, n in now.items():
            counts[state] += n
        for state, n in before.items():
            counts[state] -= n
        self._seen[host] = now
        changed.add(group)
