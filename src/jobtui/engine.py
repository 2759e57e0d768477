"""The engine: launches a batch's runs, follows them to the end, emits events.

It owns the state machine and the scheduling (the `forks` limit, poll times,
retries, backoff) and does no I/O of its own: every round trip goes through a
host's `Transport`, in a thread pool, at most one at a time per host so polls
never overlap. All state changes happen on the thread that calls `run()`, so the
state needs no locks; worker threads only return values.

Exactly once: a run's jid is chosen before its launch is sent, and the wrapper
creates the job dir with a plain `mkdir`, so resending a launch whose answer was
lost (or relaunching after a crash) finds the dir and starts nothing.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from jobtui import defaults
from jobtui.events import (
    BatchFinished,
    BatchStarted,
    Event,
    HostChanged,
    Notice,
    RunChanged,
)
from jobtui.model import (
    CleanupPolicy,
    NoticeLevel,
    Outcome,
    RemoteStatus,
    RunKey,
    RunSpec,
    RunState,
    item_label,
    new_jid,
)
from jobtui.remote.parse import HostStatus, LaunchOutcome, LaunchResult, run_progress
from jobtui.remote.protocol import LaunchRequest
from jobtui.runs import Run
from jobtui.text import label
from jobtui.transport.base import Transport, TransportError
from jobtui.transport.push import PushHub

LAUNCH_ATTEMPTS = 3
"""Round trips tried before a run that could not be launched is given up as unreachable."""
MAX_BACKOFF = 30.0
UNREACHABLE_MARGIN = 120.0
"""How long past its time limit a launched run on an unreachable host is still awaited."""
STARTING_LIMIT = 60.0
"""A run launched this long ago whose supervisor never wrote its pid is lost."""


@dataclass
class _Plan:
    """What one host's runs want from the loop (cached by `Engine._plan`)."""

    followed: bool
    """Some run is launched and not at its end: the host is polled."""
    to_launch: bool
    """Some open run is not launched yet."""
    retries: list[Run]
    """Runs waiting for their retry time."""


@dataclass
class _Host:
    transport: Transport
    busy: bool = False
    next_poll: float = 0.0
    failures: int = 0
    backoff_until: float = 0.0
    reachable: bool | None = None
    cancel: list[str] = field(default_factory=list)
    cleanup: list[str] = field(default_factory=list)
    poll_again: bool = False


@dataclass
class _Task:
    """One round trip's worth of work for a host, in the order it is done."""

    launch: list[Run] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)
    poll: list[str] = field(default_factory=list)
    full: set[str] = field(default_factory=set)
    """Polled jids whose output tails are wanted too."""
    cleanup: list[str] = field(default_factory=list)


@dataclass
class _Result:
    host: str
    launched: dict[str, LaunchResult] | None = None
    status: HostStatus | None = None
    polled: list[str] = field(default_factory=list)
    cleaned: dict[str, Outcome] = field(default_factory=dict)
    error: str = ""
    unconfirmed: list[str] = field(default_factory=list)
    """Jids whose launch may have reached the host before the connection failed."""


class Engine:
    """Runs a batch to the end. `run()` blocks; `stop()` may be called from any thread."""

    def __init__(
        self,
        runs: Iterable[RunSpec | Run],
        transports: Mapping[str, Transport],
        *,
        batch: str,
        forks: int = defaults.FORKS,
        on_event: Callable[[Event], None] = lambda e: None,
        clock: Callable[[], float] = time.monotonic,
        batch_meta: Mapping[str, object] | None = None,
        before_launch: Callable[[list[Run]], None] = lambda runs: None,
        push: bool = False,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.batch = batch
        self.forks = max(1, forks)
        self._listeners: list[Callable[[Event], None]] = [on_event]
        self.clock = clock
        self.batch_meta = dict(batch_meta or {})
        self.before_launch = before_launch
        self.push = push
        self.environ = environ
        """Where secret env values (`from_env`) are read at launch."""
        """Listen to each host's end watcher, to see an end before the next poll."""
        self._nudged: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._shown: frozenset[RunKey] = frozenset()
        """Called on the loop thread before a launch is sent (the store makes jids durable)."""
        self.runs = [r if isinstance(r, Run) else Run(r) for r in runs]
        self.hosts = {name: _Host(t) for name, t in transports.items()}
        self._stop = threading.Event()
        self._requests: queue.SimpleQueue[tuple[str, list[RunKey]]] = queue.SimpleQueue()
        self._wake_lock = threading.Lock()
        self._waker: Future[None] = Future()
        self._by_jid = {r.jid: r for r in self.runs}
        self._by_key = {r.spec.key: r for r in self.runs}
        self._to_launch = [r for r in self.runs if not (r.closed or r.launched)]
        self._host_runs: dict[str, list[Run]] = {name: [] for name in self.hosts}
        for r in self.runs:
            self._host_runs[r.spec.host.name].append(r)
        self._plans: dict[str, _Plan] = {}
        """Per host, what its runs want (see `_plan`); dropped whenever they change."""

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """Also deliver every event to `listener` (on the loop thread), from the next on."""
        self._listeners.append(listener)

    def on_event(self, event: Event) -> None:
        """Deliver an event to every listener, in the order they were added."""
        for listener in self._listeners:
            listener(event)

    def stop(self) -> None:
        """Stop following (the runs go on on their hosts). Thread-safe."""
        self._stop.set()
        self._wake()

    # -- the loop -------------------------------------------------------------

    def request(self, action: str, keys: Iterable[RunKey]) -> None:
        """Ask for `cancel`, `cleanup` or `retry` of runs (by key). Thread-safe.

        Done on the loop thread at its next turn; outcomes come back as events.
        """
        if action not in ("cancel", "cleanup", "retry"):
            raise ValueError(f"unknown action {action!r}")
        self._requests.put((action, list(keys)))
        self._wake()

    def nudge(self, host: str) -> None:
        """A run ended on `host`: poll it now. Thread-safe (the push thread calls it)."""
        self._nudged.put(host)
        self._wake()

    def _take_nudges(self, now: float) -> None:
        while True:
            try:
                name = self._nudged.get_nowait()
            except queue.Empty:
                return
            h = self.hosts.get(name)
            if h is not None and h.backoff_until <= now:
                h.next_poll = now
                # A round trip in flight may have read the host before this end:
                # poll again when it is back, whatever its poll interval says.
                h.poll_again = h.busy

    def _wake(self) -> None:
        with self._wake_lock:
            if not self._waker.done():
                self._waker.set_result(None)

    def run(self, linger: bool = False) -> BatchFinished:
        """Follow the batch to the end (with `linger`, until `stop()`: the console
        keeps the engine for actions on finished runs)."""
        self.on_event(BatchStarted(self.batch, [r.view() for r in self.runs]))
        workers = max(1, min(self.forks, len(self.hosts)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jobtui-host")
        futures: dict[Future[_Result], str] = {}
        finished_sent = False
        hub = PushHub({n: h.transport for n, h in self.hosts.items()}, self.nudge)
        if self.push:
            hub.start()
        try:
            while not self._stop.is_set():
                now = self.clock()
                self._take_requests(now)
                self._take_nudges(now)
                self._start_retries(now)
                for name, task in self._due_tasks(now).items():
                    self.hosts[name].busy = True
                    if task.launch:
                        self.before_launch(task.launch)
                    for r in task.launch:
                        r.sending = True
                    futures[pool.submit(self._host_round_trip, name, task)] = name
                if not futures and self._all_closed():
                    if not finished_sent:
                        finished_sent = True
                        if linger:
                            self._finish(interrupted=False)
                    if not linger:
                        break
                else:
                    finished_sent = False
                with self._wake_lock:
                    if self._waker.done():
                        self._waker = Future()
                    waker = self._waker
                timeout = self._sleep_time(now)
                waiting: list[Future[Any]] = [*futures, waker]
                done, _ = wait(waiting, timeout=timeout, return_when=FIRST_COMPLETED)
                for fut in done:
                    if fut is waker:
                        continue
                    name = futures.pop(fut)
                    self.hosts[name].busy = False
                    for r in self._host_runs[name]:
                        r.sending = False
                    self._apply(fut.result(), self.clock())
        finally:
            hub.stop()
            # On a stop, round trips in flight finish on their own and their results
            # are dropped: the runs are on the hosts either way.
            pool.shutdown(wait=not self._stop.is_set(), cancel_futures=True)
        return self._finish(interrupted=self._stop.is_set())

    def _all_closed(self) -> bool:
        return all(r.closed for r in self.runs)

    def _plan(self, name: str) -> _Plan:
        """What a host's runs want, worked out again only after they changed: the loop
        asks after every round trip, and with thousands of runs a scan of them all
        each time was most of a steady poll cycle's cost."""
        plan = self._plans.get(name)
        if plan is None:
            runs = [r for r in self._host_runs[name] if not r.closed]
            plan = self._plans[name] = _Plan(
                followed=any(self._followed(r) for r in runs),
                to_launch=any(not r.launched for r in runs),
                retries=[r for r in self._host_runs[name] if r.retry_at is not None],
            )
        return plan

    def _changed(self, r: Run) -> None:
        """Something the loop plans by changed for this run (outside a result of its host)."""
        self._plans.pop(r.spec.host.name, None)

    def _sleep_time(self, now: float) -> float:
        """Until the next poll, retry or end of a backoff; at most 1 s (to notice a stop)."""
        due: list[float] = []
        for name, h in self.hosts.items():
            plan = self._plan(name)
            due.extend(r.retry_at for r in plan.retries if r.retry_at is not None)
            if h.busy:
                continue
            if plan.followed:
                due.append(max(h.next_poll, h.backoff_until))
            elif plan.to_launch:
                due.append(h.backoff_until)
        wake = min(due, default=now + 1.0)
        return max(0.005, min(1.0, wake - now))

    def _due_tasks(self, now: float) -> dict[str, _Task]:
        """The round trip due for each idle host, if any."""
        tasks: dict[str, _Task] = {}
        # Runs still to launch, in plan order (retries at the end); empty once all
        # are out, so a steady poll cycle costs nothing per run here.
        self._to_launch = [r for r in self._to_launch if not (r.closed or r.launched)]
        slots = 0
        if self._to_launch:
            slots = self.forks - sum(
                1 for r in self.runs if r.follow and (r.launched or r.sending) and not r.closed
            )
        for r in self._to_launch:
            h = self.hosts[r.spec.host.name]
            if r.closed or r.launched or r.sending or r.retry_at is not None:
                continue
            if r.state is not RunState.PENDING or h.busy or h.backoff_until > now:
                continue
            if r.follow:
                if slots <= 0:
                    continue
                slots -= 1
            tasks.setdefault(r.spec.host.name, _Task()).launch.append(r)
        for name, h in self.hosts.items():
            if h.busy or h.backoff_until > now:
                continue
            if h.cancel:
                tasks.setdefault(name, _Task()).cancel, h.cancel = h.cancel, []
                h.next_poll = now  # see the cancelled state right away
            if h.next_poll <= now:
                followed = [r for r in self._host_runs[name] if self._followed(r)]
                if followed:
                    task = tasks.setdefault(name, _Task())
                    task.poll = [r.jid for r in followed]
                    task.full = {r.jid for r in followed if self._wants_output(r)}
            if h.cleanup:
                tasks.setdefault(name, _Task()).cleanup, h.cleanup = h.cleanup, []
        return tasks

    def _wants_output(self, r: Run) -> bool:
        """Output tails cost a process on the host: only for a `progress:` regex, or
        while someone looks at the run (`show_output`)."""
        return bool(r.spec.job.progress) or r.spec.key in self._shown

    def show_output(self, keys: Iterable[RunKey]) -> None:
        """Follow these runs' output live (the console's detail view). Thread-safe."""
        self._shown = frozenset(keys)
        self._wake()

    @staticmethod
    def _followed(r: Run) -> bool:
        """Launched and not at its end: its host is polled for it. (An attempt that
        ended and waits for its retry is not: polling it again would end it again.)"""
        return r.launched and not r.closed and r.retry_at is None

    # -- worker side: I/O only, no state --------------------------------------

    def _host_round_trip(self, name: str, task: _Task) -> _Result:
        t = self.hosts[name].transport
        res = _Result(name)
        poll = list(task.poll)
        try:
            if task.launch:
                res.launched = t.launch([self._launch_request(r) for r in task.launch])
                poll += [
                    r.jid
                    for r in task.launch
                    if r.follow and res.launched[r.jid].outcome is not LaunchOutcome.ERROR
                ]
            if task.cancel:
                t.cancel(task.cancel)
            if poll:
                res.status = t.status(poll, task.full | {r.jid for r in task.launch})
                res.polled = poll
            if task.cleanup:
                res.cleaned = t.cleanup(task.cleanup)
        except TransportError as e:
            res.error = str(e)
            if e.maybe_delivered and task.launch and res.launched is None:
                res.unconfirmed = [r.jid for r in task.launch]
        return res

    def _launch_request(self, r: Run) -> LaunchRequest:
        s = r.spec
        meta = {
            **self.batch_meta,
            "batch": self.batch,
            "job": s.job.name,
            "host": s.host.name,
            "item": item_label(s.item),
            "index": s.index,
            "command": s.script,
            "timeout": s.job.timeout,
            "attempt": r.attempt,
            "progress_re": s.job.progress,
            "launched": time.time(),
        }
        # Secrets are read from the console's environment now, and go to the host in
        # the launch request only (its stdin, never argv); meta names no value.
        env = {**s.env, **{k: self.environ.get(src, "") for k, src in s.job.secret_env.items()}}
        return LaunchRequest(r.jid, s.script, s.job.timeout, meta, env, s.chdir)

    # -- applying results (loop thread) -----------------------------------------

    def _apply(self, res: _Result, now: float) -> None:
        self._plans.pop(res.host, None)
        h = self.hosts[res.host]
        if res.error:
            h.failures += 1
            h.backoff_until = now + min(MAX_BACKOFF, 2.0 ** (h.failures - 1))
            h.next_poll = h.backoff_until
            if h.reachable is not False:
                h.reachable = False
                self.on_event(HostChanged(res.host, False, res.error))
            for jid in res.unconfirmed:
                r = self._by_jid[jid]
                if r.first_sent is None:
                    r.first_sent = now
            self._host_failed(res.host, res.error, now)
            return
        h.failures = 0
        if h.reachable is not True:
            h.reachable = True
            self.on_event(HostChanged(res.host, True))
        for jid, lr in (res.launched or {}).items():
            self._apply_launch(self._by_jid[jid], lr, now)
        if res.status is not None:
            for jid in res.polled:
                r = self._by_jid[jid]
                if jid in res.status.runs:
                    self._apply_status(r, res.status.runs[jid], now)
                elif jid in res.status.missing:
                    self._update(r, state=RunState.LOST, reason="its job directory is gone")
                    self._closed_run(r, now)
        for jid, outcome in res.cleaned.items():
            self._apply_cleanup(self._by_jid.get(jid), outcome)
        # A poll-0 run followed after an action on it is polled every second.
        polls = [r.spec.job.poll or 1.0 for r in self._host_runs[res.host] if self._followed(r)]
        h.next_poll = now if h.poll_again else now + min(polls, default=5.0)
        h.poll_again = False

    def _apply_launch(self, r: Run, lr: LaunchResult, now: float) -> None:
        if lr.outcome is LaunchOutcome.ERROR:
            self._update(r, state=RunState.FAILED, reason=f"launch failed: {lr.message}")
            self._closed_run(r, now)
            return
        r.launched = True
        r.launched_at = now
        self._update(r, state=RunState.RUNNING, reason="")
        if not r.follow:
            r.closed = True

    def _apply_status(self, r: Run, st: RemoteStatus, now: float) -> None:
        # Runs with a `progress:` regex are always polled in full (`_wants_output`).
        p = run_progress(st, r.spec.job.progress)
        progress, message = p.percent, p.message
        if st == r.seen and st.pid is not None and progress is None:
            return  # what the host said last time, and nothing here depends on the time
        eta = None
        if progress is not None and st.state is RunState.RUNNING:
            if r.first_progress is None or progress < r.first_progress[1]:
                r.first_progress = (now, progress)
            t0, p0 = r.first_progress
            if progress > p0:
                eta = (now - t0) * (100.0 - progress) / (progress - p0)
        state, reason = st.state, st.reason
        if state is RunState.RUNNING and st.pid is None and now - r.launched_at > STARTING_LIMIT:
            state, reason = RunState.LOST, "its supervisor never started"
        self._update(
            r,
            state=state,
            rc=st.rc,
            started=st.started,
            finished=st.finished,
            progress=100.0 if state is RunState.SUCCEEDED else progress,
            eta=eta,
            message=message,
            tail=st.tail if st.full else r.tail,
            stderr_tail=st.stderr_tail if st.full else r.stderr_tail,
            reason=reason,
        )
        r.seen = st
        if state.finished:
            self._closed_run(r, now)

    def _host_failed(self, host: str, reason: str, now: float) -> None:
        for r in self._host_runs[host]:
            if r.closed:
                continue
            if not r.launched and r.state is RunState.PENDING and r.retry_at is None:
                if r.first_sent is not None:
                    # Its launch went out and its answer was lost: it may be running.
                    # Resent (same jid: started at most once) until it is confirmed,
                    # or until it would have timed out anyway.
                    self._update(r, reason=f"launch not confirmed yet: {reason}")
                    limit = r.spec.job.timeout + defaults.GRACE + UNREACHABLE_MARGIN
                    if now - r.first_sent > limit:
                        self._update(r, state=RunState.UNREACHABLE, reason=reason)
                        r.closed = True
                elif self.hosts[host].failures >= LAUNCH_ATTEMPTS:
                    self._update(r, state=RunState.UNREACHABLE, reason=reason)
                    r.closed = True
            elif r.launched:
                self._update(r, state=RunState.UNREACHABLE, reason=reason)
                if now - r.launched_at > r.spec.job.timeout + defaults.GRACE + UNREACHABLE_MARGIN:
                    r.closed = True

    def _closed_run(self, r: Run, now: float) -> None:
        """A run reached an end state: schedule its cleanup and, maybe, its retry."""
        job = r.spec.job
        policy = job.cleanup
        wanted = policy is CleanupPolicy.ALWAYS or (
            policy is CleanupPolicy.ON_SUCCESS and r.state is RunState.SUCCEEDED
        )
        if wanted and r.launched:
            self.hosts[r.spec.host.name].cleanup.append(r.jid)
        if r.state.retryable and r.attempt <= job.retries:
            r.retry_at = now + job.retry_delay
            # Said, so that nobody takes it for the end (and `c` can call it off).
            when = f"retry {r.attempt + 1} of {job.retries + 1} in {job.retry_delay:g}s"
            self._update(r, reason=f"{r.reason}; {when}" if r.reason else when)
        else:
            r.closed = True

    # -- operator actions (loop thread) -----------------------------------------

    def _take_requests(self, now: float) -> None:
        while True:
            try:
                action, keys = self._requests.get_nowait()
            except queue.Empty:
                return
            for key in keys:
                r = self._by_key.get(key)
                if r is None:
                    continue
                self._changed(r)
                if action == "cancel":
                    self._cancel(r)
                elif action == "cleanup":
                    self._cleanup(r)
                else:
                    self._retry(r, now)

    def _cancel(self, r: Run) -> None:
        label = _label(r)
        if r.retry_at is not None and r.state.finished:
            # Its attempt has ended and another was due: that one is called off.
            r.retry_at = None
            r.closed = True
            self._update(r, reason="its retry was cancelled")
            self.on_event(Notice(f"{label}: retry cancelled (it stays {r.state.value})"))
        elif r.state.finished or (r.closed and not r.launched):
            self.on_event(
                Notice(f"{label} has already ended ({r.state.value})", NoticeLevel.WARNING)
            )
        elif not r.launched and not r.sending:
            # Never sent to the host: nothing to kill.
            r.retry_at = None
            self._update(r, state=RunState.CANCELLED, reason="cancelled before launch")
            r.closed = True
        else:
            # Followed until the host reports it cancelled; never retried.
            self.hosts[r.spec.host.name].cancel.append(r.jid)
            r.closed = False
            r.retry_at = None
            self.on_event(Notice(f"cancelling {label}"))

    def _cleanup(self, r: Run) -> None:
        label = _label(r)
        if not r.launched:
            self.on_event(
                Notice(f"{label} was never launched: nothing to clean up", NoticeLevel.WARNING)
            )
        elif not r.state.finished:
            self.on_event(
                Notice(
                    f"{label} is {r.state.value}: cleanup refused, cancel it first",
                    NoticeLevel.WARNING,
                )
            )
        elif not r.cleaned:
            self.hosts[r.spec.host.name].cleanup.append(r.jid)

    def _apply_cleanup(self, r: Run | None, outcome: str) -> None:
        if r is None:
            return
        if outcome in ("ok", "missing"):
            r.cleaned = True
            self.on_event(RunChanged(r.view(), r.state))
        elif outcome == "running":
            self.on_event(
                Notice(f"{_label(r)} is running: cleanup refused by the host", NoticeLevel.WARNING)
            )
        else:
            self.on_event(Notice(f"cleanup of {_label(r)} failed on the host", NoticeLevel.ERROR))

    def _retry(self, r: Run, now: float) -> None:
        if r.state in (RunState.PENDING, RunState.RUNNING) and not r.closed:
            self.on_event(
                Notice(f"{_label(r)} is {r.state.value}: nothing to retry", NoticeLevel.WARNING)
            )
            return
        if r.state is RunState.SUCCEEDED:
            self.on_event(Notice(f"{_label(r)} succeeded: retrying it anyway"))
        r.retry_at = now
        r.closed = False

    def _start_retries(self, now: float) -> None:
        due = [
            r
            for name in self.hosts
            for r in self._plan(name).retries
            if r.retry_at is not None and r.retry_at <= now
        ]
        for r in due:
            self._changed(r)
            del self._by_jid[r.jid]
            r.jid = new_jid()
            self._by_jid[r.jid] = r
            r.retry_at = None
            r.launched = False
            r.cleaned = False
            r.attempt += 1
            self._to_launch.append(r)
            self._update(
                r,
                state=RunState.PENDING,
                rc=None,
                started=None,
                finished=None,
                progress=None,
                message="",
                eta=None,
                first_progress=None,
                tail="",
                stderr_tail="",
                reason="",
            )

    def _update(self, r: Run, **changes: object) -> None:
        """Apply changes; one event (one view built) only if something changed."""
        for k, v in changes.items():
            if getattr(r, k) != v:
                break
        else:
            return
        previous = r.state
        for k, v in changes.items():
            setattr(r, k, v)
        r.seen = None
        self.on_event(RunChanged(r.view(), previous))

    def _finish(self, interrupted: bool) -> BatchFinished:
        views = [r.view() for r in self.runs]
        counts: dict[str, int] = {}
        for v in views:
            counts[v.state.value] = counts.get(v.state.value, 0) + 1
        ev = BatchFinished(self.batch, views, counts, interrupted)
        self.on_event(ev)
        return ev


def _label(r: Run) -> str:
    return label(r.spec.host.name, r.spec.job.name, item_label(r.spec.item))
