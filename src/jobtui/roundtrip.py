"""One host's round trip: what the engine's loop asks of a host (`Task`), done on a
worker thread with I/O only (`round_trip`), and what came back (`Result`), applied
by the loop. In order: launches, cancels, the status of the polled runs (and of the
runs just launched), the copies of ended runs' outputs (`fetch:`), then the cleanups,
which only a successful copy lets go.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from jobtui import fetch
from jobtui.model import Outcome
from jobtui.remote.parse import HostStatus, LaunchOutcome, LaunchResult
from jobtui.remote.protocol import LaunchRequest
from jobtui.runs import Run
from jobtui.transport.base import Transport, TransportError


@dataclass
class Task:
    """One round trip's worth of work for a host, in the order it is done."""

    launch: list[Run] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)
    poll: list[str] = field(default_factory=list)
    full: set[str] = field(default_factory=set)
    """Polled jids whose output tails are wanted too."""
    fetch: list[fetch.Want] = field(default_factory=list)
    """Ended runs' outputs to copy (`fetch:`), each then cleaned up if it asks to be."""
    cleanup: list[str] = field(default_factory=list)


@dataclass
class Result:
    host: str
    launched: dict[str, LaunchResult] | None = None
    status: HostStatus | None = None
    polled: list[str] = field(default_factory=list)
    cleaned: dict[str, Outcome] = field(default_factory=dict)
    fetching: list[fetch.Want] = field(default_factory=list)
    fetched: dict[str, str] = field(default_factory=dict)
    """jid -> "" (copied) or why its copy failed."""
    error: str = ""
    maybe_delivered: bool = False
    """The failed request may have reached the host before the failure."""


def round_trip(
    t: Transport, name: str, task: Task, request: Callable[[Run], LaunchRequest], grace: int
) -> Result:
    """Do `task` on the host of `t`; a transport failure ends it, and what was done
    before it stands (`Result.error`)."""
    res = Result(name, fetching=task.fetch)
    poll = list(task.poll)
    try:
        if task.launch:
            res.launched = t.launch([request(r) for r in task.launch])
            poll += [
                r.jid
                for r in task.launch
                if r.follow and res.launched[r.jid].outcome is not LaunchOutcome.ERROR
            ]
        if task.cancel:
            t.cancel(task.cancel, grace)
        if poll:
            res.status = t.status(poll, task.full | {r.jid for r in task.launch})
            res.polled = poll
        cleanup = list(task.cleanup)
        for want in task.fetch:  # before any cleanup, which only a copy lets go
            res.fetched[want.jid] = fetch.copy(t, want)
            if want.cleanup and not res.fetched[want.jid]:
                cleanup.append(want.jid)
        if cleanup:
            res.cleaned = t.cleanup(cleanup)
    except TransportError as e:
        res.error = str(e)
        res.maybe_delivered = e.maybe_delivered
    return res
