"""How far a batch has got, when it will end, and which runs and hosts are in trouble;
no Textual here, no clock of its own (every function that depends on the time takes
`now`, epoch seconds on the console's clock).

- **Progress.** `batch_progress` counts the runs that finished out of all the batch's
  runs (Ansible's own async jobs are no part of it), and the mean progress of the
  running ones (those that report one). The work done so far is `finished + Σ
  progress/100` over the running runs; an unreachable run's last progress is old news
  and counts as none.
- **ETA.** From the rate so far: the work done over the time since the batch's first
  run started, applied to the work left (`(total - done) × elapsed / done`). None while
  nothing is done; 0 once every run has finished. Elapsed runs from the first start to
  now, or to the last end once every run has finished.
- **Trouble.** A run is in trouble when it is unreachable, failed, timed out or lost
  (`TROUBLE`, in that order). The `trouble` sort puts those first, then the running
  runs by least progress (those that report none before all), then the pending ones,
  then the finished ones (`trouble_key`); hosts are ranked the same way by their worst
  run (`host_trouble_key`).

The console's choice of order (`MainScreen`): it sorts by trouble on its own, once,
the first time any run is in trouble, unless the operator chose a sort (`s`, `S`, a
click on a column) before; after that the order is his.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from jobtui.events import RunView
from jobtui.model import RunState
from jobtui.text import duration
from jobtui.ui.board import HostInfo
from jobtui.ui.render import sort_key

TROUBLE: tuple[RunState, ...] = (
    RunState.UNREACHABLE,
    RunState.FAILED,
    RunState.TIMED_OUT,
    RunState.LOST,
)
"""The states of a run in trouble, most urgent first."""
TROUBLE_RANK: dict[RunState, int] = {
    state: rank
    for rank, state in enumerate(
        [
            *TROUBLE,
            RunState.RUNNING,
            RunState.PENDING,
            RunState.SKIPPED,
            RunState.CANCELLED,
            RunState.SUCCEEDED,
        ]
    )
}
"""The `trouble` sort's order of the states."""
_TROUBLE = frozenset(TROUBLE)
_RUNNING_RANK = TROUBLE_RANK[RunState.RUNNING]
# By the state's id(): these run for every changed run, and an Enum's __hash__ is
# Python code (a dict or set lookup by state calls it), id() is not.
_RANK_OF = {id(state): rank for state, rank in TROUBLE_RANK.items()}
_IN_TROUBLE = frozenset(id(state) for state in TROUBLE)
_FINISHED = frozenset(id(state) for state in RunState if state.finished)


def in_trouble(state: RunState) -> bool:
    """Unreachable, failed, timed out or lost: the operator should look at it."""
    return state in _TROUBLE


def trouble_count(counts: Mapping[RunState, int]) -> int:
    """How many of these counts (by state) are runs in trouble."""
    return sum(counts.get(state, 0) for state in TROUBLE)


def trouble_key(view: RunView) -> tuple[object, ...]:
    """The run's place in the `trouble` sort: its state's rank (`TROUBLE_RANK`); among
    running runs the least progress first (none reported: before any); then the
    natural order (host, job, item)."""
    rank = _RANK_OF[id(view.state)]
    if rank == _RUNNING_RANK:
        return (rank, -1.0 if view.progress is None else view.progress, *sort_key(view, "host"))
    return (rank, 0.0, *sort_key(view, "host"))


def host_trouble_key(name: str, info: HostInfo) -> tuple[object, ...]:
    """A host's place in the host panel's `trouble` order: unreachable first, then by
    its worst run (`TROUBLE_RANK`); among equals the most runs in trouble first, then
    the smallest share of finished runs (least progress), then the name."""
    counts = info.counts
    if info.reachable is False:
        rank = 0
    else:
        rank = min((TROUBLE_RANK[s] for s, n in counts.items() if n > 0), default=len(TROUBLE_RANK))
    total = sum(counts.values())
    finished = sum(n for s, n in counts.items() if s.finished)
    return (rank, -trouble_count(counts), finished / total if total else 1.0, name)


@dataclass(frozen=True)
class BatchProgress:
    """How far a batch has got (`batch_progress`)."""

    total: int
    """The batch's runs (without Ansible's jobs)."""
    finished: int
    """Of them, those in a final state."""
    running: int
    running_progress: float | None
    """The mean progress (%) of the running runs that report one; None if none does."""
    done: float
    """Runs' worth of work done: `finished` plus each running run's progress / 100."""
    elapsed: float | None
    """Seconds since the first run started (to the last end once all finished); None
    before any started."""
    eta: float | None
    """Seconds left at the rate so far; 0 when all finished; None while nothing is done."""
    trouble: int
    """Runs in trouble (`in_trouble`), Ansible's jobs included: what the `n` key walks."""

    @property
    def all_finished(self) -> bool:
        return self.total > 0 and self.finished == self.total


def batch_progress(views: Iterable[RunView], now: float) -> BatchProgress:
    """The progress, elapsed time and ETA of the batch whose runs these are (see the
    module's docstring for the rules). Times from hosts are brought to the console's
    clock with each run's `skew`."""
    total = finished = running = reporting = trouble = 0
    progress_sum = 0.0
    first: float | None = None
    last: float | None = None
    running_state = RunState.RUNNING
    for view in views:
        state = id(view.state)
        if state in _IN_TROUBLE:
            trouble += 1
        if view.ansible:
            continue
        total += 1
        if view.started is not None:
            start = view.started - view.skew
            if first is None or start < first:
                first = start
        if state in _FINISHED:
            finished += 1
            if view.finished is not None:
                end = view.finished - view.skew
                if last is None or end > last:
                    last = end
        elif view.state is running_state:
            running += 1
            if view.progress is not None:
                reporting += 1
                progress_sum += min(100.0, max(0.0, view.progress))
    done = finished + progress_sum / 100.0
    all_finished = total > 0 and finished == total
    elapsed = None
    if first is not None:
        end_time = last if all_finished and last is not None else now
        elapsed = max(0.0, end_time - first)
    eta: float | None = None
    if all_finished:
        eta = 0.0
    elif done > 0 and elapsed:
        eta = (total - done) * elapsed / done
    return BatchProgress(
        total=total,
        finished=finished,
        running=running,
        running_progress=progress_sum / reporting if reporting else None,
        done=done,
        elapsed=elapsed,
        eta=eta,
        trouble=trouble,
    )


def progress_parts(progress: BatchProgress, wide: bool) -> list[tuple[str, int]]:
    """The header's words for the batch's progress, each with its priority (the
    header drops the lowest first when short of room): `6/15 finished`, `running
    53%`, `ETA 4m12s`, `elapsed 15m08s`; short forms when not `wide`
    (`6/15`, `▶53%`, `ETA 4m12s`, `15m08s`)."""
    parts: list[tuple[str, int]] = []
    done = f"{progress.finished}/{progress.total}"
    parts.append((f"{done} finished" if wide else done, PRIORITY_DONE))
    if progress.running_progress is not None:
        mean = f"{progress.running_progress:.0f}%"
        parts.append((f"running {mean}" if wide else f"▶{mean}", PRIORITY_RUNNING))
    if not progress.all_finished:
        eta = "–" if progress.eta is None else duration(progress.eta)
        parts.append((f"ETA {eta}", PRIORITY_ETA))
    if progress.elapsed is not None:
        shown = duration(progress.elapsed)
        parts.append((f"elapsed {shown}" if wide else shown, PRIORITY_ELAPSED))
    return parts


PRIORITY_TITLE = 100
"""The header's parts, by what it keeps longest: the title, READ-ONLY, the trouble."""
PRIORITY_TROUBLE = 90
PRIORITY_DONE = 80
PRIORITY_ETA = 70
PRIORITY_COUNTS = 60
PRIORITY_OVER = 55
"""`(batch over: N not followed; jobtui attach)`."""
PRIORITY_RUNNING = 50
PRIORITY_ELAPSED = 40
PRIORITY_BATCH = 30
PRIORITY_TOTAL = 20
PRIORITY_FOLLOWING = 10


def fit_parts(widths: list[tuple[int, int]], room: int, gap: int = 2) -> list[bool]:
    """Which parts to keep so that they fit in `room` cells with `gap` cells between
    them: the lowest priority goes first (the last of equals first).

    Args:
        widths: Each part's width and priority, in the order they are shown.
        room: The cells there are.
        gap: Cells between two kept parts.
    """
    keep = [True] * len(widths)

    def used() -> int:
        kept = [w for (w, _), k in zip(widths, keep, strict=True) if k]
        return sum(kept) + gap * max(0, len(kept) - 1)

    by_priority = sorted(range(len(widths)), key=lambda i: (widths[i][1], -i))
    for i in by_priority:
        if used() <= room:
            break
        keep[i] = False
    return keep
