"""ansible_status: what Ansible's async jobs add to a discovery round trip (`status`).

The wrapper's long-lived ``sh -s`` on this machine (``LocalTransport``) answers
ROUNDS ``status(None)`` round trips (every jobtui run and every Ansible job) in four
cases: no async dir; an async dir of F finished result files (real format); the same
plus R running jobs launched by real ``ansible localhost -B 600 -P 0`` (async_wrapper
processes in /proc, so the /proc look happens). Wall time per round trip, and the
host's CPU (the shell and what it starts: utime+stime+cutime+cstime).

    .venv/bin/python bench/ansible_status.py
    .venv/bin/python bench/ansible_status.py --finished 50 --running 5 --rounds 50
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import header, process_cpu

from jobtui.model import Host, RunState
from jobtui.transport.local import LocalTransport

ANSIBLE = Path(sys.executable).parent / "ansible"


def measure(tmp: Path, adir: Path, rounds: int) -> tuple[float, float, int]:
    host = Host(
        name="l",
        address="l",
        connection="local",
        jobtui_dir=str(tmp / "jobtui"),
        ansible_async_dir=str(adir),
    )
    with LocalTransport(host) as t:
        found = len(t.status(None).runs)
        session = t._session
        assert session is not None
        pid = session.proc.pid  # type: ignore[attr-defined]
        cpu0, wall0 = process_cpu(pid), time.perf_counter()
        for _ in range(rounds):
            t.status(None)
        wall = (time.perf_counter() - wall0) / rounds
        return wall, (process_cpu(pid) - cpu0) / rounds, found


def launch(tmp: Path, adir: Path) -> str:
    env = {
        **os.environ,
        "ANSIBLE_HOME": str(tmp / "ahome"),
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    }
    out = subprocess.run(
        [
            str(ANSIBLE),
            "localhost",
            "-m",
            "shell",
            "-a",
            "sleep 300",
            "-B",
            "600",
            "-P",
            "0",
            "-e",
            # Its module's temporary dir in the bench's tmp too, not the real home.
            json.dumps({"ansible_async_dir": str(adir), "ansible_remote_tmp": str(tmp / "rtmp")}),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    m = re.search(r'"ansible_job_id": "([^"]+)"', out.stdout)
    assert m, out.stdout
    return m.group(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finished", type=int, default=20)
    parser.add_argument("--running", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jobtui-ansible-status-") as name:
        tmp = Path(name)
        adir = tmp / "async"
        rows = [("no async dir", measure(tmp, adir, args.rounds))]
        adir.mkdir()
        rows.append(("empty async dir", measure(tmp, adir, args.rounds)))
        result = {"rc": 0, "stdout": "x" * 2000, "stderr": "", "cmd": "true", "delta": "0:00:01"}
        for i in range(args.finished):
            (adir / f"j{100000000000 + i}.{i + 1}").write_text(json.dumps(result))
        rows.append((f"{args.finished} finished", measure(tmp, adir, args.rounds)))
        jids = [launch(tmp, adir) for _ in range(args.running)]
        rows.append(
            (f"{args.finished} finished + {args.running} running", measure(tmp, adir, args.rounds))
        )
        with LocalTransport(
            Host(name="l", address="l", connection="local", ansible_async_dir=str(adir))
        ) as t:
            runs = t.status(jids).runs
            assert all(runs[j].state is RunState.RUNNING for j in jids)
            t.cancel(jids, grace=1)
    print(header())
    print(f"ansible_status: one discovery round trip ({args.rounds} rounds, local shell)")
    for label, (wall, cpu, found) in rows:
        print(
            f"  {label:>28}: {wall * 1000:7.2f} ms wall,"
            f" {cpu * 1000:7.2f} ms host CPU ({found} jobs)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
