"""stop_latency: how long a cancel takes, and how late a time limit is seen.

On this machine's shell (``LocalTransport``: the same wrapper and supervisor as over
SSH), for two kinds of job: one that ``exec``s its command (nothing is left behind
when it is killed) and one that runs it as a child (the child is orphaned when the
job's shell dies, and stays a zombie until init reaps it):

- cancel: the time of the ``cancel`` round trip for 5 running runs (it returns when
  each run's end is recorded), ROUNDS times;
- time limit: a run with ``timeout: 2``; the time from its launch to the first status
  that shows it ended (polled every 20 ms).

    .venv/bin/python bench/stop_latency.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

from _common import header

from jobtui.model import Host, RunState, new_jid
from jobtui.remote.protocol import LaunchRequest
from jobtui.transport.local import LocalTransport

JOBS = {"exec": "exec sleep 100", "child": "sleep 100; true"}


def cancel_time(t: LocalTransport, script: str) -> float:
    reqs = [LaunchRequest(new_jid(), script, 300, {"job": "bench"}) for _ in range(5)]
    jids = [r.jid for r in reqs]
    t.launch(reqs)
    while any(st.pid is None for st in t.status(jids).runs.values()):
        time.sleep(0.02)
    t0 = time.monotonic()
    outcome = t.cancel(jids)
    took = time.monotonic() - t0
    states = {st.state for st in t.status(jids).runs.values()}
    if set(outcome.values()) != {"ok"} or states != {RunState.CANCELLED}:
        raise SystemExit(f"cancel went wrong: {outcome} {states}")
    return took


def limit_time(t: LocalTransport, script: str) -> float:
    r = LaunchRequest(new_jid(), script, 2, {"job": "bench"})
    t0 = time.monotonic()
    t.launch([r])
    while not t.status([r.jid]).runs[r.jid].state.finished:
        time.sleep(0.02)
    return time.monotonic() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="jobtui-stop-") as tmp:
        t = LocalTransport(Host(name="l", address="l", connection="local", jobtui_dir=tmp))
        try:
            for kind, script in JOBS.items():
                cancels = [cancel_time(t, script) for _ in range(args.rounds)]
                limits = [limit_time(t, script) for _ in range(args.rounds)]
                rows.append((kind, cancels, limits))
        finally:
            t.close()
    print(header())
    print(f"stop_latency: local shell, {args.rounds} rounds each (median, max)")
    for kind, cancels, limits in rows:
        print(
            f"  job {kind:<5}  cancel of 5 runs: {statistics.median(cancels):.2f} s "
            f"(max {max(cancels):.2f});  `timeout: 2` seen ended after "
            f"{statistics.median(limits):.2f} s (max {max(limits):.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
