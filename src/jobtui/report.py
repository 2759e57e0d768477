"""Headless reporters: human lines on stderr, or JSON lines on stdout.

Both consume the engine's events, the same stream the TUI consumes.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from jobtui.events import (
    BatchFinished,
    BatchStarted,
    Event,
    HostChanged,
    Notice,
    RunChanged,
    RunView,
)
from jobtui.model import RunState
from jobtui.text import sanitize


class HumanReporter:
    """Progress lines for people: one per state change, then a summary."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.t0 = time.monotonic()
        self.down: set[str] = set()

    def _say(self, text: str) -> None:
        elapsed = time.monotonic() - self.t0
        print(f"[{elapsed:6.1f}s] {text}", file=self.stream, flush=True)

    def __call__(self, ev: Event) -> None:
        if isinstance(ev, BatchStarted):
            hosts = len({v.host for v in ev.runs})
            self._say(f"batch {ev.batch}: {len(ev.runs)} runs on {hosts} hosts")
        elif isinstance(ev, HostChanged):
            if not ev.reachable:
                self.down.add(ev.host)
                self._say(f"{ev.host}: unreachable: {ev.reason}")
            elif ev.host in self.down:
                self.down.discard(ev.host)
                self._say(f"{ev.host}: reachable again")
        elif isinstance(ev, Notice):
            self._say(ev.text)
        elif isinstance(ev, RunChanged) and ev.run.state is not ev.previous:
            self._say(self._describe(ev.run))
        elif isinstance(ev, BatchFinished):
            self._summary(ev)

    def _describe(self, v: RunView) -> str:
        text = f"{v.label}: {v.state.value}"
        if v.attempt > 1:
            text += f" (attempt {v.attempt})"
        if v.rc is not None and v.state is not RunState.SUCCEEDED:
            text += f" rc={v.rc}"
        if v.started and v.finished:
            text += f" in {v.finished - v.started:.0f}s"
        if v.reason:
            text += f": {v.reason}"
        return text

    def _summary(self, ev: BatchFinished) -> None:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(ev.counts.items()))
        if ev.interrupted:
            self._say(
                f"stopped following batch {ev.batch} ({counts}); the jobs go on on their hosts"
            )
            return
        running = ev.counts.get(RunState.RUNNING.value, 0)
        if running:
            self._say(
                f"batch {ev.batch} launched ({counts}); the running ones go on on their hosts: "
                f"see them with `jobtui status -i INVENTORY`, follow them with "
                f"`jobtui attach {ev.batch}`"
            )
        else:
            self._say(f"batch {ev.batch} done: {counts}")
        for v in ev.runs:
            if v.state.failed:
                tail = (v.stderr_tail or v.tail).strip().splitlines()[-3:]
                detail = "".join(f"\n      | {sanitize(line)}" for line in tail)
                print(f"  {self._describe(v)}{detail}", file=self.stream, flush=True)


class JsonReporter:
    """One JSON object per line: `batch` first, `run`/`host` events, `summary` last."""

    def __init__(self, stream: TextIO | None = None, batch_fields: dict[str, Any] | None = None):
        self.stream = stream or sys.stdout
        self.batch_fields = batch_fields or {}

    def _emit(self, obj: dict[str, Any]) -> None:
        print(json.dumps(obj, ensure_ascii=False), file=self.stream, flush=True)

    def __call__(self, ev: Event) -> None:
        if isinstance(ev, BatchStarted):
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
        elif isinstance(ev, HostChanged):
            self._emit(
                {"event": "host", "host": ev.host, "reachable": ev.reachable, "reason": ev.reason}
            )
        elif isinstance(ev, RunChanged) and ev.run.state is not ev.previous:
            self._emit({"event": "run", **ev.run.summary()})
        elif isinstance(ev, BatchFinished):
            self._emit(
                {
                    "event": "summary",
                    "batch": ev.batch,
                    "interrupted": ev.interrupted,
                    "runs": [v.summary() for v in ev.runs],
                    "counts": ev.counts,
                }
            )
