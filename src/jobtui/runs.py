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

import dataclasses
import time
from collections.abc import Mapping
from enum import Enum
from typing import Any

from jobtui import defaults
from jobtui.config.progress import progress_pattern
from jobtui.events import RunView
from jobtui.model import CleanupPolicy, RemoteStatus, RunSpec, RunState, item_label, new_jid
from jobtui.plan import display_group
from jobtui.remote.parse import LaunchOutcome, LaunchResult, run_progress
from jobtui.remote.protocol import LaunchRequest

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


class Run:
    """The engine's mutable record of one run (its latest attempt).

    What consumers see of it is `view`, a frozen `RunView` that is replaced, never
    changed, on every change: the one place a run's state, times, progress and output
    live (events, the store and the JSON all take it). The rest is the engine's
    bookkeeping of what to do next.
    """

    def __init__(
        self,
        spec: RunSpec,
        jid: str | None = None,
        state: RunState = RunState.PENDING,
        attempt: int = 1,
    ) -> None:
        self.spec = spec
        self.view = RunView(
            key=spec.key,
            job=spec.job.name,
            host=spec.host.name,
            item=item_label(spec.item),
            jid=jid or new_jid(),
            state=state,
            attempt=attempt,
            timeout=spec.job.timeout,
            command=spec.script,
            user=spec.become.user if spec.become else "",
            group=display_group(spec.job.hosts, spec.host.groups),
        )
        self.phase = Phase.QUEUED
        self.launched = False
        """The host confirmed this attempt's launch (started, or it already existed)."""
        self.watched = False
        """Followed to its end although its job says `poll: 0` (after attach or a cancel)."""
        self.retry_at: float | None = None
        """With phase RETRY: when the next attempt starts (the engine's clock)."""
        self.first_sent: float | None = None
        """When a launch of this attempt that may have reached the host went out."""
        self.launched_at = 0.0
        self.first_progress: tuple[float, float] | None = None
        """When progress was first seen, and its value (for the ETA)."""
        self.seen: RemoteStatus | None = None
        """The host's last report, while nothing else has changed the run since."""
        self.sent_before = False
        """Restored from the store (attach): a launch of this attempt went out before
        the console stopped, so it may be on its host although nothing confirmed it."""

    def _show(self, **changes: Any) -> None:
        """Change what consumers see: a new view, if anything differs."""
        view = self.view
        if any(getattr(view, name) != value for name, value in changes.items()):
            self.view = dataclasses.replace(view, **changes)

    @property
    def jid(self) -> str:
        jid = self.view.jid
        assert jid is not None  # a run the engine follows always has one
        return jid

    @property
    def state(self) -> RunState:
        return self.view.state

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
        return wanted and self.state.finished and self.launched and not self.view.cleaned

    def launch_request(
        self,
        batch: str,
        extra_meta: Mapping[str, object],
        environ: Mapping[str, str],
        grace: int,
    ) -> LaunchRequest:
        """What the host is sent to start this attempt: the command, its limit, and the
        metadata its job directory keeps (batch, job, host, item, command, ...)."""
        s = self.spec
        meta = {
            **extra_meta,
            "batch": batch,
            "job": s.job.name,
            "host": s.host.name,
            "item": item_label(s.item),
            "index": s.index,
            "command": s.script,
            "timeout": s.job.timeout,
            "attempt": self.view.attempt,
            "launched": time.time(),
        }
        if s.become is not None:
            meta["user"] = s.become.user
        # Secrets are read from the console's environment now, and go to the host in
        # the request only (the supervisor's stdin: never an argv or a file there);
        # meta names no value.
        secrets = {k: environ.get(src, "") for k, src in s.job.secret_env.items()}
        return LaunchRequest(
            self.jid,
            s.script,
            s.job.timeout,
            meta,
            s.env,
            s.chdir,
            grace,
            secret_env=secrets,
            become=s.become,
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
            self._show(state=RunState.FAILED, reason=f"launch failed: {result.message}")
            self.ended(now)
            return
        self.launched, self.launched_at = True, now
        self._show(state=RunState.RUNNING, reason="")
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
        self._show(
            state=state,
            reason=reason,
            rc=st.rc,
            started=st.started,
            finished=st.finished,
            progress=100.0 if state is RunState.SUCCEEDED else p.percent,
            message=p.message,
            eta=eta,
            skew=skew,
            **({"tail": st.tail, "stderr_tail": st.stderr_tail} if st.full else {}),
        )
        self.seen = st
        if state.finished:
            self.ended(now)
        return True

    def on_missing(self) -> None:
        """Its job directory is gone (cleaned up by someone): the result is unknown,
        and it is never a reason to launch the work again."""
        self._show(state=RunState.LOST, reason=MISSING_REASON)
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
                self._show(reason=f"launch not confirmed yet: {reason}")
                if now - self.first_sent > self._awaited_for():
                    self._show(state=RunState.UNREACHABLE, reason=reason)
                    self.phase = Phase.CLOSED
            elif failures >= defaults.LAUNCH_ATTEMPTS:
                self._show(state=RunState.UNREACHABLE, reason=reason)
                self.phase = Phase.CLOSED
        elif self.phase is Phase.FOLLOWED:
            self._show(state=RunState.UNREACHABLE, reason=reason)
            if now - self.launched_at > self._awaited_for():
                self.phase = Phase.CLOSED

    def _awaited_for(self) -> float:
        """How long a run whose host is down is still waited for."""
        return self.spec.job.timeout + defaults.GRACE + defaults.UNREACHABLE_MARGIN

    def ended(self, now: float) -> None:
        """Its attempt reached an end state: the next attempt is due later, or none."""
        job = self.spec.job
        attempt, reason = self.view.attempt, self.view.reason
        if self.state.retryable and attempt <= job.retries:
            self.phase, self.retry_at = Phase.RETRY, now + job.retry_delay
            # Said, so that nobody takes it for the end (and cancel can call it off).
            when = f"retry {attempt + 1} of {job.retries + 1} in {job.retry_delay:g}s"
            self._show(reason=f"{reason}; {when}" if reason else when)
        else:
            self.phase = Phase.CLOSED

    def retry_due(self, now: float) -> bool:
        return self.phase is Phase.RETRY and self.retry_at is not None and self.retry_at <= now

    def next_attempt(self, jid: str) -> None:
        """Start the next attempt afresh, under a new jid."""
        attempt = self.view.attempt + 1
        self.view = Run(self.spec, jid, RunState.PENDING, attempt).view
        self.phase, self.launched, self.sent_before = Phase.QUEUED, False, False
        self.retry_at = self.first_sent = self.first_progress = self.seen = None

    def cancel_retry(self) -> None:
        """The operator calls off the attempt that was due: the run stays as it ended."""
        self.phase, self.retry_at = Phase.CLOSED, None
        self._show(reason="its retry was cancelled")

    def cancel_unlaunched(self, reason: str) -> None:
        """The operator cancels a run that is not (known to be) on its host."""
        self.phase, self.retry_at = Phase.CLOSED, None
        self._show(state=RunState.CANCELLED, reason=reason)

    def wait(self, reason: str) -> None:
        """It is held back (`flow`: `waiting: per_host 1`): said, while it stays queued."""
        self._show(reason=reason)

    def skip(self, reason: str) -> None:
        """It is never launched, on purpose (`max_fail_percentage` passed): it ends."""
        self.phase, self.retry_at = Phase.CLOSED, None
        self._show(state=RunState.SKIPPED, reason=reason)

    def on_cleaned(self) -> None:
        self._show(cleaned=True)

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
        sent: bool = False,
    ) -> Run:
        """A run of a batch being attached again, from what the store remembers.

        Pending or unreachable: maybe never confirmed, so (re)launched with the same
        jid: the host starts it only if it never got it, and answers `exists`
        otherwise. Nothing is started twice, nothing is forgotten. Attaching means
        following: `poll: 0` runs too (polled every second). `sent`: a launch of
        this attempt went out (`sent_before`).
        """
        r = cls(spec, jid, RunState.PENDING if state is RunState.UNREACHABLE else state, attempt)
        r._show(rc=rc, started=started, finished=finished, progress=progress, reason=reason)
        r.launched = r.watched = state is RunState.RUNNING or state.finished
        r.sent_before = sent and not r.launched
        if state.finished:
            r.phase = Phase.CLOSED
            if state.retryable and attempt <= spec.job.retries:
                r.phase, r.retry_at = Phase.RETRY, 0.0  # its retry was due when it died
        elif r.launched:
            r.phase = Phase.FOLLOWED
        return r
