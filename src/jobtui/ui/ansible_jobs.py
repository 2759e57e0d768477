"""The operator console's second source: Ansible's own async jobs on the batch's hosts.

`AnsibleJobs` polls the hosts' transports (the engine's own: they serialise round
trips per host, so a poll here waits for the engine's, never overlaps it) with the
status round trip that `jobtui status` sends, keeps only Ansible's jobs
(`RunView.ansible`) and emits what changed, as `fleet.DiscoveryPoller` does for
watch. It is also where the console's actions on those jobs go (`request`): a cancel
or a cleanup is one `Transport.cancel` / `Transport.cleanup` of the jid, on this
source's thread (never the UI's), and the host is read again at once so the console
shows the outcome. A retry is refused: only the playbook can launch its job again.

It never closes the transports (the command that made them does) and never sends
HostChanged: the engine says whether a host is reachable. Gated on the engine
(`observe` its events), a host is read only once the engine has reached it, and not
while the engine finds it unreachable: the engine's first launch never waits behind a
read of ours, nor its backoff behind our connects. A host that does not answer is
asked again after a backoff (doubled each failure). No Textual import here.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterable

from jobtui import defaults
from jobtui.events import Event, HostChanged, Notice, RunChanged, RunView
from jobtui.fleet import on_hosts, view_of
from jobtui.model import Action, NoticeLevel, Outcome, RunKey, RunState
from jobtui.pages import read_view
from jobtui.text import one_line
from jobtui.transport import Transport, TransportError
from jobtui.transport.base import Chunk
from jobtui.ui.render import STATE_LOOK

RETRY_REFUSED = "Ansible's jobs cannot be retried from jobtui: run the playbook again"


def ansible_label(view: RunView) -> str:
    """`db01 Ansible job j123.45`, as the notices name one of Ansible's jobs."""
    return f"{one_line(view.host)} Ansible job {one_line(view.jid or '?')}"


class AnsibleJobs:
    """Event source and action sink for Ansible's async jobs on some hosts.

    Args:
        transports: The hosts' transports (shared with the engine; not closed here).
        interval: Seconds between two reads of a host.
        forks: Hosts read at once.
        grace: Seconds between TERM and KILL of a cancel.
        backoff: Seconds before a host that failed is read again (doubled each time,
            at most `defaults.MAX_BACKOFF`).
        clock: Monotonic seconds.
        gated: Read a host only while the engine says it is reachable (`observe`).
    """

    def __init__(
        self,
        transports: Iterable[Transport],
        *,
        interval: float = defaults.WATCH_INTERVAL,
        forks: int = defaults.FORKS,
        grace: int = defaults.GRACE,
        backoff: float = defaults.BACKOFF,
        clock: Callable[[], float] = time.monotonic,
        gated: bool = False,
    ) -> None:
        self.transports = {t.host.name: t for t in transports}
        self.interval = interval
        self.forks = forks
        self.grace = grace
        self.backoff = backoff
        self.clock = clock
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._requests: queue.SimpleQueue[tuple[Action, list[RunKey]]] = queue.SimpleQueue()
        self._seen: dict[RunKey, RunView] = {}
        """What consumers were last told of each job (written on the source's thread)."""
        self._due: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._reachable: set[str] | None = set() if gated else None
        """The hosts the engine last said were reachable (None: not gated)."""

    # -- any thread ------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def request(self, action: Action | str, keys: Iterable[RunKey]) -> None:
        """Cancel or clean up these jobs (retry: refused with a notice). Thread-safe;
        done on the source's thread, outcomes come back as events."""
        self._requests.put((Action(action), list(keys)))
        self._wake.set()

    def show_output(self, keys: Iterable[RunKey]) -> None:
        """Nothing to do: a finished job's output comes with every read."""

    def read_output(self, view: RunView, stream: str, offset: int, size: int) -> Chunk | None:
        """The pager's reads of one of Ansible's jobs: its result's output."""
        t = self.transports.get(view.host)
        return read_view(t, view, stream, offset, size) if view.ansible and t else None

    def observe(self, event: Event) -> None:
        """The engine's events (a listener on its loop thread): which hosts it reaches."""
        if self._reachable is None or not isinstance(event, HostChanged):
            return
        if event.reachable:
            self._reachable.add(event.host)
            self._due.pop(event.host, None)  # read it now
            self._wake.set()
        else:
            self._reachable.discard(event.host)

    # -- the source's thread -----------------------------------------------------------

    def run(self, emit: Callable[[Event], None]) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            acted = self._take_requests(emit)
            now = self.clock()
            readable = [
                n for n in self.transports if self._reachable is None or n in self._reachable
            ]
            due = [self.transports[n] for n in readable if self._due.get(n, 0) <= now]
            due += [t for t in acted.values() if t not in due]
            if due:
                self._read(due, emit)
            if self._stop.is_set():
                break
            # Until the next host is due (a host the engine cannot reach: when it can).
            wake = min((self._due.get(n, 0) for n in readable), default=now + self.interval)
            self._wake.wait(max(0.0, min(self.interval, wake - self.clock())))

    def _read(self, transports: list[Transport], emit: Callable[[Event], None]) -> None:
        """One status round trip per host; what changed of their Ansible jobs is told."""
        for ans in on_hosts(transports, lambda t: t.status(None), self.forks):
            name = ans.host.name
            now = self.clock()
            if ans.value is None:
                failures = self._failures[name] = self._failures.get(name, 0) + 1
                wait = min(defaults.MAX_BACKOFF, self.backoff * 2.0 ** (failures - 1))
                self._due[name] = now + max(wait, self.interval)
                continue  # the engine tells whether the host is reachable
            self._failures.pop(name, None)
            self._due[name] = now + self.interval
            host_now = ans.value.hello.now or time.time()
            found: set[RunKey] = set()
            for st in ans.value.runs.values():
                if not st.ansible:
                    continue  # jobtui's own: the engine follows the batch's
                view = view_of(ans.host, st, host_now, ans.value.skew)
                view = dataclasses.replace(view, key=RunKey.discovered(st.jid, name))
                found.add(view.key)
                self._tell(view, emit)
            for key, old in list(self._seen.items()):
                if old.host == name and key not in found and not old.cleaned:
                    self._tell(dataclasses.replace(old, cleaned=True), emit)

    def _tell(self, view: RunView, emit: Callable[[Event], None]) -> None:
        old = self._seen.get(view.key)
        if old != view:
            self._seen[view.key] = view
            emit(RunChanged(view, old.state if old else view.state))

    def _take_requests(self, emit: Callable[[Event], None]) -> dict[str, Transport]:
        """Carry out the queued requests; returns the hosts to read again now."""
        acted: dict[str, Transport] = {}
        while True:
            try:
                action, keys = self._requests.get_nowait()
            except queue.Empty:
                return acted
            views = [self._seen[k] for k in keys if k in self._seen]
            if action is Action.RETRY:
                if views:
                    emit(Notice(RETRY_REFUSED, NoticeLevel.WARNING))
                continue
            for v in views:
                notice = self._act(action, v)
                if notice is not None:
                    emit(notice)
                if v.host in self.transports:
                    acted[v.host] = self.transports[v.host]

    def _act(self, action: Action, view: RunView) -> Notice | None:
        """One cancel or cleanup of one job on its host; what to tell the operator."""
        label = ansible_label(view)
        t = self.transports.get(view.host)
        if t is None or not view.jid:
            return Notice(f"{label}: its host is not one of this console's", NoticeLevel.ERROR)
        if action is Action.CANCEL and view.state.finished:
            return Notice(
                f"{label} has already ended ({STATE_LOOK[view.state].label})", NoticeLevel.WARNING
            )
        if action is Action.CLEANUP:
            if view.cleaned:
                return None
            if view.state is RunState.RUNNING:
                return Notice(
                    f"{label} is running: cleanup refused, cancel it first", NoticeLevel.WARNING
                )
        try:
            if action is Action.CANCEL:
                outcome = t.cancel([view.jid], self.grace).get(view.jid, Outcome.ERROR)
            else:
                outcome = t.cleanup([view.jid]).get(view.jid, Outcome.ERROR)
        except TransportError as e:  # unreachable, or an answer it could not read
            text = f"{action.value} of {label} failed: {one_line(str(e))}"
            return Notice(text, NoticeLevel.ERROR)
        return _told(action, label, outcome)


def _told(action: Action, label: str, outcome: Outcome) -> Notice | None:
    """What a host's answer to a cancel or a cleanup of one job tells the operator."""
    if action is Action.CANCEL:
        if outcome is Outcome.OK:
            return Notice(f"cancelled {label}: its file now says failed, 'cancelled by jobtui'")
        if outcome is Outcome.FINISHED:
            return Notice(f"{label} had already ended", NoticeLevel.WARNING)
    else:
        if outcome in (Outcome.OK, Outcome.MISSING):
            return None  # the next read shows it cleaned
        if outcome is Outcome.RUNNING:
            return Notice(f"{label} is running: cleanup refused by the host", NoticeLevel.WARNING)
    if outcome is Outcome.MISSING:
        return Notice(f"{label}: no such job on its host any more", NoticeLevel.WARNING)
    return Notice(f"{action.value} of {label} failed on the host", NoticeLevel.ERROR)
