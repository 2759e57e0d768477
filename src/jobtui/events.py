"""What the engine tells its consumers (the TUI, the headless reporter).

Events carry snapshots (`RunView`), never the engine's own mutable objects, so a
consumer on another thread can keep them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobtui import defaults
from jobtui.model import NoticeLevel, RunKey, RunState
from jobtui.text import iso, label

LAST_LINE = 200
"""Characters of a run's last output line that `status --json` and the summary carry."""


@dataclass(frozen=True)
class RunView:
    """One run as consumers see it."""

    key: RunKey
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
    user: str = ""
    """Who it runs as on its host when that is not the login user (become): `root`."""
    ansible: bool = False
    """One of Ansible's own async jobs, found on its host (watch, status)."""
    group: str = ""
    """The inventory group the console shows its host under (`plan.display_group`:
    the first group the job's pattern selected it through); "" when not known."""
    skew: float = field(default=0.0, compare=False)
    """The host's clock minus the console's, where it is off (else 0): `started` and
    `finished` are the host's times, so a running run's elapsed time is measured
    against the host's clock."""
    now: float | None = field(default=None, compare=False)
    """The host's clock when this was read (for elapsed times of discovered runs);
    not part of what a view says, so two reads of an unchanged run compare equal."""

    @property
    def label(self) -> str:
        """`host job[item]`, as messages name the run."""
        return label(self.host, self.job, self.item)

    @property
    def last_line(self) -> str:
        """The output's last line (stderr's when it has any), at most `LAST_LINE`
        characters: what `status` and the summary show of a run's output."""
        last = (self.stderr_tail or self.tail).rstrip("\n").rsplit("\n", 1)[-1]
        return last[-LAST_LINE:]

    def elapsed(self, now: float) -> float | None:
        """Seconds since the run started (until it finished); None before it started,
        or for a run that ended at a time nobody recorded (lost).

        `started`/`finished` come from the host's clock and `now` from the caller's: a
        negative difference (clock skew) shows as 0.
        """
        if self.started is None or (self.finished is None and self.state.finished):
            return None
        end = self.finished if self.finished is not None else now + self.skew
        return max(0.0, end - self.started)

    def summary(self) -> dict[str, Any]:
        """The fields of the design's JSON summary (`user`: who it runs as when it
        becomes someone, null for the login user; `ansible`: one of Ansible's own async
        jobs, found on its host, not one of jobtui's runs)."""
        return {
            "job": self.job,
            "host": self.host,
            "user": self.user or None,
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
            "ansible": self.ansible,
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
    level: NoticeLevel = NoticeLevel.INFO


@dataclass(frozen=True)
class BatchFinished:
    batch: str
    runs: list[RunView]
    counts: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    """The console stopped following before the end (the runs go on on their hosts)."""


def exit_code(runs: list[RunView]) -> int:
    """0 when no run failed, timed out, was cancelled, lost or unreachable; else 1.

    A run launched with `poll: 0` is still running when the console leaves: that is
    success for fire-and-forget.
    """
    return defaults.EXIT_FAILED if any(v.state.failed for v in runs) else defaults.EXIT_OK


Event = BatchStarted | RunChanged | HostChanged | Notice | BatchFinished
