"""A run as the engine tracks it: the latest attempt of one job on one host for one
loop item, mutable, owned by the engine's loop thread (and persisted by the store)."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobtui.events import RunView
from jobtui.model import RemoteStatus, RunSpec, RunState, item_label, new_jid


@dataclass
class Run:
    """The engine's mutable record of one run (the latest attempt)."""

    spec: RunSpec
    jid: str = field(default_factory=new_jid)
    state: RunState = RunState.PENDING
    attempt: int = 1
    launched: bool = False
    """The host confirmed the launch (ok, or the job dir already existed)."""
    rc: int | None = None
    started: float | None = None
    finished: float | None = None
    progress: float | None = None
    message: str = ""
    eta: float | None = None
    """Seconds left, from the rate of progress so far."""
    first_progress: tuple[float, float] | None = None
    reason: str = ""
    tail: str = ""
    stderr_tail: str = ""
    first_sent: float | None = None
    """When this attempt's launch first went out (clock of the engine)."""
    sending: bool = False
    """Its launch is on the way to the host right now."""
    launched_at: float = 0.0
    retry_at: float | None = None
    closed: bool = False
    """The engine will do nothing more with this run."""
    cleaned: bool = False
    """Its job directory was removed from the host."""
    seen: RemoteStatus | None = None
    """The host's last report, while nothing else has changed the run since."""

    @property
    def follow(self) -> bool:
        return self.spec.job.poll > 0

    def view(self) -> RunView:
        s = self.spec
        return RunView(
            key=s.key,
            job=s.job.name,
            host=s.host.name,
            item=item_label(s.item),
            jid=self.jid,
            state=self.state,
            attempt=self.attempt,
            rc=self.rc,
            started=self.started,
            finished=self.finished,
            progress=self.progress,
            message=self.message,
            eta=self.eta,
            timeout=s.job.timeout,
            reason=self.reason,
            tail=self.tail,
            stderr_tail=self.stderr_tail,
            command=s.script,
            cleaned=self.cleaned,
        )
