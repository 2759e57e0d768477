"""The console's picture of a batch, built from events; no Textual, no I/O.

`Board.apply` folds a drained list of events into the latest view of every run,
counts by state per host, per job and in total, the hosts' reachability, and
returns a `Changes` that says what the widgets must update (in place).

Ansible's own async jobs found on the hosts (`RunView.ansible`) are shown beside the
runs, counted per host and under `ANSIBLE_JOBS` (not per module, not in the totals),
and are no part of the batch: they never keep it active nor change its exit code.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

from jobtui import defaults
from jobtui.events import (
    BatchFinished,
    BatchStarted,
    Event,
    HostChanged,
    Notice,
    RunChanged,
    RunView,
    exit_code,
)
from jobtui.flow import is_waiting
from jobtui.model import RunKey, RunState

NOT_FOLLOWED = "not followed: the batch is over for this console (poll: 0)"
"""The message of a run still running when its batch ended (`Board.unfollowed`)."""
ANSIBLE_JOBS = "ansible:"
"""The key of Ansible's jobs' counts in `Board.jobs` (no job name has a `:`)."""


@dataclass
class HostInfo:
    """A host as the summary shows it."""

    reachable: bool | None = None
    """None until the first round trip."""
    reason: str = ""
    counts: Counter[RunState] = field(default_factory=Counter)


@dataclass
class Changes:
    """What one `Board.apply` changed."""

    runs: set[RunKey] = field(default_factory=set)
    added: set[RunKey] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)
    jobs: set[str] = field(default_factory=set)
    notices: list[Notice] = field(default_factory=list)
    alerts: list[RunView] = field(default_factory=list)
    """Runs that just failed, timed out or were lost."""
    finished: BatchFinished | None = None
    """The batch reached its end (not an interrupted stop)."""

    def __bool__(self) -> bool:
        return bool(self.runs or self.hosts or self.notices or self.finished)


class Board:
    """Latest views of the runs of one batch, and their counts."""

    def __init__(self, batch: str = "") -> None:
        self.batch = batch
        self.runs: dict[RunKey, RunView] = {}
        self.hosts: dict[str, HostInfo] = {}
        self.jobs: dict[str, Counter[RunState]] = {}
        self.totals: Counter[RunState] = Counter()
        """The runs' counts by state (Ansible's jobs are in `jobs[ANSIBLE_JOBS]`)."""
        self.settled = False
        """The source said the batch ended, and nothing restarted since."""
        self.waiting: Counter[str] = Counter()
        """Per job, its pending runs held back by its `per_host` or `throttle` (`flow`)."""
        self.unfollowed: set[RunKey] = set()
        """Runs still running when the batch ended (`poll: 0`): nobody polls them, so
        their view is the last one (its message says so) until one is followed again."""

    def apply(self, events: list[Event]) -> Changes:
        changes = Changes()
        for event in events:
            if isinstance(event, RunChanged):  # first: nearly every event is one
                view = event.run
                if view.state.alerting and event.previous is not view.state:
                    changes.alerts.append(view)
                if event.previous.finished and not view.state.finished:
                    self.settled = False
                self.unfollowed.discard(view.key)  # followed again (after an action)
                self._put(view, changes)
            elif isinstance(event, BatchStarted):
                self.batch = event.batch or self.batch
                self.settled = False
                for view in event.runs:
                    self._put(view, changes)
            elif isinstance(event, HostChanged):
                info = self.hosts.setdefault(event.host, HostInfo())
                info.reachable, info.reason = event.reachable, event.reason
                changes.hosts.add(event.host)
            elif isinstance(event, Notice):
                changes.notices.append(event)
            elif isinstance(event, BatchFinished):
                for view in event.runs:
                    self._put(view, changes)
                if not event.interrupted:
                    self.settled = True
                    changes.finished = event
                    self._leave_unfinished(changes)
        return changes

    def _put(self, view: RunView, changes: Changes) -> None:
        old = self.runs.get(view.key)
        if old is None:
            changes.added.add(view.key)
            self._count(view, +1)
        else:
            # Progress and message are what change most: compare them before the
            # whole dataclass (its == builds a tuple of every field, twice).
            if old is view or (
                old.progress == view.progress and old.message == view.message and old == view
            ):
                return
            if old.state is not view.state or old.host != view.host or old.job != view.job:
                self._count(old, -1)
                self._count(view, +1)
            elif view.state is RunState.PENDING and not view.ansible:
                # Still pending, its reason changed: held back by its job's limit or not.
                self.waiting[view.job] += is_waiting(view) - is_waiting(old)
        self.runs[view.key] = view
        changes.runs.add(view.key)
        changes.hosts.add(view.host)
        changes.jobs.add(ANSIBLE_JOBS if view.ansible else view.job)

    def _leave_unfinished(self, changes: Changes) -> None:
        """The batch ended with runs still running: say on each that nobody follows it."""
        self.unfollowed = {
            k for k, v in self.runs.items() if not v.ansible and not v.state.finished
        }
        for key in self.unfollowed:
            self._put(replace(self.runs[key], message=NOT_FOLLOWED), changes)

    def not_followed_hint(self) -> str:
        """What to tell of the runs nobody follows any more ("" when there are none)."""
        n = len(self.unfollowed)
        if not n:
            return ""
        runs = f"{n} run{'s' if n != 1 else ''}"
        return (
            f"stopped following {runs} still running (poll: 0): they go on on their hosts;"
            f" `jobtui attach {self.batch or 'BATCH'}` follows them again, `jobtui status`"
            " lists them"
        )

    def _count(self, view: RunView, n: int) -> None:
        self.hosts.setdefault(view.host, HostInfo()).counts[view.state] += n
        if view.ansible:
            self.jobs.setdefault(ANSIBLE_JOBS, Counter())[view.state] += n
            return
        self.jobs.setdefault(view.job, Counter())[view.state] += n
        self.totals[view.state] += n
        if is_waiting(view):
            self.waiting[view.job] += n

    def batch_runs(self) -> list[RunView]:
        """The runs, without Ansible's jobs."""
        return [v for v in self.runs.values() if not v.ansible]

    @property
    def active(self) -> bool:
        """Some run is still pending, running or unreachable (and the batch has
        not been declared over: a `poll: 0` run stays `running` forever)."""
        return not self.settled and any(
            not v.state.finished and not v.ansible for v in self.runs.values()
        )

    def exit_code(self) -> int:
        """The process exit code if the console ended now: 130 while runs are active."""
        if self.active:
            return defaults.EXIT_INTERRUPTED
        return exit_code(self.batch_runs())
