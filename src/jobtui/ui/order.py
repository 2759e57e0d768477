"""Which runs the run table shows, and in what order; no Textual here.

`RunOrder` keeps the keys of the runs that pass the filter, sorted in the current
mode, and takes changed runs into account one by one (a dict lookup and a set
operation per run, an insertion for the few that move), so a second in which 5,000
runs change does not sort 5,000 runs again. The table draws from `keys`.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from jobtui.events import RunView
from jobtui.model import RunKey, RunState
from jobtui.ui.render import matches, sort_key

SORT_MODES = ("host", "job", "state", "elapsed", "progress")
"""The orders `s` cycles through."""
DYNAMIC_SORTS = frozenset({"state", "progress", "elapsed"})
"""Sort modes whose order can change when a run changes."""
MANY = 64
"""From this many runs entering at once, one sort of a mostly sorted list beats
inserting each."""


def next_sort(mode: str) -> str:
    """The sort mode after `mode` (`s` cycles through them)."""
    return SORT_MODES[(SORT_MODES.index(mode) + 1) % len(SORT_MODES)]


class Update(NamedTuple):
    """What `RunOrder.apply` did."""

    moved: bool
    """Runs entered, left or moved in the order."""
    shown: list[RunKey]
    """The changed runs that are shown (their lines may have to be drawn again)."""


class RunOrder:
    """The runs of `runs` that match the filter, in the order of the sort mode.

    Args:
        runs: The latest view of every run (the board's), read, never written.
    """

    def __init__(self, runs: Mapping[RunKey, RunView]) -> None:
        self.runs = runs
        self.hide_finished = False
        self.sort_mode = "host"
        self.keys: list[RunKey] = []
        """The shown runs, in order (read it; `rebuild` and `apply` change it)."""
        self._terms: list[str] = []
        self._sort_keys: dict[RunKey, tuple[object, ...]] = {}
        """Each shown run's place in the order (`sort_key` in the current mode)."""
        self._matched: dict[RunKey, tuple[RunState, bool]] = {}
        """The filter's verdict per run and the state it was given for (host, job and
        item never change, so a run's verdict only changes with its state)."""

    @property
    def terms(self) -> list[str]:
        """The filter's terms (`render.parse_filter`); every one must match."""
        return self._terms

    @terms.setter
    def terms(self, terms: Iterable[str]) -> None:
        self._terms = list(terms)
        self._matched.clear()

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: object) -> bool:
        return key in self._sort_keys

    def index(self, key: RunKey) -> int:
        """The run's row (it must be shown)."""
        return self.keys.index(key)

    def shows(self, view: RunView) -> bool:
        """Whether the run passes the filter and the finished runs' switch."""
        if self.hide_finished and view.state.finished:
            return False
        if not self._terms:
            return True
        verdict = self._matched.get(view.key)
        if verdict is None or verdict[0] is not view.state:
            verdict = self._matched[view.key] = (view.state, matches(view, self._terms))
        return verdict[1]

    def rebuild(self) -> None:
        """Filter and sort every run again (after a change of the settings)."""
        mode = self.sort_mode
        self._sort_keys = {k: sort_key(v, mode) for k, v in self.runs.items() if self.shows(v)}
        self.keys = sorted(self._sort_keys, key=self._sort_keys.__getitem__)

    def apply(self, keys: Iterable[RunKey]) -> Update:
        """Take these changed (or new) runs into account."""
        runs, sort_keys, mode = self.runs, self._sort_keys, self.sort_mode
        dynamic = mode in DYNAMIC_SORTS
        filtering = self.hide_finished or bool(self._terms)
        leave: set[RunKey] = set()
        enter: set[RunKey] = set()
        shown: list[RunKey] = []
        for key in keys:
            was_shown = key in sort_keys
            if filtering and not self.shows(runs[key]):
                if was_shown:
                    leave.add(key)
                continue
            shown.append(key)
            if not was_shown:
                enter.add(key)
            elif dynamic and sort_key(runs[key], mode) != sort_keys[key]:
                leave.add(key)
                enter.add(key)
        if leave or enter:
            self._reorder(leave, enter)
        return Update(bool(leave or enter), shown)

    def _reorder(self, leave: set[RunKey], enter: set[RunKey]) -> None:
        """Take runs out of the order and put runs (back) in at their place."""
        order, sort_keys, runs, mode = self.keys, self._sort_keys, self.runs, self.sort_mode
        if leave:
            order = [k for k in order if k not in leave]
            for key in leave - enter:
                del sort_keys[key]
        for key in enter:
            sort_keys[key] = sort_key(runs[key], mode)
        if len(enter) > MANY:
            order.extend(enter)
            order.sort(key=sort_keys.__getitem__)
        else:
            for key in enter:
                insort(order, key, key=sort_keys.__getitem__)
        self.keys = order
