"""A run as the engine tracks it: the latest attempt of one job on one host for one
loop item. Mutable, owned by the engine's loop thread, persisted by the store.

Its life is its `state` (what people see) and its `phase` (what the engine does with
it next). Every transition is a method here, so the rules live in one place:

    QUEUED ──sent()──▶ SENDING ──on_launch()──▶ FOLLOWED ──on_status(end)──▶ CLOSED
      ▲                   │ lost answer: back to QUEUED,        │                ▲
      │                   │ resent with the same jid            └─▶ RETRY ───────┘
      └────────── next_attempt() (a new jid) ◀─────────────────────┘   (cancelled)

A jid is chosen before its launch is sent and the host starts a jid at most once,
so a launch resent (a lost answer, a console that died) never runs twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from jobtui import defaults
from jobtui.config.progress import progress_pattern
from jobtui.events import RunView
from jobtui.model import CleanupPolicy, RemoteStatus, RunSpec, RunState, item_label, new_jid
from jobtui.remote.parse import LaunchOutcome, LaunchResult, run_progress

MISSING_REASON = "its job directory is gone (cleaned up?): its result is unknown"


class Phase(Enum):
    """What the engine does with a run next."""

    QUEUED = "queued"
    """To be launched (again with the same jid, if an earlier launch went unanswered)."""
    SENDING = "sending"
    """Its launch is on the way to the host."""
    FOLLOWED = "followed"
    """Launched and not at its end: its host is polled for it."""
    RETRY = "retry"
    """Its attempt ended; the next one starts at `retry_at`."""
    CLOSED = "closed"
    """Nothing more to do (it may be polled again after an operator's action)."""


@dataclass
class Run:
    """The engine's mutable record of one run (its latest attempt)."""

    spec: RunSpec
    jid: str = field(default_factory=new_jid)
    state: RunState = RunState.PENDING
    attempt: int = 1
    phase: Phase = Phase.QUEUED
    launched: bool = False
    """The host confirmed this attempt's launch (started, or it already existed)."""
    watched: bool = False
    """Followed to its end although its job says `poll: 0` (after attach or a cancel)."""
    rc: int | None = None
    started: float | None = None
    finished: float | None = None
    progress: float | None = None
    message: str = ""
    eta: float | None = None
    """Seconds left, from the rate of progress so far."""
    reason: str = ""
    tail: str = ""
    stderr_tail: str = ""
    cleaned: bool = False
    """Its job directory was removed from the host."""
    retry_at: float | None = None
    """With phase RETRY: when the next attempt starts (the engine's clock)."""
    first_sent: float | None = None
    """When a launch of this attempt that may have reached the host went out."""
    launched_at: float = 0.0
    first_progress: tuple[float, float] | None = None
    """When progress was first seen, and its value (for the ETA)."""
    seen: RemoteStatus | None = None
    """The host's last report, while nothing else has changed the run since."""
    skew: float = 0.0
    """Its host's clock minus the console's, where it is off (see `RunView.skew`)."""

    # -- what the engine asks ---------------------------------------------------------

    @property
    def follow(self) -> bool:
        """Polled until it ends once launched (`poll: 0` runs are launched and left)."""
        return self.spec.job.poll > 0 or self.watched

    @property
    def poll(self) -> float:
        """Seconds between polls (a `poll: 0` run watched after an action: 1 s)."""
        return self.spec.job.poll or 1.0

    @property
    def followed(self) -> bool:
        """Its host is polled for it."""
        return self.phase is Phase.FOLLOWED

    @property
    def open(self) -> bool:
        """The engine still has something to do with it."""
        return self.phase is not Phase.CLOSED

    @property
    def in_flight(self) -> bool:
        """Takes a `--forks` slot: followed (as its job asks), or being launched."""
        return self.spec.job.poll > 0 and self.phase in (Phase.SENDING, Phase.FOLLOWED)

    @property
    def due_to_launch(self) -> bool:
        return self.phase is Phase.QUEUED and self.state is RunState.PENDING

    def wants_cleanup(self) -> bool:
        """Its job's `cleanup:` policy asks for its directory to go, now it ended."""
        policy = self.spec.job.cleanup
        wanted = policy is CleanupPolicy.ALWAYS or (
            policy is CleanupPolicy.ON_SUCCESS and self.state is RunState.SUCCEEDED
        )
        return wanted and self.state.finished and self.launched and not self.cleaned

    @property
    def label(self) -> str:
        return self.view().label

    def view(self) -> RunView:
        """The run as consumers see it (events, the store, the JSON)."""
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
            skew=self.skew,
        )

    # -- transitions ----------------------------------------------------------------

    def sent(self) -> None:
        """Its launch goes out now."""
        self.phase = Phase.SENDING

    def unanswered(self, now: float, maybe_delivered: bool) -> None:
        """The round trip of its launch failed: it is queued again (same jid). A launch
        that may have reached the host is resent until confirmed (`on_host_down`)."""
        if self.phase is not Phase.SENDING:
            return
        self.phase = Phase.QUEUED
        if maybe_delivered and self.first_sent is None:
            self.first_sent = now

    def on_launch(self, result: LaunchResult, now: float) -> None:
        """The host answered its launch."""
        if result.outcome is LaunchOutcome.ERROR:
            self.state, self.reason = RunState.FAILED, f"launch failed: {result.message}"
            self.ended(now)
            return
        self.launched, self.launched_at = True, now
        self.state, self.reason = RunState.RUNNING, ""
        self.phase = Phase.FOLLOWED if self.follow else Phase.CLOSED

    def on_status(self, st: RemoteStatus, now: float, skew: float = 0.0) -> bool:
        """The host reported on it. Returns False when nothing changed (the same
        report as last time, and nothing here depends on the time)."""
        regex = self.spec.job.progress
        p = run_progress(st, progress_pattern(regex) if regex else None)
        if st == self.seen and st.pid is not None and p.percent is None:
            return False
        eta = None
        if p.percent is not None and st.state is RunState.RUNNING:
            if self.first_progress is None or p.percent < self.first_progress[1]:
                self.first_progress = (now, p.percent)
            t0, p0 = self.first_progress
            if p.percent > p0:
                eta = (now - t0) * (100.0 - p.percent) / (p.percent - p0)
        state, reason = st.state, st.reason
        starting_for = now - self.launched_at
        if state is RunState.RUNNING and st.pid is None and starting_for > defaults.STARTING_LIMIT:
            state, reason = RunState.LOST, "its supervisor never started"
        self.state, self.reason = state, reason
        self.rc, self.started, self.finished = st.rc, st.started, st.finished
        self.progress = 100.0 if state is RunState.SUCCEEDED else p.percent
        self.message, self.eta = p.message, eta
        if st.full:
            self.tail, self.stderr_tail = st.tail, st.stderr_tail
        self.seen, self.skew = st, skew
        if state.finished:
            self.ended(now)
        return True

    def on_missing(self) -> None:
        """Its job directory is gone (cleaned up by someone): the result is unknown,
        and it is never a reason to launch the work again."""
        self.state, self.reason = RunState.LOST, MISSING_REASON
        self.phase = Phase.CLOSED

    def on_host_down(self, reason: str, now: float, failures: int) -> None:
        """A round trip to its host failed (`failures` in a row)."""
        if not self.open:
            return
        self.seen = None  # whatever the host says next is news
        if not self.launched:
            if self.phase is not Phase.QUEUED or self.state is not RunState.PENDING:
                return
            if self.first_sent is not None:
                # Its launch went out and its answer was lost: it may be running.
                # Resent (same jid: started at most once) until it is confirmed,
                # or until it would have timed out anyway.
                self.reason = f"launch not confirmed yet: {reason}"
                if now - self.first_sent > self._awaited_for():
                    self.state, self.reason, self.phase = RunState.UNREACHABLE, reason, Phase.CLOSED
            elif failures >= defaults.LAUNCH_ATTEMPTS:
                self.state, self.reason, self.phase = RunState.UNREACHABLE, reason, Phase.CLOSED
        elif self.phase is Phase.FOLLOWED:
            self.state, self.reason = RunState.UNREACHABLE, reason
            if now - self.launched_at > self._awaited_for():
                self.phase = Phase.CLOSED

    def _awaited_for(self) -> float:
        """How long a run whose host is down is still waited for."""
        return self.spec.job.timeout + defaults.GRACE + defaults.UNREACHABLE_MARGIN

    def ended(self, now: float) -> None:
        """Its attempt reached an end state: the next attempt is due later, or none."""
        job = self.spec.job
        if self.state.retryable and self.attempt <= job.retries:
            self.phase, self.retry_at = Phase.RETRY, now + job.retry_delay
            # Said, so that nobody takes it for the end (and cancel can call it off).
            when = f"retry {self.attempt + 1} of {job.retries + 1} in {job.retry_delay:g}s"
            self.reason = f"{self.reason}; {when}" if self.reason else when
        else:
            self.phase = Phase.CLOSED

    def retry_due(self, now: float) -> bool:
        return self.phase is Phase.RETRY and self.retry_at is not None and self.retry_at <= now

    def next_attempt(self, jid: str) -> None:
        """Start the next attempt afresh, under a new jid."""
        self.jid, self.attempt = jid, self.attempt + 1
        self.phase, self.state = Phase.QUEUED, RunState.PENDING
        self.launched = self.cleaned = False
        self.retry_at = self.first_sent = self.first_progress = self.seen = None
        self.rc = self.started = self.finished = self.progress = self.eta = None
        self.message = self.reason = self.tail = self.stderr_tail = ""

    def on_cleaned(self) -> None:
        self.cleaned = True

    @classmethod
    def resume(
        cls,
        spec: RunSpec,
        jid: str,
        state: RunState,
        attempt: int,
        *,
        rc: int | None = None,
        started: float | None = None,
        finished: float | None = None,
        progress: float | None = None,
        reason: str = "",
    ) -> Run:
        """A run of a batch being attached again, from what the store remembers.

        Pending or unreachable: maybe never confirmed, so (re)launched with the same
        jid: the host starts it only if it never got it, and answers `exists`
        otherwise. Nothing is started twice, nothing is forgotten. Attaching means
        following: `poll: 0` runs too (polled every second).
        """
        r = cls(spec, jid=jid, state=state, attempt=attempt)
        r.rc, r.started, r.finished, r.progress, r.reason = rc, started, finished, progress, reason
        r.launched = r.watched = state is RunState.RUNNING or state.finished
        if state is RunState.UNREACHABLE:
            r.state = RunState.PENDING
        if state.finished:
            r.phase = Phase.CLOSED
            if state.retryable and attempt <= spec.job.retries:
                r.phase, r.retry_at = Phase.RETRY, 0.0  # its retry was due when it died
        elif r.launched:
            r.phase = Phase.FOLLOWED
        return r
