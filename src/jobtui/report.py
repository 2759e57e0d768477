"""Headless reporters: human lines on stderr, or JSON lines on stdout.

Both consume the engine's events, the same stream the TUI consumes. Every name in
them (hosts, jobs, items, batches, reasons: from config or from a host) is shown
inert (`one_line`), as output is; JSON stays JSON, with nothing a terminal obeys raw
(`json_line`).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, TextIO

from jobtui import events, problems
from jobtui.flow import is_waiting
from jobtui.model import RunKey, RunState
from jobtui.text import json_line, one_line, sanitize


class HumanReporter:
    """Progress lines for people: one per state change, then a summary."""

    def __init__(
        self, stream: TextIO | None = None, *, attach: str | None = None, status: str | None = None
    ) -> None:
        """
        Args:
            attach: the command that follows the batch again, as the user types it
                (`batches_cmd.attach_command`: with its `--state-dir`, its `--demo`).
            status: the command that lists the runs on their hosts (`jobtui status -i
                inv.yml`, with the inventory given); None: not said (the demo's hosts).
        """
        self.stream = stream or sys.stderr
        self.attach = attach
        self.status = status
        self.t0 = time.monotonic()
        self.down: set[str] = set()

    def _say(self, text: str) -> None:
        elapsed = time.monotonic() - self.t0
        print(f"[{elapsed:6.1f}s] {text}", file=self.stream, flush=True)

    def __call__(self, ev: events.Event) -> None:
        if isinstance(ev, events.BatchStarted):
            hosts = len({v.host for v in ev.runs})
            runs = f"{_count(len(ev.runs), 'run')} on {_count(hosts, 'host')}"
            self._say(f"batch {one_line(ev.batch)}: {runs}")
        elif isinstance(ev, events.HostChanged):
            if not ev.reachable:
                self.down.add(ev.host)
                self._say(f"{one_line(ev.host)}: unreachable: {one_line(ev.reason)}")
            elif ev.host in self.down:
                self.down.discard(ev.host)
                self._say(f"{one_line(ev.host)}: reachable again")
        elif isinstance(ev, events.Notice):
            self._say(one_line(ev.text))
        elif isinstance(ev, events.RunChanged) and ev.run.state is not ev.previous:
            self._say(self._describe(ev.run))
        elif isinstance(ev, events.BatchFinished):
            self._summary(ev)

    def _describe(self, v: events.RunView) -> str:
        # Who it runs as, where that may explain it: a launch (running) and a failure
        # of its own ("sudo: a password is required", permission denied); not on
        # every success, nor on a host that could not be reached.
        said = v.user and (v.state is RunState.RUNNING or v.state.alerting)
        text = f"{one_line(v.label)}{one_line(f' as {v.user}') if said else ''}: {v.state.value}"
        if v.attempt > 1:
            text += f" (attempt {v.attempt})"
        if v.rc is not None and v.state is not RunState.SUCCEEDED:
            text += f" rc={v.rc}"
        if v.started and v.finished:
            text += f" in {v.finished - v.started:.0f}s"
        if v.reason:
            text += f": {one_line(v.reason)}"
        return text

    def _summary(self, ev: events.BatchFinished) -> None:
        counts = ", ".join(f"{n} {one_line(s)}" for s, n in sorted(ev.counts.items()))
        batch = one_line(ev.batch)
        if ev.interrupted:
            self._say(f"stopped following batch {batch} ({counts}); the jobs go on on their hosts")
            return
        running = ev.counts.get(RunState.RUNNING.value, 0)
        if running:
            attach = one_line(self.attach or f"jobtui attach {batch}")
            see = f"see them with `{one_line(self.status)}`, " if self.status else ""
            self._say(
                f"batch {batch} launched ({counts}); the running ones go on on their hosts: "
                f"{see}follow them with `{attach}`"
            )
        else:
            self._say(f"batch {batch} done: {counts}")
        skipped: Counter[tuple[str, str]] = Counter()
        for v in ev.runs:
            if v.state is RunState.SKIPPED:  # one line per job and reason, not per run
                skipped[(v.job, v.reason)] += 1
            elif v.state.failed:
                tail = (v.stderr_tail or v.tail).strip().splitlines()[-3:]
                detail = "".join(f"\n      | {sanitize(line)}" for line in tail)
                print(f"  {self._describe(v)}{detail}", file=self.stream, flush=True)
        for (job, reason), n in skipped.items():
            said = f": {one_line(reason)}" if reason else ""
            print(f"  {one_line(job)}: {n} skipped{said}", file=self.stream, flush=True)
        found = problems.group(ev.runs)
        if found:
            total = sum(len(p.runs) for p in found)
            self._say(f"problems: {_count(total, 'run')}, {_count(len(found), 'cause')}")
        for line in problems_lines(found):
            print(line, file=self.stream, flush=True)


class JsonReporter:
    """One JSON object per line: `batch` first, `run`/`host` events, `summary` last."""

    def __init__(self, stream: TextIO | None = None, batch_fields: dict[str, Any] | None = None):
        self.stream = stream or sys.stdout
        self.batch_fields = batch_fields or {}
        self._waits: dict[RunKey, str] = {}
        """The waiting reason last printed of each pending run (`flow`)."""

    def _emit(self, obj: dict[str, Any]) -> None:
        print(json_line(obj), file=self.stream, flush=True)

    def __call__(self, ev: events.Event) -> None:
        if isinstance(ev, events.BatchStarted):
            self._emit(
                {
                    "event": "batch",
                    "batch": ev.batch,
                    **self.batch_fields,
                    "runs": len(ev.runs),
                    "hosts": sorted({v.host for v in ev.runs}),
                    "jobs": sorted({v.job for v in ev.runs}),
                }
            )
        elif isinstance(ev, events.HostChanged):
            self._emit(
                {"event": "host", "host": ev.host, "reachable": ev.reachable, "reason": ev.reason}
            )
        elif isinstance(ev, events.RunChanged) and ev.run.state is not ev.previous:
            self._waits.pop(ev.run.key, None)
            self._emit(run_object(ev.run))
        elif isinstance(ev, events.RunChanged) and is_waiting(ev.run):
            # Held back by its job's limit (`waiting: throttle 10`): said when it changes.
            if self._waits.get(ev.run.key) != ev.run.reason:
                self._waits[ev.run.key] = ev.run.reason
                self._emit(run_object(ev.run))
        elif isinstance(ev, events.BatchFinished):
            self._emit(summary_object(ev))


def run_object(v: events.RunView) -> dict[str, Any]:
    """A run's `--json` line (and what `--notify` gets on its stdin for it)."""
    return {"event": "run", **v.summary()}


def summary_object(ev: events.BatchFinished) -> dict[str, Any]:
    """The `--json` summary, its last line (and `--notify`'s last event)."""
    return {
        "event": "summary",
        "batch": ev.batch,
        "interrupted": ev.interrupted,
        "runs": [summary_fields(v) for v in ev.runs],
        "counts": ev.counts,
        "problems": [p.summary() for p in problems.group(ev.runs)],
    }


PROBLEM_HOSTS = 8
"""Hosts a problem names in the human summary before `and N more`."""


def problems_lines(found: Sequence[problems.Problem]) -> list[str]:
    """The end of the human summary, under its `problems: 40 runs, 2 causes`: the runs
    that did not succeed grouped by cause, the biggest group first, each with its
    hosts (the first `PROBLEM_HOSTS`)::

          38 failed rc=1: connection to <ip> failed
             host01, host02, host03, host04, host05, host06, host07, host08 and 30 more
           2 unreachable: connection refused
             db03, db04
    """
    if not found:
        return []
    width = len(str(len(found[0].runs)))
    lines = []
    for p in found:
        count = str(len(p.runs)).rjust(width)
        lines.append(f"  {count} {problems.outcome_text(p)}: {one_line(p.error)}")
        hosts = problems.hosts_text([one_line(h) for h in p.hosts], PROBLEM_HOSTS)
        lines.append(f"  {' ' * width} {hosts}")
    return lines


def summary_fields(v: events.RunView) -> dict[str, Any]:
    """A run as the JSON summary lists it: its fields, and `tail`, its last output line
    (as `status --json` carries it), for a run that did not succeed (null otherwise)."""
    return {**v.summary(), "tail": None if v.state is RunState.SUCCEEDED else v.last_line}


def recap(batch: str, runs: Sequence[events.RunView], attach: str) -> str:
    """What leaving the console leaves on the terminal, as Ansible's PLAY RECAP: the
    batch, its runs counted by state, and the command that follows it again.

    ```
    RECAP batch 20261201-173412-3f9a1c: 12 runs on 5 hosts
      running=2  succeeded=9  failed=1
      2 go on on their hosts: follow them again with: jobtui attach 20261201-173412-3f9a1c
    ```
    """
    counts = Counter(v.state for v in runs)
    hosts = len({v.host for v in runs})
    tally = "  ".join(f"{s.value}={counts[s]}" for s in RunState if counts[s]) or "no run"
    pending = counts[RunState.PENDING]
    going = sum(n for s, n in counts.items() if not s.finished) - pending
    waiting = []
    if going:
        waiting.append("1 goes on on its host" if going == 1 else f"{going} go on on their hosts")
    if pending:
        waiting.append(f"{pending} not launched yet")
    again = one_line(attach)
    if waiting:
        last = f"{', '.join(waiting)}: follow them again with: {again}"
    else:
        last = f"every run finished; see the batch again with: {again}"
    return "\n".join(
        (
            f"RECAP batch {one_line(batch)}: {_count(len(runs), 'run')} on {_count(hosts, 'host')}",
            f"  {tally}",
            f"  {last}",
        )
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
