"""flow_turns: what runs held back by a limit cost the engine's loop while they wait.

On this machine's shell (``LocalTransport``: the same wrapper and supervisor as over
SSH): HOSTS hosts, each with ITEMS runs of ``sleep 1``, under ``throttle: 1`` (most
runs wait, and most hosts have nothing followed). Prints the engine's loop turns
(calls of ``_due_tasks``), the process CPU time and the wall time. A host whose runs
all wait used to wake the loop every 5 ms (its launch was "due" at once); now a place
that frees wakes it (a round trip comes back).

    .venv/bin/python bench/flow_turns.py [--hosts 4] [--items 2]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from _common import header

from jobtui.engine import Engine
from jobtui.model import Host, JobSpec, RunSpec, RunState
from jobtui.transport.local import LocalTransport


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--items", type=int, default=2)
    args = parser.parse_args()
    print(header())
    with tempfile.TemporaryDirectory() as tmp:
        hosts = [
            Host(f"h{i}", "localhost", connection="local", jobtui_dir=str(Path(tmp) / f"h{i}"))
            for i in range(args.hosts)
        ]
        job = JobSpec(name="f", hosts="all", shell="sleep 1", poll=0.5, throttle=1)
        specs = [RunSpec(job, h, i, i, "sleep 1") for h in hosts for i in range(args.items)]
        transports = {h.name: LocalTransport(h) for h in hosts}
        engine = Engine(specs, transports, batch="bench")
        turns = 0
        due = engine._due_tasks

        def counted(now: float) -> object:
            nonlocal turns
            turns += 1
            return due(now)

        engine._due_tasks = counted  # type: ignore[method-assign,assignment]
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.monotonic()
        result = engine.run()
        wall = time.monotonic() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        for t in transports.values():
            t.close()
    if {v.state for v in result.runs} != {RunState.SUCCEEDED}:
        raise SystemExit("the batch went wrong")
    cpu = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
    runs = len(specs)
    print(f"{runs} runs on {args.hosts} hosts, throttle 1: {turns} loop turns")
    print(f"  {turns / wall:.1f} turns/s, cpu {cpu:.2f} s over {wall:.1f} s wall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
