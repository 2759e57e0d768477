"""host_status: the host's CPU for one status round trip, by number of running runs.

The hosts' side of a poll cycle, measured apart from SSH: the wrapper's long-lived
``sh -s`` on this machine (``LocalTransport``, the same wrapper as over SSH) with N
runs of ``sleep`` started by it, then ROUNDS status round trips asking for all N.
Host CPU = utime+stime+cutime+cstime of that shell (``/proc/PID/stat``: the shell and
the subshell each answer runs in) over the round trips, divided by ROUNDS.

    .venv/bin/python bench/host_status.py                # 1 and 20 runs, 200 rounds
    .venv/bin/python bench/host_status.py --runs 1 20 100 --rounds 100
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from _common import header, process_cpu

from jobtui.model import Host, new_jid
from jobtui.remote.protocol import LaunchRequest
from jobtui.transport.local import LocalTransport


def measure(runs: int, rounds: int) -> float:
    with tempfile.TemporaryDirectory(prefix="jobtui-host-status-") as tmp:
        host = Host(name="l", address="l", connection="local", jobtui_dir=f"{tmp}/jobtui")
        t = LocalTransport(host)
        reqs = [LaunchRequest(new_jid(), "sleep 300", 600, {"job": "bench"}) for _ in range(runs)]
        jids = [r.jid for r in reqs]
        try:
            t.launch(reqs)
            deadline = time.monotonic() + 30
            while any(st.pid is None for st in t.status(jids).runs.values()):
                if time.monotonic() > deadline:
                    raise SystemExit("the runs did not start within 30 s")
                time.sleep(0.1)
            session = t._session  # the shell that answers (for its CPU counters)
            assert session is not None
            pid = session.proc.pid  # type: ignore[attr-defined]
            cpu0 = process_cpu(pid)
            for _ in range(rounds):
                t.status(jids)
            return (process_cpu(pid) - cpu0) / rounds
        finally:
            t.cancel(jids)
            t.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    results = [(n, measure(n, args.rounds)) for n in args.runs]
    print(header())
    print(f"host_status: host CPU per status round trip ({args.rounds} rounds, local shell)")
    base = results[0][1]
    for n, cpu in results:
        ratio = f"  ({cpu / base:.2f}x {results[0][0]} run)" if base else ""
        print(f"  {n:>4} running runs: {cpu * 1000:6.2f} ms{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
