"""The engine over real sshd hosts: one shell per host for every round trip, and
push (an end is seen long before the next poll)."""

from __future__ import annotations

import time
from pathlib import Path

from jobtui.config import load_inventory
from jobtui.engine import Engine
from jobtui.events import Event, RunChanged
from jobtui.model import JobSpec, RunSpec, RunState
from jobtui.transport import make_transport


def specs(inventory_path: Path, script: str, poll: float, per_host: int = 1) -> list[RunSpec]:
    inv = load_inventory(str(inventory_path))
    job = JobSpec(name="j", hosts="all", shell=script, poll=poll, timeout=60)
    return [
        RunSpec(job, host, i, i, script) for host in inv.hosts.values() for i in range(per_host)
    ]


def test_every_round_trip_to_a_host_reuses_one_remote_shell(fleet_inventory: Path) -> None:
    runs = specs(fleet_inventory, "sleep 2", poll=0.2, per_host=3)
    transports = {r.host.name: make_transport(r.host) for r in runs}
    events: list[Event] = []
    engine = Engine(runs, transports, batch="b", on_event=events.append)
    result = engine.run()
    assert {v.state for v in result.runs} == {RunState.SUCCEEDED}
    polls = sum(1 for e in events if isinstance(e, RunChanged))
    assert polls >= 6
    # ~10 poll cycles per host, each one round trip: all in the same shell.
    assert {name: t.sessions_opened for name, t in transports.items()} == {
        "host1": 1,
        "host2": 1,
        "host3": 1,
    }
    for t in transports.values():
        t.close()


def test_push_sees_an_end_long_before_the_next_poll(fleet_inventory: Path) -> None:
    runs = specs(fleet_inventory, "sleep 1", poll=60)
    transports = {r.host.name: make_transport(r.host) for r in runs}
    engine = Engine(runs, transports, batch="b", push=True)
    t0 = time.monotonic()
    result = engine.run()
    # Without push the end would be seen at the next poll, 60 s after launch.
    assert time.monotonic() - t0 < 30
    assert {v.state for v in result.runs} == {RunState.SUCCEEDED}
    for t in transports.values():
        t.close()
