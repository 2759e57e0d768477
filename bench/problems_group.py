"""What grouping the problems costs: `problems.group` over a batch of N runs of which a
fifth failed, with messages that differ in addresses, numbers and paths (30 causes).

    .venv/bin/python bench/problems_group.py [RUNS]

The console's problems view groups the board's runs again at each flush of changes
while it is open (at most a few times a second); the headless summary does it once.
Prints the time of a first grouping (every message masked) and of the next ones (the
masks cached: what the open view pays per flush), per run and per failed run.
"""

from __future__ import annotations

import sys
import time

from jobtui.events import RunView
from jobtui.model import RunKey, RunState
from jobtui.problems import group, mask

CAUSES = [
    "connection refused",
    "timeout expired",
    "no route to host",
    "password authentication failed",
    "server closed the connection unexpectedly",
    "too many connections",
    "database is starting up",
    "SSL SYSCALL error",
    "could not translate host name",
    "permission denied",
]


def batch(n: int) -> list[RunView]:
    runs = []
    for i in range(n):
        failed = i % 5 == 0
        runs.append(
            RunView(
                key=RunKey("backup", f"host{i:05d}", 0),
                job="backup",
                host=f"host{i:05d}",
                item="",
                jid=f"j{i:08x}",
                state=RunState.FAILED if failed else RunState.SUCCEEDED,
                attempt=1,
                rc=1 + i % 3 if failed else 0,
                tail=f"dumped {i} tables to /backup/{i}/x.sql\n",
                stderr_tail=(
                    f"pg_dump: connection to 10.{i % 7}.{i % 251}.{i % 13} port {5432 + i % 3}"
                    f" failed after {i % 60}s: {CAUSES[i // 5 % len(CAUSES)]}\n"
                    if failed
                    else ""
                ),
            )
        )
    return runs


def best(f: object, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    runs = batch(n)
    failed = sum(1 for v in runs if v.state.failed)
    first = best(lambda: (mask.cache_clear(), group(runs)))
    problems = group(runs)
    again = best(lambda: group(runs))
    print(f"{n} runs, {failed} failed, {len(problems)} problems")
    print(f"first grouping (every message masked): {first * 1000:.1f} ms")
    print(
        f"next groupings (masks cached): {again * 1000:.1f} ms, "
        f"{again / n * 1e6:.2f} us per run, {again / failed * 1e6:.2f} us per failed run"
    )
    print(f"first / next: {first / again:.1f}x")


if __name__ == "__main__":
    main()
