"""The engine: launches a batch's runs, follows them to the end, emits events.

It is the scheduler (the `forks` limit, poll times, retries, backoff) and the round
trips; the rules of a run's life are the run's own (`runs.Run`), the operator's
actions are decided in `actions`. It does no I/O of its own: every round trip goes
through a host's `Transport`, in a thread pool, at most one at a time per host, so
polls never overlap. All state changes happen on the thread that calls `run()`, so
the state needs no locks; worker threads only return values.

Exactly once: a run's jid is chosen before its launch is sent, and the wrapper
creates the job dir with a plain `mkdir`, so resending a launch whose answer was
lost (or relaunching after a crash) finds the dir and starts nothing.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from jobtui import actions, defaults, events, fetch, flow
from jobtui.model import Action, NoticeLevel, RunKey, RunSpec, RunState, new_jid
from jobtui.remote.parse import (
    clock_is_off,
    skew_text,
)
from jobtui.remote.protocol import LaunchRequest
from jobtui.roundtrip import Result, Task, round_trip
from jobtui.runs import Run
from jobtui.transport.base import Transport
from jobtui.transport.push import PushHub


@dataclass
class _HostPlan:
    """What one host's runs want from the loop (cached by `Engine._plan`)."""

    followed: bool
    """Some run is followed: the host is polled."""
    to_launch: bool
    """Some open run is not launched yet."""
    retries: list[Run]
    """Runs waiting for their next attempt."""


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
    fetch: list[fetch.Want] = field(default_factory=list)
    poll_again: bool = False


class Engine:
    """Runs a batch to the end. `run()` blocks; `stop()` may be called from any thread.

    Args:
        runs: The batch's runs (specs for a new batch, `Run`s to carry on with one).
        transports: One per host of the runs, by host name.
        batch: The batch id.
        forks: At most this many followed runs in flight, and hosts contacted at once.
        on_event: The first listener (see `add_listener`).
        clock: Monotonic seconds (tests may pass their own).
        batch_meta: Extra fields written into every run's metadata on its host.
        before_launch: Called on the loop thread before a launch is sent (the store
            makes the jids durable first).
        push: Listen to each host's end watcher, to see an end before the next poll.
        environ: Where secret env values (`from_env`) are read at launch.
        new_attempt_jid: The jid of attempt N of a run (random by default; the CLI
            derives it under the batch's secret: `model.attempt_jid`).
        grace: Seconds between TERM and KILL at a run's time limit and on cancel.
        backoff: Seconds before a failed host is tried again (doubled each failure).
        notices: Warnings of the configuration (an SSH option not understood...),
            told once when the batch starts.
    """

    def __init__(
        self,
        runs: Iterable[RunSpec | Run],
        transports: Mapping[str, Transport],
        *,
        batch: str,
        forks: int = defaults.FORKS,
        on_event: Callable[[events.Event], None] = lambda e: None,
        clock: Callable[[], float] = time.monotonic,
        batch_meta: Mapping[str, object] | None = None,
        before_launch: Callable[[list[Run]], None] = lambda runs: None,
        push: bool = False,
        environ: Mapping[str, str] = os.environ,
        new_attempt_jid: Callable[[RunKey, int], str] = lambda key, attempt: new_jid(),
        grace: int = defaults.GRACE,
        backoff: float = defaults.BACKOFF,
        notices: Sequence[str] = (),
    ) -> None:
        self.batch = batch
        self.forks = max(1, forks)
        self.clock = clock
        self.batch_meta = dict(batch_meta or {})
        self.before_launch = before_launch
        self.push = push
        self.environ = environ
        self.new_attempt_jid = new_attempt_jid
        self.grace = grace
        self.backoff = backoff
        self.notices = tuple(notices)
        self._listeners: list[Callable[[events.Event], None]] = [on_event]
        self._nudged: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._shown: frozenset[RunKey] = frozenset()
        self.runs = [r if isinstance(r, Run) else Run(r) for r in runs]
        self.hosts = {name: _Host(t) for name, t in transports.items()}
        self._stop = threading.Event()
        self._requests: queue.SimpleQueue[tuple[Action, list[RunKey]]] = queue.SimpleQueue()
        self._wake_lock = threading.Lock()
        self._waker: Future[None] = Future()
        self._by_jid = {r.jid: r for r in self.runs}
        self._by_key = {r.spec.key: r for r in self.runs}
        self._views: dict[RunKey, events.RunView] = {r.spec.key: r.view for r in self.runs}
        """What consumers were last told of each run."""
        self._to_launch = [r for r in self.runs if r.due_to_launch]
        self._host_runs: dict[str, list[Run]] = {name: [] for name in self.hosts}
        for r in self.runs:
            self._host_runs[r.spec.host.name].append(r)
        self._clock_told: set[str] = set()
        """Hosts whose clock was said to be off."""
        self._plans: dict[str, _HostPlan] = {}
        """Per host, what its runs want (see `_plan`); dropped whenever they change."""
        self._fetcher = fetch.Fetcher(batch, [r.spec for r in self.runs])
        self._flow = flow.Flow(self.runs)
        """The jobs' own limits: `per_host`, `throttle`, `max_fail_percentage`."""

    # -- listeners and requests (any thread) ------------------------------------------

    def add_listener(self, listener: Callable[[events.Event], None]) -> None:
        """Also deliver every event to `listener` (on the loop thread), from the next on."""
        self._listeners.append(listener)

    def on_event(self, event: events.Event) -> None:
        """Deliver an event to every listener, in the order they were added."""
        for listener in self._listeners:
            listener(event)

    def stop(self) -> None:
        """Stop following (the runs go on on their hosts). Thread-safe."""
        self._stop.set()
        self._wake()

    def request(self, action: Action | str, keys: Iterable[RunKey]) -> None:
        """Ask for `cancel`, `cleanup` or `retry` of runs (by key). Thread-safe.

        Done on the loop thread at its next turn; outcomes come back as events.
        """
        self._requests.put((Action(action), list(keys)))
        self._wake()

    def nudge(self, host: str) -> None:
        """A run ended on `host`: poll it now. Thread-safe (the push thread calls it)."""
        self._nudged.put(host)
        self._wake()

    def show_output(self, keys: Iterable[RunKey]) -> None:
        """Follow these runs' output live (the console's detail view). Thread-safe."""
        self._shown = frozenset(keys)
        self._wake()

    def _wake(self) -> None:
        with self._wake_lock:
            if not self._waker.done():
                self._waker.set_result(None)

    # -- the loop -------------------------------------------------------------

    def run(self, linger: bool = False) -> events.BatchFinished:
        """Follow the batch to the end (with `linger`, until `stop()`: the console
        keeps the engine for actions on finished runs)."""
        self.on_event(events.BatchStarted(self.batch, list(self._views.values())))
        for text in self.notices:
            self.on_event(events.Notice(text, NoticeLevel.WARNING))
        workers = max(1, min(self.forks, len(self.hosts)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jobtui-host")
        futures: dict[Future[Result], str] = {}
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
                        r.sent()
                    futures[pool.submit(self._host_round_trip, name, task)] = name
                if not futures and not any(r.open for r in self.runs):
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
                waiting: list[Future[Any]] = [*futures, waker]
                done, _ = wait(waiting, timeout=self._sleep_time(now), return_when=FIRST_COMPLETED)
                for fut in done:
                    if fut is not waker:
                        self.hosts[futures.pop(fut)].busy = False
                        self._apply(fut.result(), self.clock())
        finally:
            hub.stop()
            # On a stop, round trips in flight finish on their own and their results
            # are dropped: the runs are on the hosts either way.
            pool.shutdown(wait=not self._stop.is_set(), cancel_futures=True)
        return self._finish(interrupted=self._stop.is_set())

    def _plan(self, name: str) -> _HostPlan:
        """What a host's runs want, worked out again only after they changed: the loop
        asks after every round trip, and with thousands of runs a scan of them all
        each time was most of a steady poll cycle's cost."""
        plan = self._plans.get(name)
        if plan is None:
            runs = self._host_runs[name]
            plan = self._plans[name] = _HostPlan(
                followed=any(r.followed for r in runs),
                to_launch=any(r.due_to_launch for r in runs),
                retries=[r for r in runs if r.retry_at is not None],
            )
        return plan

    def _sleep_time(self, now: float) -> float:
        """Until the next poll, retry or end of a backoff; at most 1 s (to notice a stop).

        The loop asks after every wake, and wakes once per round trip or so: one pass,
        no list built (at 50 hosts this was a sixth of a steady poll cycle's CPU)."""
        wake = now + 1.0
        plans = self._plans
        for name, h in self.hosts.items():
            plan = plans.get(name) or self._plan(name)
            for r in plan.retries:
                if r.retry_at is not None and r.retry_at < wake:
                    wake = r.retry_at
            if h.busy:
                continue
            if plan.followed:
                at = h.next_poll if h.next_poll > h.backoff_until else h.backoff_until
            elif plan.to_launch and h.backoff_until > now:
                # Else its runs wait for a place (`--forks`, `per_host`, `throttle`):
                # a place frees when a round trip comes back, and that wakes the loop.
                at = h.backoff_until
            else:
                continue
            if at < wake:
                wake = at
        return max(0.005, min(1.0, wake - now))

    def _due_tasks(self, now: float) -> dict[str, Task]:
        """The round trip due for each idle host, if any."""
        tasks: dict[str, Task] = {}
        # Runs still to launch, in plan order (retries at the end); empty once all
        # are out, so a steady poll cycle costs nothing per run here.
        self._to_launch = [r for r in self._to_launch if r.open and not r.launched]
        slots = 0
        gate: flow.Turn | None = None
        if self._to_launch:
            slots = self.forks - sum(1 for r in self.runs if r.in_flight)
            skipped, gate = self._flow.turn()
            for r in skipped:
                self._ended_or_changed(r)
        for r in self._to_launch:
            h = self.hosts[r.spec.host.name]
            if not r.due_to_launch or h.busy or h.backoff_until > now:
                continue
            if r.spec.job.poll > 0 and slots <= 0:
                continue
            if gate is not None and (waiting := gate.admit(r)):
                r.wait(waiting)  # said once: the view changes only when the reason does
                self._emit(r)
                continue
            if r.spec.job.poll > 0:
                slots -= 1
            tasks.setdefault(r.spec.host.name, Task()).launch.append(r)
        for name, h in self.hosts.items():
            if h.busy or h.backoff_until > now:
                continue
            if h.cancel:
                tasks.setdefault(name, Task()).cancel, h.cancel = h.cancel, []
                h.next_poll = now  # see the cancelled state right away
            if h.next_poll <= now:
                followed = [r for r in self._host_runs[name] if r.followed]
                if followed:
                    task = tasks.setdefault(name, Task())
                    task.poll = [r.jid for r in followed]
                    task.full = {r.jid for r in followed if self._wants_output(r)}
            if h.fetch:
                tasks.setdefault(name, Task()).fetch, h.fetch = h.fetch, []
            if h.cleanup:
                tasks.setdefault(name, Task()).cleanup, h.cleanup = h.cleanup, []
        return tasks

    def _wants_output(self, r: Run) -> bool:
        """Output tails cost a process on the host: only for a `progress:` regex, or
        while someone looks at the run (`show_output`)."""
        return bool(r.spec.job.progress) or r.spec.key in self._shown

    # -- worker side: I/O only, no state --------------------------------------

    def _host_round_trip(self, name: str, task: Task) -> Result:
        def request(r: Run) -> LaunchRequest:
            return r.launch_request(self.batch, self.batch_meta, self.environ, self.grace)

        return round_trip(self.hosts[name].transport, name, task, request, self.grace)

    # -- applying results (loop thread) -----------------------------------------

    def _apply(self, res: Result, now: float) -> None:
        self._plans.pop(res.host, None)
        h = self.hosts[res.host]
        # What the host confirmed stands, whatever failed after it in the round trip.
        for jid, lr in (res.launched or {}).items():
            r = self._by_jid[jid]
            r.on_launch(lr, now)
            if r.view.state is RunState.RUNNING and r.view.started is None:
                # A `running` event says since when: the host's clock, from the status
                # of the same round trip, else (not started yet, or `poll: 0` and not
                # polled) ours when the host confirmed the launch.
                st = res.status.runs.get(jid) if res.status is not None else None
                r._show(started=st.started if st and st.started else time.time())
            self._ended_or_changed(r)
        for warning in fetch.failures(res.fetching, res.fetched, res.error):
            self.on_event(warning)
        if res.error:
            self._host_down(h, res, now)
            return
        h.failures = 0
        if h.reachable is not True:
            h.reachable = True
            self.on_event(events.HostChanged(res.host, True))
        if res.status is not None:
            skew = res.status.skew if clock_is_off(res.status.skew) else 0.0
            if skew and res.host not in self._clock_told:
                self._clock_told.add(res.host)
                self.on_event(events.Notice(f"{res.host}: {skew_text(skew)}", NoticeLevel.WARNING))
            for jid in res.polled:
                r = self._by_jid[jid]
                if jid in res.status.runs:
                    if r.on_status(res.status.runs[jid], now, skew):
                        self._ended_or_changed(r)
                elif jid in res.status.missing:
                    r.on_missing()
                    self._emit(r)
        for jid, outcome in res.cleaned.items():
            target = self._by_jid.get(jid)
            if target is not None:
                notice = actions.cleaned(target, outcome)
                if notice is None:
                    self._emit(target)
                else:
                    self.on_event(notice)
        polls = [r.poll for r in self._host_runs[res.host] if r.followed]
        h.next_poll = now if h.poll_again else now + min(polls, default=defaults.POLL)
        h.poll_again = False

    def _host_down(self, h: _Host, res: Result, now: float) -> None:
        h.failures += 1
        h.backoff_until = now + min(defaults.MAX_BACKOFF, self.backoff * 2.0 ** (h.failures - 1))
        h.next_poll = h.backoff_until
        if h.reachable is not False:
            h.reachable = False
            self.on_event(events.HostChanged(res.host, False, res.error))
        delivered = res.maybe_delivered and res.launched is None
        for r in self._host_runs[res.host]:
            r.unanswered(now, delivered)
            r.on_host_down(res.error, now, h.failures)
            self._emit(r)

    def _ended_or_changed(self, r: Run) -> None:
        """After a transition: tell what changed; an end may ask for a copy, a cleanup."""
        self._plans.pop(r.spec.host.name, None)
        h = self.hosts[r.spec.host.name]
        want = self._fetcher.want(r)
        if want is not None:  # its cleanup, if due, follows the copy
            h.fetch.append(want)
        elif r.wants_cleanup() and r.jid not in h.cleanup and not self._fetcher.held(r.jid):
            h.cleanup.append(r.jid)
        self._emit(r)

    def _emit(self, r: Run) -> None:
        """One event if the run's view changed since consumers last heard of it."""
        view = r.view
        old = self._views[r.spec.key]
        if view is not old and view != old:  # a run's view is replaced on every change
            self._views[r.spec.key] = view
            self.on_event(events.RunChanged(view, old.state))

    # -- operator actions and retries (loop thread) ------------------------------

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
                self._plans.pop(r.spec.host.name, None)
                r.seen = None
                step = actions.decide(action, r, now)
                host = self.hosts[r.spec.host.name]
                if step.send is Action.CANCEL:
                    host.cancel.append(r.jid)
                elif step.send is Action.CLEANUP:
                    host.cleanup.append(r.jid)
                if step.notice is not None:
                    self.on_event(step.notice)
                self._emit(r)

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

    def _start_retries(self, now: float) -> None:
        plans = self._plans
        due = [
            r
            for name in self.hosts
            for r in (plans.get(name) or self._plan(name)).retries
            if r.retry_due(now)
        ]
        for r in due:
            self._plans.pop(r.spec.host.name, None)
            del self._by_jid[r.jid]
            r.next_attempt(self.new_attempt_jid(r.spec.key, r.view.attempt + 1))
            self._by_jid[r.jid] = r
            self._to_launch.append(r)
            self._emit(r)

    def _finish(self, interrupted: bool) -> events.BatchFinished:
        views = [r.view for r in self.runs]
        counts: dict[str, int] = {}
        for v in views:
            counts[v.state.value] = counts.get(v.state.value, 0) + 1
        ev = events.BatchFinished(self.batch, views, counts, interrupted)
        self.on_event(ev)
        return ev
