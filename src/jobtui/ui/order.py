"""Which runs the run table shows, and in what order; no Textual here.

`RunOrder` keeps the keys of the runs that pass the filter, sorted in the current
mode, and takes changed runs into account one by one (a dict lookup and a set
operation per run, an insertion for the few that move), so a second in which 5,000
runs change does not sort 5,000 runs again. The table draws from `keys`.

The filter box's text becomes a `Filter` through `parse_filter`, whose docstring is the
filter language; `GRAMMAR` is its short form, for the README and the help.
"""

from __future__ import annotations

import re
from bisect import insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from jobtui.config.errors import did_you_mean
from jobtui.events import RunView
from jobtui.model import RunKey, RunState
from jobtui.ui.batch_progress import trouble_key
from jobtui.ui.render import STATE_LOOK, sort_key

GRAMMAR = """\
db01                       a word found in the host, user, job, item or state
host:db01                  in that field: host user job item state batch kind group
host:db01,db02             a list: any of them
!db01  host:!db01          not: none of them
state:failed,timed_out     a state by its name, or the start of one (state:fail)
host:db state:!succeeded   terms are separated by spaces; every one must hold"""
"""The filter language in a few lines (the README and the help show it)."""
KEYS = ("host", "user", "job", "item", "state", "batch", "kind", "group")
"""The fields a term can name (`key:value`)."""
STATE_NAMES: dict[str, RunState] = {s.value.replace("_", ""): s for s in RunState}
"""Each state by its name without `_`, `-` or spaces (`timedout`), as values are read."""
_KEY_TERM = re.compile(r"([a-z]+):(.*)", re.DOTALL)
"""A term that names a key: letters, then `:` (`10.0.0.5:22` is a plain word)."""
_SEPARATORS = re.compile(r"[-_ ]")


class FilterError(ValueError):
    """A filter text that does not parse: `message; hint` (`unknown key 'status:';
    did you mean 'state:'?`)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(f"{message}; {hint}" if hint else message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Term:
    """One term of a filter: words (or states) looked for in one field, or in all."""

    key: str | None
    """One of `KEYS`; None for a plain word (host, job, item or state)."""
    words: tuple[str, ...] = ()
    """Lower-case values, any of which may be found (every key but state)."""
    states: frozenset[RunState] = frozenset()
    """The states the term names (key state)."""
    negated: bool = False
    """`!`: the run must match none of them."""

    def matches(self, view: RunView, batch: str = "") -> bool:
        """Whether the run passes this term (`batch`: the batch of a run whose view
        names none, the console's own)."""
        if self.key == "state":
            found = view.state in self.states
        else:
            text = _field(view, self.key, batch)
            found = any(word in text for word in self.words)
        return found is not self.negated


def _field(view: RunView, key: str | None, batch: str) -> str:
    """The lower-case text a term of `key` looks in (a plain word: in every field,
    kept apart by NULs so that a word never spans two)."""
    if key == "host":
        return view.host.lower()
    if key == "user":
        return view.user.lower()
    if key == "job":
        return view.job.lower()
    if key == "item":
        return view.item.lower()
    if key == "batch":
        return (view.batch or batch).lower()
    if key == "kind":
        return kind(view)
    if key == "group":
        return view.group.lower()
    look = STATE_LOOK[view.state]
    fields = [view.host, view.user, view.job, view.item, view.state.value, look.label]
    if view.ansible:  # `ansible` as a word finds Ansible's jobs, as their job cell says
        fields += ["ansible", view.command]
    return "\0".join(fields).lower()


def kind(view: RunView) -> str:
    """`ansible` for one of Ansible's own async jobs, `jobtui` for jobtui's runs."""
    return "ansible" if view.ansible else "jobtui"


@dataclass(frozen=True)
class Filter:
    """A parsed filter box (`parse_filter`): every term must hold; no terms, every run."""

    terms: tuple[Term, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matches(self, view: RunView, batch: str = "") -> bool:
        """Whether the run passes every term (`batch` as in `Term.matches`)."""
        return all(term.matches(view, batch) for term in self.terms)


def parse_filter(text: str) -> Filter:
    """The filter box's text as a `Filter`.

    The language (`GRAMMAR` in short)::

        filter := term { " " term }          every term must hold
        term   := ["!"] word                 word found in host, user, job, item or state
                | ["!"] key ":" ["!"] value { "," value }
        key    := host | user | job | item | state | batch | kind | group

    - Case is ignored. A word is a key term only when what comes before its first
      `:` is letters, so `10.0.0.5:22` is a plain word and `item:a:b` looks for `a:b`.
    - `host`, `user`, `job`, `item` and `batch` find the value anywhere in that field
      (`host:db` matches db01); `user` is who a run runs as when it becomes someone
      (`user:root`; a run as the login user has none); `batch` is the run's own
      batch, else the console's. A plain word looks in host, user, job, item and
      state (its name and its label, `timed_out` and `timed out`), never in the batch;
      for one of Ansible's own async jobs also in `ansible` and its command.
    - `group` is the inventory group the console shows the run's host under
      (`RunView.group`; the host grid's headers filter with it).
    - `kind` is `ansible` for Ansible's own async jobs (found in `ansible_async_dir`),
      `jobtui` for jobtui's runs: `kind:ansible`, `kind:!ansible`.
    - `state` takes a state's name: pending, running, succeeded, failed, timed_out,
      cancelled, lost, unreachable; `_` and `-` are optional (`timed-out`,
      `timedout`) and the start of a name will do (`fail`, `timed`).
    - `a,b`: any of the values; `!` (before the key or the values, once): none.

    Raises:
        FilterError: an unknown key or state, an empty value, a misplaced `!`.
    """
    return Filter(tuple(_term(word) for word in text.lower().split()))


def _term(word: str) -> Term:
    negated = word.startswith("!")
    body = word[1:] if negated else word
    keyed = _KEY_TERM.fullmatch(body)
    if keyed is None:
        if not body:
            raise FilterError("'!' needs a word after it", "e.g. !db01 or state:!succeeded")
        if negated and body.startswith("!"):
            raise FilterError(f"'{word}' has two '!'", f"write !{body.lstrip('!')}")
        return Term(None, (body,), negated=negated)
    key, value = keyed.groups()
    if key not in KEYS:
        raise FilterError(
            f"unknown key '{key}:'",
            did_you_mean(f"{key}:", [f"{k}:" for k in KEYS]) or f"keys: {' '.join(KEYS)}",
        )
    if value.startswith("!"):
        if negated or value.startswith("!!"):
            raise FilterError(f"'{word}' has two '!'", f"write {key}:!{value.lstrip('!')}")
        negated, value = True, value[1:]
    values = value.split(",")
    if not all(values):
        raise FilterError(
            f"'{word}' has an empty value", f"e.g. {key}:{'failed' if key == 'state' else 'db01'}"
        )
    if any(v.startswith("!") for v in values):
        raise FilterError(f"'!' goes before the whole list in '{word}'", f"write {key}:!…")
    if key == "state":
        return Term(key, states=frozenset(map(_state, values)), negated=negated)
    return Term(key, tuple(values), negated=negated)


def _state(value: str) -> RunState:
    """The state a value names: its name or the start of one, `_`/`-` optional."""
    name = _SEPARATORS.sub("", value)
    if name in STATE_NAMES:
        return STATE_NAMES[name]
    starting = {s for n, s in STATE_NAMES.items() if n.startswith(name)}
    if len(starting) == 1:
        return starting.pop()
    names = [s.value for s in RunState]
    if starting:
        which = ", ".join(sorted(s.value for s in starting))
        raise FilterError(f"state '{value}' could be any of {which}")
    raise FilterError(
        f"unknown state '{value}'", did_you_mean(value, names) or f"states: {' '.join(names)}"
    )


SORT_MODES = ("host", "job", "state", "elapsed", "progress", "trouble")
"""The orders `s` cycles through (`trouble`: `batch_progress.trouble_key`)."""
DYNAMIC_SORTS = frozenset({"state", "progress", "elapsed", "trouble"})
"""Sort modes whose order can change when a run changes."""
MANY = 64
"""From this many runs entering at once, one sort of a mostly sorted list beats
inserting each."""


DESCENDING_SORTS = frozenset({"elapsed", "progress"})
"""Sort modes whose own order is the biggest first (longest running, furthest on)."""


def sort_arrow(mode: str, reverse: bool) -> str:
    """`▲` (ascending: a to z, urgent first) or `▼`, as the table is sorted now."""
    return "▼" if (mode in DESCENDING_SORTS) != reverse else "▲"


@dataclass(frozen=True, slots=True)
class Reversed:
    """A sort key that orders the other way round (for `RunOrder.reverse`: `insort`
    and `sort` compare with `<` only)."""

    key: tuple[object, ...]

    def __lt__(self, other: Reversed) -> bool:
        return other.key < self.key


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
        self.batch = ""
        """The batch of the runs whose view names none (the console's own), for `batch:`."""
        self._filter = Filter()
        self.only: frozenset[RunKey] | None = None
        """Show these runs only (a problem's, `ui.screens.problems`), None: every run."""
        self.reverse = False
        """The sort mode's order turned around (`S`)."""
        self._sort_keys: dict[RunKey, tuple[object, ...] | Reversed] = {}
        """Each shown run's place in the order (`place`)."""
        self._matched: dict[RunKey, tuple[RunState, bool]] = {}
        """The filter's verdict per run and the state it was given for (host, user, job
        and item never change, so a run's verdict only changes with its state)."""

    @property
    def filter(self) -> Filter:
        """The runs to show (`parse_filter`); setting it forgets every verdict."""
        return self._filter

    @filter.setter
    def filter(self, run_filter: Filter) -> None:
        self._filter = run_filter
        self._matched.clear()

    def __len__(self) -> int:
        return len(self.keys)

    def place(self, view: RunView) -> tuple[object, ...] | Reversed:
        """The run's place in the order: `sort_key` in the sort mode, turned around
        if `reverse`."""
        mode = self.sort_mode
        key = trouble_key(view) if mode == "trouble" else sort_key(view, mode)
        return Reversed(key) if self.reverse else key

    def __contains__(self, key: object) -> bool:
        return key in self._sort_keys

    def index(self, key: RunKey) -> int:
        """The run's row (it must be shown)."""
        return self.keys.index(key)

    def shows(self, view: RunView) -> bool:
        """Whether the run passes the filter and the finished runs' switch."""
        if self.hide_finished and view.state.finished:
            return False
        if self.only is not None and view.key not in self.only:
            return False
        if not self._filter:
            return True
        verdict = self._matched.get(view.key)
        if verdict is None or verdict[0] is not view.state:
            passes = self._filter.matches(view, self.batch)
            verdict = self._matched[view.key] = (view.state, passes)
        return verdict[1]

    def rebuild(self) -> None:
        """Filter and sort every run again (after a change of the settings)."""
        self._sort_keys = {k: self.place(v) for k, v in self.runs.items() if self.shows(v)}
        self.keys = sorted(self._sort_keys, key=self._sort_keys.__getitem__)

    def apply(self, keys: Iterable[RunKey]) -> Update:
        """Take these changed (or new) runs into account."""
        runs, sort_keys, mode = self.runs, self._sort_keys, self.sort_mode
        dynamic = mode in DYNAMIC_SORTS
        filtering = self.hide_finished or bool(self._filter) or self.only is not None
        leave: set[RunKey] = set()
        enter: set[RunKey] = set()
        moved: dict[RunKey, tuple[object, ...] | Reversed] = {}
        """The new places of the runs that move (computed once: in the `progress` and
        `trouble` sorts that is nearly every changed run)."""
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
            elif dynamic:
                place = self.place(runs[key])
                if place != sort_keys[key]:
                    leave.add(key)
                    enter.add(key)
                    moved[key] = place
        if leave or enter:
            self._reorder(leave, enter, moved)
        return Update(bool(leave or enter), shown)

    def _reorder(
        self,
        leave: set[RunKey],
        enter: set[RunKey],
        moved: Mapping[RunKey, tuple[object, ...] | Reversed] | None = None,
    ) -> None:
        """Take runs out of the order and put runs (back) in at their place (`moved`:
        the places already known)."""
        order, sort_keys, runs = self.keys, self._sort_keys, self.runs
        if leave:
            order = [k for k in order if k not in leave]
            for key in leave - enter:
                del sort_keys[key]
        known = moved or {}
        for key in enter:
            sort_keys[key] = known[key] if key in known else self.place(runs[key])
        if len(enter) > MANY:
            order.extend(enter)
            order.sort(key=sort_keys.__getitem__)
        else:
            for key in enter:
                insort(order, key, key=sort_keys.__getitem__)
        self.keys = order
