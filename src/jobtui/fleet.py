"""One-shot operations across an inventory's hosts, in parallel: discover every job
in the hosts' job directories (`status`, `watch`), cancel, clean up.

Whatever batch or console launched a job, the host's job directory is the truth:
these functions read it, and change it only when asked to (cancel, cleanup).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from jobtui.events import RunView
from jobtui.model import Host, RemoteStatus, RunState
from jobtui.remote.protocol import run_progress
from jobtui.transport import Transport, TransportError, make_transport

T = TypeVar("T")


@dataclass
class HostAnswer(Generic[T]):
    host: Host
    value: T | None = None
    error: str = ""


def on_hosts(
    transports: Iterable[Transport], fn: Callable[[Transport], T], forks: int = 50
) -> list[HostAnswer[T]]:
    """Call `fn` for every host's transport, at most `forks` at once; failures are kept."""
    ts = list(transports)

    def one(t: Transport) -> HostAnswer[T]:
        try:
            return HostAnswer(t.host, fn(t))
        except TransportError as e:
            return HostAnswer(t.host, error=str(e))

    if not ts:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(ts)))) as pool:
        return list(pool.map(one, ts))


def transports_for(hosts: Iterable[Host], accept_new_host_keys: bool = False) -> list[Transport]:
    return [make_transport(h, accept_new_host_keys=accept_new_host_keys) for h in hosts]


def view_of(host: Host, st: RemoteStatus, now: float) -> RunView:
    """A discovered run as the reporters and the console show it."""
    meta = st.meta
    p = run_progress(
        st, meta.get("progress_re") if isinstance(meta.get("progress_re"), str) else None
    )
    timeout = meta.get("timeout")
    attempt = meta.get("attempt")
    return RunView(
        key=(str(meta.get("job", "?")), host.name, int(meta.get("index", 0) or 0)),
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
        now=now,
    )


@dataclass
class Discovery:
    runs: list[RunView]
    unreachable: dict[str, str]
    """Host name -> why it could not be read."""


def discover(transports: list[Transport], forks: int = 50) -> Discovery:
    """Every job on every host, in one round trip per host. Writes nothing."""
    runs: list[RunView] = []
    unreachable: dict[str, str] = {}
    for ans in on_hosts(transports, lambda t: t.status(None), forks):
        if ans.value is None:
            unreachable[ans.host.name] = ans.error
            continue
        now = ans.value.hello.now or time.time()
        runs.extend(view_of(ans.host, st, now) for st in ans.value.runs.values())
    runs.sort(key=lambda v: (v.started or 0, v.host, v.job, v.item))
    return Discovery(runs, unreachable)


def act(
    transports: list[Transport],
    targets: dict[str, list[str]],
    action: str,
    forks: int = 50,
) -> dict[str, str]:
    """Cancel or clean up the given jids per host. Returns jid -> outcome (or `error: ...`)."""
    by_name = {t.host.name: t for t in transports if targets.get(t.host.name)}

    def do(t: Transport) -> dict[str, str]:
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
