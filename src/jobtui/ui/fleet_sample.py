"""A deterministic batch over a fleet of N hosts (`node001`…), for the tests, the
screenshots and bench/ui_load.py at fleet scale (500 hosts x 4 items); the small
hand-written sample stays in `jobtui.ui.sample`.

Every time is relative to `SAMPLE_NOW` (give the app `clock=lambda: SAMPLE_NOW`). By
default the runs are mostly running at varied progress, some succeeded, some
pending, and a few in trouble spread over the fleet (`DEFAULT_TROUBLE`); a test that
needs one failing host in the middle of the fleet names it (`trouble=`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from jobtui.events import BatchStarted, Event, HostChanged, RunView
from jobtui.model import RunKey, RunState
from jobtui.ui.sample import SAMPLE_BATCH, SAMPLE_NOW

ITEMS = ("users_db", "orders_db", "analytics_db", "audit_db", "events_db", "search_db")
"""The loop items of the fleet's `backup` job (the first `items` of them)."""
JOB = "backup"
UNREACHABLE_REASON = "connection refused (port 22)"
GROUPS = ("dbservers", "webservers", "appservers", "cache")
"""The inventory groups the fleet's hosts sit under, a quarter of the fleet each."""


def host_name(n: int) -> str:
    """The fleet's n-th host (from 0): `node001`."""
    return f"node{n + 1:03d}"


def _spread(hosts: int, items: int) -> dict[int, RunState]:
    """A few runs in trouble spread over the fleet, by run number (host × items + item)."""
    runs = hosts * items
    picks = {
        runs // 3: RunState.FAILED,
        runs // 2 + 1: RunState.TIMED_OUT,
        (2 * runs) // 3 + 2: RunState.LOST,
        (5 * runs) // 6 + 3: RunState.FAILED,
    }
    return {n: state for n, state in picks.items() if n < runs}


def fleet_runs(
    hosts: int,
    items: int = 4,
    *,
    trouble: Mapping[int, RunState] | None = None,
    unreachable: Iterable[int] = (),
    now: float = SAMPLE_NOW,
) -> list[RunView]:
    """`hosts` × `items` runs of the `backup` job.

    Args:
        hosts: How many hosts (`host_name(0)`…).
        items: Runs per host (at most `len(ITEMS)`).
        trouble: The state of chosen runs, by run number (`host × items + item`):
            failed, timed out or lost; None: a few spread over the fleet.
        unreachable: Hosts (by number) that cannot be reached: their runs are unreachable.
        now: The time the runs are read at.
    """
    if not 0 < items <= len(ITEMS):
        raise ValueError(f"items must be 1 to {len(ITEMS)}, not {items}")
    chosen = _spread(hosts, items) if trouble is None else dict(trouble)
    down = set(unreachable)
    runs: list[RunView] = []
    for h in range(hosts):
        host = host_name(h)
        for i in range(items):
            n = h * items + i
            item = ITEMS[i]
            state = RunState.UNREACHABLE if h in down else chosen.get(n, _plain_state(n))
            group = GROUPS[h * len(GROUPS) // hosts]
            runs.append(_view(host, i, item, n, state, now, group))
    return runs


def _plain_state(n: int) -> RunState:
    """Most runs run; one in five has succeeded, one in seven waits."""
    if n % 5 == 0:
        return RunState.SUCCEEDED
    if n % 7 == 3:
        return RunState.PENDING
    return RunState.RUNNING


def _view(
    host: str, index: int, item: str, n: int, state: RunState, now: float, group: str
) -> RunView:
    started = None if state is RunState.PENDING else now - 600.0 - (n * 37) % 900
    fields: dict[str, object] = {}
    if state is RunState.RUNNING:
        fields.update(progress=float((n * 53) % 97 + 1), message=f"dumping {item}")
    elif state is RunState.SUCCEEDED:
        fields.update(progress=100.0, rc=0, finished=now - (n * 11) % 500)
    elif state is RunState.FAILED:
        fields.update(rc=2, finished=now - 30.0, stderr_tail=f"pg_dump: {item}: disk full\n")
    elif state is RunState.TIMED_OUT:
        fields.update(rc=143, finished=now - 20.0, progress=40.0)
    elif state is RunState.UNREACHABLE:
        fields.update(reason=UNREACHABLE_REASON, progress=10.0)
    return RunView(
        key=RunKey(JOB, host, index),
        job=JOB,
        host=host,
        item=item,
        jid=None if state is RunState.PENDING else f"J{n:010d}xYzQ",
        state=state,
        attempt=1,
        started=started,
        timeout=3600,
        command=f"pg_dump {item} > /backup/{item}.sql",
        group=group,
        **fields,  # type: ignore[arg-type]
    )


def fleet_events(
    hosts: int,
    items: int = 4,
    *,
    trouble: Mapping[int, RunState] | None = None,
    unreachable: Iterable[int] = (),
    now: float = SAMPLE_NOW,
) -> list[Event]:
    """BatchStarted with `fleet_runs`, and every host's reachability."""
    down = set(unreachable)
    runs = fleet_runs(hosts, items, trouble=trouble, unreachable=down, now=now)
    events: list[Event] = [BatchStarted(SAMPLE_BATCH, runs)]
    for h in range(hosts):
        if h in down:
            events.append(HostChanged(host_name(h), False, UNREACHABLE_REASON))
        else:
            events.append(HostChanged(host_name(h), True))
    return events
