"""One-shot operations across an inventory's hosts, in parallel: discover every job
in the hosts' job directories (`status`, `watch`), cancel, clean up.

Whatever batch or console launched a job, the host's job directory is the truth:
these functions read it, and change it only when asked to (cancel, cleanup).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from jobtui import defaults
from jobtui.events import BatchStarted, Event, HostChanged, RunChanged, RunView
from jobtui.model import Host, Outcome, RemoteStatus, RunKey, RunState
from jobtui.pages import read_view
from jobtui.plan import display_group
from jobtui.transport import Transport, TransportError, make_transports
from jobtui.transport.base import Chunk

if TYPE_CHECKING:
    from jobtui.transport.become import BecomeSetup
    from jobtui.transport.keys import KeyRing

T = TypeVar("T")


@dataclass
class HostAnswer(Generic[T]):
    host: Host
    value: T | None = None
    error: str = ""


def on_hosts(
    transports: Iterable[Transport],
    fn: Callable[[Transport], T],
    forks: int = defaults.FORKS,
    pool: ThreadPoolExecutor | None = None,
) -> list[HostAnswer[T]]:
    """Call `fn` for every host's transport, at most `forks` at once (in `pool`, the
    caller's, when given: a poller keeps one rather than start its threads anew each
    round); failures are kept."""
    ts = list(transports)

    def one(t: Transport) -> HostAnswer[T]:
        try:
            return HostAnswer(t.host, fn(t))
        except TransportError as e:
            return HostAnswer(t.host, error=str(e))

    if not ts:
        return []
    if pool is not None:
        return list(pool.map(one, ts))
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(ts)))) as own:
        return list(own.map(one, ts))


def keyring_for(hosts: Iterable[Host]) -> KeyRing | None:
    """The keys of one command: the passphrase of each encrypted key that the agent does
    not hold is asked now, on the terminal, before a console owns it (headless: such a
    key is skipped, and its hosts say why they could not log in)."""
    endpoints = [h.endpoint for h in hosts if h.connection == "ssh"]
    if not endpoints:
        return None  # and paramiko is not even imported
    from jobtui.transport.keys import KeyRing, terminal_asker

    ring = KeyRing(ask=terminal_asker())
    ring.unlock(endpoints)
    return ring


def transports_for(
    hosts: Iterable[Host],
    accept_new_host_keys: bool = False,
    *,
    keyring: KeyRing | None = None,
    become: BecomeSetup | None = None,
) -> list[Transport]:
    """The hosts' transports: one keyring and one jump host pool for all of them, so
    hosts behind one bastion share one connection to it (closed with the last); a
    host whose runs become someone also has a sudo'd shell per become user."""
    return make_transports(
        hosts, accept_new_host_keys=accept_new_host_keys, keyring=keyring, become=become
    )


def view_of(host: Host, st: RemoteStatus, now: float, skew: float = 0.0) -> RunView:
    """A discovered run as the reporters and the console show it (one of Ansible's
    async jobs too: its job is its module, its command the one it runs, its time
    limit the `async` Ansible gave it; no batch, no item)."""
    meta = st.meta
    # Only what the job wrote to its progress file: a pattern that came from a host
    # is never evaluated (it could take forever).
    p = st.progress
    timeout = meta.get("timeout")
    attempt = meta.get("attempt")
    return RunView(
        key=RunKey(str(meta.get("job", "?")), host.name, int(meta.get("index", 0) or 0)),
        job=str(meta.get("job", "?")),
        host=host.name,
        item=str(meta.get("item", "")),
        jid=st.jid,
        state=st.state,
        attempt=attempt if isinstance(attempt, int) else 1,
        rc=st.rc,
        started=st.started,
        finished=st.finished,
        progress=100.0 if st.state is RunState.SUCCEEDED else p.percent,
        message=p.message,
        timeout=timeout if isinstance(timeout, int) else 0,
        tail=st.tail,
        stderr_tail=st.stderr_tail,
        command=str(meta.get("command", "")),
        batch=str(meta.get("batch", "")),
        user=st.user,
        ansible=st.ansible,
        reason=st.reason,
        group=display_group("all", host.groups),  # no job pattern here: its first group
        now=now,
        skew=skew,  # elapsed times in the host's clock
    )


@dataclass
class Discovery:
    runs: list[RunView]
    unreachable: dict[str, str]
    """Host name -> why it could not be read."""


def discover(
    transports: list[Transport],
    forks: int = defaults.FORKS,
    pool: ThreadPoolExecutor | None = None,
) -> Discovery:
    """Every job on every host, in one round trip per host. Writes nothing."""
    runs: list[RunView] = []
    unreachable: dict[str, str] = {}
    for ans in on_hosts(transports, lambda t: t.status(None), forks, pool):
        if ans.value is None:
            unreachable[ans.host.name] = ans.error
            continue
        now = ans.value.hello.now or time.time()
        skew = ans.value.skew
        runs.extend(view_of(ans.host, st, now, skew) for st in ans.value.runs.values())
    runs.sort(key=lambda v: (v.started or 0, v.host, v.job, v.item))
    return Discovery(runs, unreachable)


def act(
    transports: list[Transport],
    targets: dict[str, list[str]],
    action: str,
    forks: int = defaults.FORKS,
) -> dict[str, str]:
    """Cancel or clean up the given jids per host. Returns jid -> outcome (or `error: ...`)."""
    by_name = {t.host.name: t for t in transports if targets.get(t.host.name)}

    def do(t: Transport) -> dict[str, Outcome]:
        jids = targets[t.host.name]
        return t.cancel(jids) if action == "cancel" else t.cleanup(jids)

    outcomes: dict[str, str] = {}
    for ans in on_hosts(by_name.values(), do, forks):
        if ans.value is None:
            for jid in targets[ans.host.name]:
                outcomes[jid] = f"error: {ans.error}"
        else:
            outcomes.update(ans.value)
    return outcomes


class DiscoveryPoller:
    """`jobtui watch`'s event source: every `interval` seconds, discover every job on
    the hosts and emit what changed. It holds transports only for reading: the
    status round trip is the only one it ever sends.
    """

    def __init__(
        self,
        transports: list[Transport],
        interval: float = defaults.WATCH_INTERVAL,
        forks: int = defaults.FORKS,
    ):
        self.transports = transports
        self.interval = interval
        self.forks = forks
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def read_output(self, view: RunView, stream: str, offset: int, size: int) -> Chunk | None:
        """The pager's reads (a read-only console: they only read)."""
        t = next((t for t in self.transports if t.host.name == view.host), None)
        return read_view(t, view, stream, offset, size) if t is not None else None

    def run(self, emit: Callable[[Event], None]) -> None:
        seen: dict[str, RunView] = {}
        down: set[str] = set()
        up: set[str] = set()
        emit(BatchStarted("", []))
        workers = max(1, min(self.forks, len(self.transports)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jobtui-watch")
        try:
            while not self._stop.is_set():
                found = discover(self.transports, self.forks, pool)
                for t in self.transports:
                    name = t.host.name
                    if name in found.unreachable and name not in down:
                        down.add(name)
                        up.discard(name)
                        emit(HostChanged(name, False, found.unreachable[name]))
                    elif name not in found.unreachable and name not in up:
                        down.discard(name)
                        up.add(name)
                        emit(HostChanged(name, True))
                now_seen = set()
                for v in found.runs:
                    jid = v.jid or ""
                    view = dataclasses.replace(v, key=RunKey.discovered(jid, v.host))
                    now_seen.add(jid)
                    old = seen.get(jid)
                    if old != view:
                        seen[jid] = view
                        emit(RunChanged(view, old.state if old else view.state))
                for jid, old in list(seen.items()):
                    reachable = old.host not in found.unreachable
                    if jid not in now_seen and reachable and not old.cleaned:
                        seen[jid] = dataclasses.replace(old, cleaned=True)
                        emit(RunChanged(seen[jid], old.state))
                self._stop.wait(self.interval)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            for t in self.transports:
                t.close()
