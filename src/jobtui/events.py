"""What the engine tells its consumers (the TUI, the headless reporter).

Events carry snapshots (`RunView`), never the engine's own mutable objects, so a
consumer on another thread can keep them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jobtui.model import RunState


def iso(ts: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC (`2026-11-28T22:45:12Z`), None stays None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RunView:
    """One run as consumers see it."""

    key: tuple[str, str, int]
    job: str
    host: str
    item: str
    jid: str | None
    state: RunState
    attempt: int
    rc: int | None = None
    started: float | None = None
    finished: float | None = None
    progress: float | None = None
    message: str = ""
    eta: float | None = None
    """Seconds left, estimated from the rate of progress."""
    timeout: int = 0
    reason: str = ""
    """Why a run is unreachable or failed to launch."""
    tail: str = ""
    stderr_tail: str = ""
    command: str = ""
    cleaned: bool = False
    """Its job directory was removed from the host."""
    batch: str = ""
    now: float | None = None
    """The host's clock when this was read (for elapsed times of discovered runs)."""

    @property
    def elapsed(self) -> float | None:
        if self.started is None:
            return None
        end = self.finished if self.finished is not None else (self.now or time.time())
        return max(0.0, end - self.started)

    def summary(self) -> dict[str, Any]:
        """The fields of the design's JSON summary."""
        return {
            "job": self.job,
            "host": self.host,
            "item": self.item,
            "jid": self.jid,
            "state": self.state.value,
            "rc": self.rc,
            "started": iso(self.started),
            "finished": iso(self.finished),
            "progress": self.progress,
            "message": self.message or None,
            "eta": None if self.eta is None else round(self.eta),
            "attempt": self.attempt,
            "reason": self.reason or None,
        }


@dataclass(frozen=True)
class BatchStarted:
    batch: str
    runs: list[RunView]


@dataclass(frozen=True)
class RunChanged:
    """A run's state, progress or output changed."""

    run: RunView
    previous: RunState


@dataclass(frozen=True)
class HostChanged:
    """A host became reachable or unreachable."""

    host: str
    reachable: bool
    reason: str = ""


@dataclass(frozen=True)
class Notice:
    """Something to tell the operator (an action refused, a cleanup failed)."""

    text: str
    level: str = "info"
    """info, warning or error."""


@dataclass(frozen=True)
class BatchFinished:
    batch: str
    runs: list[RunView]
    counts: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    """The console stopped following before the end (the runs go on on their hosts)."""


Event = BatchStarted | RunChanged | HostChanged | Notice | BatchFinished
