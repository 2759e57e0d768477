"""Flow control: the brakes a job may put on its own runs, beside `--forks`.

- `per_host: N`: at most N runs of the job at once on one host;
- `throttle: N`: at most N runs of the job at once in the batch (Ansible's keyword);
- `max_fail_percentage: P`: once more than P % of the job's runs ended failed, timed
  out or lost, its runs not launched yet are never launched: they end `skipped`.

The engine asks once per launch turn (`Flow.turn`, only while runs wait to be
launched, as for `--forks`), then for each run it would launch (`Turn.admit`). A run
held back says why in its reason (`waiting: per_host 1`); the view only changes when
the reason does, so the event is sent once, not every turn.

Rules (the README's Decisions say them for people):
- "At once" is a run in flight as `--forks` counts it: being launched, or followed and
  not ended (an unreachable host's running run too: it may still run). A run whose
  launch went out unanswered may be on its host: it counts, and is always resent.
- A run counts towards `max_fail_percentage` once, when it ends failed, timed_out or
  lost and no retry of it is due: a run waiting for its retry does not count (yet),
  and the retries of runs already launched still happen (as Ansible's `until` loop
  ends on the hosts of the batch before its `max_fail_percentage` is looked at).
  Cancelled, unreachable and skipped runs never count; the share is of all the job's
  runs in the batch. Once passed, the job stays stopped (a later success does not
  launch its skipped runs; the operator's `r` still can, one by one).
- `poll: 0` runs are launched and left: their end is never seen, so no limit can
  hold them (the job file refuses `per_host`/`throttle` with `poll: 0`) and only their
  launch failures count.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from jobtui.events import RunView
from jobtui.model import JobSpec, RunSpec, RunState
from jobtui.runs import Phase, Run

WAITING = "waiting: "
"""The start of the reason of a run held back by its job's limit."""
COUNTED = frozenset({RunState.FAILED, RunState.TIMED_OUT, RunState.LOST})
"""The ends that count towards `max_fail_percentage`."""


def is_waiting(view: RunView) -> bool:
    """The run is pending because its job's `per_host` or `throttle` holds it back."""
    return view.state is RunState.PENDING and view.reason.startswith(WAITING)


def passed(job: JobSpec, failed: int, total: int) -> bool:
    """More than `max_fail_percentage` % of `total` runs failed (never without one)."""
    pct = job.max_fail_percentage
    return pct is not None and total > 0 and failed * 100 > pct * total


def skip_reason(job: JobSpec, failed: int, total: int) -> str:
    """`max_fail_percentage 20 passed (3 of 10 runs failed)`."""
    pct = job.max_fail_percentage
    return f"max_fail_percentage {pct:g} passed ({failed} of {total} runs failed)"


def occupies(r: Run) -> bool:
    """In flight for the limits: being launched, followed and not ended, or maybe on its
    host (a launch that went out unanswered). `poll: 0` runs never are (left at launch)."""
    if r.spec.job.poll <= 0:
        return False
    if r.phase in (Phase.SENDING, Phase.FOLLOWED):
        return True
    return r.phase is Phase.QUEUED and not r.launched and _maybe_out(r)


def _maybe_out(r: Run) -> bool:
    return r.first_sent is not None or r.sent_before


def skippable(r: Run) -> bool:
    """Not launched and never will be without a new decision: a first attempt still
    queued whose launch never went out (retries and the operator's `r` go on)."""
    return r.due_to_launch and not r.launched and r.view.attempt == 1 and not _maybe_out(r)


@dataclass
class _Job:
    spec: JobSpec
    runs: list[Run] = field(default_factory=list)
    stopped: str = ""
    """The skip reason, once `max_fail_percentage` was passed."""

    @property
    def limited(self) -> bool:
        return self.spec.poll > 0 and (
            self.spec.per_host is not None or self.spec.throttle is not None
        )


class Turn:
    """One launch turn's counts of runs in flight, per job and per job and host."""

    def __init__(self, limited: dict[str, JobSpec]) -> None:
        self._limited = limited
        self.jobs: Counter[str] = Counter()
        self.hosts: Counter[tuple[str, str]] = Counter()

    def count(self, r: Run) -> None:
        self.jobs[r.spec.job.name] += 1
        self.hosts[(r.spec.job.name, r.spec.host.name)] += 1

    def admit(self, r: Run) -> str:
        """Why `r` waits (`waiting: per_host 1`, `waiting: throttle 10`), or "" when it
        may be launched now (it is then counted in flight)."""
        job = self._limited.get(r.spec.job.name)
        if job is None:
            return ""
        if _maybe_out(r):
            return ""  # counted already; resent until its host confirms it
        on_host = (job.name, r.spec.host.name)
        if job.per_host is not None and self.hosts[on_host] >= job.per_host:
            return f"{WAITING}per_host {job.per_host}"
        if job.throttle is not None and self.jobs[job.name] >= job.throttle:
            return f"{WAITING}throttle {job.throttle}"
        self.count(r)
        return ""


class Flow:
    """The limits of a batch's jobs over its runs (the engine's loop thread only)."""

    def __init__(self, runs: Iterable[Run]) -> None:
        self._jobs: dict[str, _Job] = {}
        for r in runs:
            job = r.spec.job
            if job.per_host is None and job.throttle is None and job.max_fail_percentage is None:
                continue
            self._jobs.setdefault(job.name, _Job(job)).runs.append(r)

    def turn(self) -> tuple[list[Run], Turn | None]:
        """At the start of a launch turn: the runs it skipped now (their jobs passed
        `max_fail_percentage`), and the counts `admit` uses (None: no job is limited)."""
        if not self._jobs:
            return [], None
        skipped: list[Run] = []
        turn = Turn({name: j.spec for name, j in self._jobs.items() if j.limited})
        for job in self._jobs.values():
            failed = 0
            for r in job.runs:
                if job.limited and occupies(r):
                    turn.count(r)
                elif not r.open and r.state in COUNTED:
                    failed += 1
            if not job.stopped and passed(job.spec, failed, len(job.runs)):
                job.stopped = skip_reason(job.spec, failed, len(job.runs))
            if job.stopped:
                for r in job.runs:
                    if skippable(r):
                        r.skip(job.stopped)
                        skipped.append(r)
        return skipped, turn


def with_max_fail_percentage(runs: Iterable[RunSpec], pct: float) -> list[RunSpec]:
    """The runs with every job's `max_fail_percentage` set to `pct` (the command line's
    `--max-fail-percentage`, which wins over the job file's)."""
    jobs: dict[str, JobSpec] = {}
    out = []
    for spec in runs:
        job = jobs.get(spec.job.name)
        if job is None:
            job = jobs[spec.job.name] = dataclasses.replace(spec.job, max_fail_percentage=pct)
        out.append(dataclasses.replace(spec, job=job))
    return out


def add_option(p: argparse.ArgumentParser) -> None:
    """`--max-fail-percentage P`, for every job of the batch."""
    p.add_argument(
        "--max-fail-percentage",
        type=_percentage,
        metavar="P",
        help="for every job (wins over its own): once more than P %% of its runs failed,"
        " timed out or were lost, launch no more of them (0: stop at the first)",
    )


def _percentage(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 100:  # nan too
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a percentage from 0 to 100 (0 stops at the first failure)"
        )
    return value
