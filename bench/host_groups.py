"""What the host grid's bookkeeping costs per update, at fleet sizes (no terminal).

    .venv/bin/python bench/host_groups.py [HOSTS ...]

For each fleet size (sample fleets, `jobtui.ui.sample.fleet_runs`: two runs a host,
four groups), prints the time `HostGroups.apply` takes to place every host of the
batch's first event, then for one flush in which 1% of the runs change state (what
the grid, the group summary and its headers read), and the ratio of the two. A
flush costs the hosts that changed, not the fleet: the ratio stays near 1/100.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

from jobtui.events import BatchStarted, Event, RunChanged
from jobtui.model import RunState
from jobtui.ui.board import Board
from jobtui.ui.hostgroups import HostGroups
from jobtui.ui.sample import fleet_runs


def measure(hosts: int) -> tuple[float, float]:
    runs = fleet_runs(hosts)
    board = Board()
    groups = HostGroups(board)
    changes = board.apply([BatchStarted("bench", runs)])
    start = time.perf_counter()
    groups.apply(changes.runs, changes.hosts)
    placed = time.perf_counter() - start
    step = 100  # every hundredth run
    events: list[Event] = [
        RunChanged(replace(v, state=RunState.FAILED), v.state) for v in runs[::step]
    ]
    changes = board.apply(events)
    start = time.perf_counter()
    groups.apply(changes.runs, changes.hosts)
    return placed, time.perf_counter() - start


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [500, 5_000, 50_000]
    print(f"{'hosts':>8} {'place all (ms)':>15} {'1% flush (ms)':>14} {'ratio':>7}")
    for hosts in sizes:
        placed, flush = measure(hosts)
        print(f"{hosts:>8} {placed * 1e3:>15.2f} {flush * 1e3:>14.2f} {flush / placed:>7.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
