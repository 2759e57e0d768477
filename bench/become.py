"""become: what a poll costs through the sudo'd shell, against the login user's shell.

HOSTS hosts (default 20) of the loopback sshd fleet (tests/sshfleet.py), logged in as
the become tests' NOPASSWD user (tests/becomeusers.py: real users, real sudo; root
only). Each host gets RUNS running jobs (``sleep 120``) as the login user and RUNS as
root (`become`), launched through ``HostTransport`` (transport/become.py). Then
CYCLES status round trips per host for each user's runs, all hosts in parallel (as
the engine polls them), measuring:

- wall time per cycle (all hosts answered), and the console's CPU
  (``getrusage(RUSAGE_SELF)``) per host per cycle;
- sudo invocations during the cycles, from sudo's log (should be 0: the root shell
  was started once, at the launch).

Then every run is cancelled and cleaned up, the transports closed, the fleet
stopped, the users released.

    .venv/bin/python bench/become.py                # 20 hosts, 20 runs each, 20 cycles
    .venv/bin/python bench/become.py --hosts 5 --cycles 10

Target (issue 14): polling through the become shell costs what polling costs
today: a ratio of about 1.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import REPO, header, sshfleet

sys.path.insert(0, str(REPO))
from jobtui.config import load_inventory
from jobtui.model import Become, new_jid
from jobtui.remote.protocol import LaunchRequest
from jobtui.transport import make_transport
from jobtui.transport.become import HostTransport
from tests import becomeusers


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(
    pool: ThreadPoolExecutor, ts: list[HostTransport], jids: dict[str, list[str]], cycles: int
) -> tuple[float, float]:
    """Seconds per cycle and console CPU ms per host per cycle."""
    start_wall, start_cpu = time.perf_counter(), cpu()
    for _ in range(cycles):
        list(pool.map(lambda t: t.status(jids[t.host.name]), ts))
    wall = (time.perf_counter() - start_wall) / cycles
    return wall, 1000.0 * (cpu() - start_cpu) / (cycles * len(ts))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", type=int, default=20)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--cycles", type=int, default=20)
    a = p.parse_args()
    users = becomeusers.acquire()
    try:
        with tempfile.TemporaryDirectory(prefix="jobtui-bench-become-", dir="/tmp") as tmp:
            Path(tmp).chmod(0o711)
            return run(Path(tmp), users.nopass.name, a.hosts, a.runs, a.cycles)
    finally:
        becomeusers.release()


def run(work: Path, login: str, hosts: int, runs: int, cycles: int) -> int:
    fleet = sshfleet.SshFleet(work / "fleet", user=login)
    fleet.start(hosts)
    mine_dir = f"~/.jobtui-bench-{work.name}"
    inv = fleet.write_inventory(
        work / "inv.yml", host_vars={h.name: {"jobtui_dir": mine_dir} for h in fleet.hosts}
    )
    inventory = load_inventory(str(inv))
    ts = [
        HostTransport(make_transport(h), [Become()], password=None)
        for h in inventory.hosts.values()
    ]
    root = Become()
    mine: dict[str, list[str]] = {}
    theirs: dict[str, list[str]] = {}
    pool = ThreadPoolExecutor(max_workers=hosts)
    try:
        since = becomeusers.sudo_log_offset()

        def launch(t: HostTransport) -> None:
            a = [LaunchRequest(new_jid(), "sleep 120", 300, {"job": "b"}) for _ in range(runs)]
            b = [
                LaunchRequest(new_jid(), "sleep 120", 300, {"job": "b"}, become=root)
                for _ in range(runs)
            ]
            t.launch(a + b)
            mine[t.host.name] = [r.jid for r in a]
            theirs[t.host.name] = [r.jid for r in b]

        list(pool.map(launch, ts))
        launched = becomeusers.sudo_invocations(login, since)
        measure(pool, ts, mine, 2)  # warm both shells up
        measure(pool, ts, theirs, 2)
        since = becomeusers.sudo_log_offset()
        login_wall, login_ms = measure(pool, ts, mine, cycles)
        become_wall, become_ms = measure(pool, ts, theirs, cycles)
        during = becomeusers.sudo_invocations(login, since)
        print(header())
        print(f"become: {hosts} hosts x {runs} runs per user, {cycles} cycles")
        print(f"sudo at launch: {launched} ({hosts} hosts); during the cycles: {during}")
        print(f"login shell : {login_wall * 1000:7.1f} ms/cycle  {login_ms:5.2f} ms CPU/host/cycle")
        print(
            f"become shell: {become_wall * 1000:7.1f} ms/cycle  {become_ms:5.2f} ms CPU/host/cycle"
        )
        wall_ratio, cpu_ratio = become_wall / login_wall, become_ms / login_ms
        print(f"ratio become/login: wall {wall_ratio:.2f}, CPU {cpu_ratio:.2f}")
        return 0 if during == 0 else 1
    finally:
        for t in ts:
            every = mine.get(t.host.name, []) + theirs.get(t.host.name, [])
            if every:
                t.cancel(every, grace=1)
                t.cleanup(every)
            t.close()
        pool.shutdown()
        fleet.stop_all()
        for h in (Path("/home") / login, Path("/root")):
            for d in h.glob(f".jobtui-bench-{work.name}"):
                shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
