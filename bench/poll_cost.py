"""poll_cost: the console's CPU per host per poll cycle, and SSH sessions per cycle.

HOSTS hosts (default 50) of the loopback sshd fleet (tests/sshfleet.py), with 1 and
then with 20 running jobs per host (``sleep 120``, ``poll: 1``), driven in-process by
``jobtui.engine.Engine`` (``push=True``) over SSH transports from
``jobtui.transport.make_transport``. Once every run is running, plus a settle time,
a steady window of WINDOW seconds (default 30) is measured:

- console CPU: ``getrusage(RUSAGE_SELF)`` user+sys of this process (every thread:
  the engine loop, its host pool, paramiko's reader threads, the push thread) over
  the window;
- cycles: status round trips, counted by wrapping each transport's ``status``;
  CPU per host per cycle = console CPU / status round trips in the window;
- sessions: ``Transport.sessions_opened`` summed over the hosts, before and after the
  window (new shells or channels opened during the window: should be 0; the push
  watcher's channel is opened once per host by ``open_watch`` and is not counted by
  ``sessions_opened``, so the paramiko channel ids are counted too);
- host CPU: CPU of the sshd side (connections, session shells) over the window.

Then every run is cancelled through the engine, the engine stopped, the transports
closed and the fleet stopped; any job still alive is killed by its process group.

    .venv/bin/python bench/poll_cost.py             # 50 hosts, 30 s windows
    .venv/bin/python bench/poll_cost.py --quick     # 10 hosts, 10 s windows

Targets (issue 20; issue 5 had 2 ms and 1.5x): under 1 ms of console CPU per host per
cycle, and 20 jobs per host cost at most 1.2x one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import SystemCpu, fleet_cpu, header, sshfleet

from jobtui.config import load_inventory
from jobtui.engine import Engine
from jobtui.events import Event, RunChanged
from jobtui.model import JobSpec, RunSpec, RunState
from jobtui.transport import Transport, make_transport

TARGET_MS = 1.0
"""Issue 20 (issue 5: 2 ms)."""
TARGET_RATIO = 1.2
"""Issue 20 (issue 5: 1.5x)."""


@dataclass
class Window:
    per_host: int
    hosts: int
    seconds: float
    cpu: float
    round_trips: int
    new_sessions: int
    new_channels: int
    host_cpu: float
    busy: float
    load: float
    launch_s: float

    @property
    def ms_per_host_cycle(self) -> float:
        return 1000.0 * self.cpu / self.round_trips if self.round_trips else float("nan")

    @property
    def cycles_per_host(self) -> float:
        return self.round_trips / self.hosts


def self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def channels_opened(transports: dict[str, Transport]) -> int:
    """Channels paramiko opened so far on every connection (its next channel id)."""
    total = 0
    for t in transports.values():
        client = getattr(t, "_client", None)
        pt = client.get_transport() if client is not None else None
        total += int(getattr(pt, "_channel_counter", 0)) if pt is not None else 0
    return total


def kill_leftovers(work: Path) -> int:
    """Kill every process (and its process group) whose command line names ``work``,
    and their children: supervisors and jobs that a failed cancel left behind."""
    mine = os.getpgrp()
    marker = str(work).encode()
    parents: dict[int, int] = {}
    hits: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read()
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read().decode("ascii", "replace")
        except OSError:
            continue
        parents[pid] = int(stat[stat.rfind(")") + 2 :].split()[1])
        if marker in cmd and pid != os.getpid():
            hits.add(pid)
    victims = set(hits) | {p for p, pp in parents.items() if pp in hits}
    killed = 0
    for pid in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            pgid = os.getpgid(pid)
            if pgid != mine and pgid == pid:
                os.killpg(pgid, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed


def measure(
    fleet: sshfleet.SshFleet,
    work: Path,
    per_host: int,
    window: float,
    settle: float,
) -> Window:
    tag = f"j{per_host}"
    inventory = fleet.write_inventory(work / f"inv-{tag}.yml", jobtui_root=work / f"jt-{tag}")
    inv = load_inventory(str(inventory))
    job = JobSpec(name="cost", hosts="all", shell="sleep 120", poll=1.0, timeout=300)
    runs = [
        RunSpec(job, host, i, i, "sleep 120")
        for host in inv.hosts.values()
        for i in range(per_host)
    ]
    transports: dict[str, Transport] = {h.name: make_transport(h) for h in inv.hosts.values()}
    trips = [0]
    trips_lock = threading.Lock()

    def counting(inner: Callable[..., Any]) -> Callable[..., Any]:
        def status(*a: Any, **kw: Any) -> Any:
            with trips_lock:
                trips[0] += 1
            return inner(*a, **kw)

        return status

    for t in transports.values():
        t.status = counting(t.status)

    running: set[tuple[str, str, int]] = set()
    ended: set[tuple[str, str, int]] = set()
    all_running = threading.Event()
    all_ended = threading.Event()

    def on_event(e: Event) -> None:
        if not isinstance(e, RunChanged):
            return
        if e.run.state is RunState.RUNNING:
            running.add(e.run.key)
            if len(running) == len(runs):
                all_running.set()
        if e.run.state.finished or e.run.state is RunState.UNREACHABLE:
            ended.add(e.run.key)
            if len(ended) == len(runs):
                all_ended.set()

    engine = Engine(
        runs, transports, batch=f"cost-{tag}", forks=len(runs), on_event=on_event, push=True
    )
    thread = threading.Thread(target=engine.run, name="bench-engine", daemon=True)
    t0 = time.perf_counter()
    thread.start()
    try:
        if not all_running.wait(180):
            raise SystemExit(f"{per_host} jobs/host: only {len(running)}/{len(runs)} running")
        launch_s = time.perf_counter() - t0
        time.sleep(settle)  # let the push watchers open and the polls settle
        load = float(Path("/proc/loadavg").read_text().split()[0])
        sessions0 = sum(t.sessions_opened for t in transports.values())
        channels0 = channels_opened(transports)
        host0 = fleet_cpu(fleet)
        system = SystemCpu()
        with trips_lock:
            trips0 = trips[0]
        cpu0, w0 = self_cpu(), time.perf_counter()
        time.sleep(window)
        cpu1, w1 = self_cpu(), time.perf_counter()
        with trips_lock:
            trips1 = trips[0]
        busy = system.busy()
        host_cpu = fleet_cpu(fleet) - host0
        sessions1 = sum(t.sessions_opened for t in transports.values())
        channels1 = channels_opened(transports)
        result = Window(
            per_host=per_host,
            hosts=len(transports),
            seconds=w1 - w0,
            cpu=cpu1 - cpu0,
            round_trips=trips1 - trips0,
            new_sessions=sessions1 - sessions0,
            new_channels=channels1 - channels0,
            host_cpu=host_cpu,
            busy=busy,
            load=load,
            launch_s=launch_s,
        )
        engine.request("cancel", [r.key for r in runs])
        if not all_ended.wait(60):
            print(f"cancel: {len(ended)}/{len(runs)} runs ended in 60s", file=sys.stderr)
    finally:
        engine.stop()
        thread.join(30)
        for t in transports.values():
            t.close()
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 20], help="jobs per host")
    ap.add_argument("--window", type=float, default=30.0, help="steady window, seconds")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds before the window")
    ap.add_argument("--quick", action="store_true", help="10 hosts, 10 s windows")
    args = ap.parse_args()
    if args.quick:
        args.hosts, args.window = 10, 10.0
    if not 1 <= args.hosts <= 253:
        ap.error("--hosts must be between 1 and 253")

    header_line = header()
    rows: list[Window] = []
    with tempfile.TemporaryDirectory(prefix="jobtui-bench-") as tmp:
        work = Path(tmp)
        try:
            with sshfleet.SshFleet(work / "fleet") as fleet:
                t0 = time.perf_counter()
                fleet.start(args.hosts)
                print(
                    f"fleet: {args.hosts} sshd up in {time.perf_counter() - t0:.1f}s",
                    file=sys.stderr,
                )
                for per_host in args.jobs:
                    w = measure(fleet, work, per_host, args.window, args.settle)
                    rows.append(w)
                    print(
                        f"{per_host} jobs/host: {w.ms_per_host_cycle:.2f} ms/host/cycle, "
                        f"{w.cycles_per_host:.1f} cycles/host",
                        file=sys.stderr,
                    )
        finally:
            killed = kill_leftovers(work)
            if killed:
                print(f"killed {killed} leftover job processes", file=sys.stderr)

    print()
    print(header_line)
    print(
        f"poll_cost: {args.hosts} hosts, `sleep 120` jobs, poll 1, push on, "
        f"{args.window:g}s steady window"
    )
    print(
        f"{'jobs/host':>9} {'window s':>8} {'round trips':>11} {'cycles/host':>11} "
        f"{'CPU s':>6} {'ms/host/cycle':>13} {'new sessions':>12} {'new channels':>12} "
        f"{'host CPU s':>10} {'box busy':>8} {'load':>5} {'launch s':>8}  target"
    )
    for w in rows:
        verdict = "met" if w.ms_per_host_cycle < TARGET_MS else "MISSED"
        print(
            f"{w.per_host:>9} {w.seconds:>8.1f} {w.round_trips:>11} {w.cycles_per_host:>11.1f} "
            f"{w.cpu:>6.2f} {w.ms_per_host_cycle:>13.3f} {w.new_sessions:>12} "
            f"{w.new_channels:>12} {w.host_cpu:>10.2f} {w.busy:>7.0f}% {w.load:>5.1f} "
            f"{w.launch_s:>8.1f}  <{TARGET_MS:g} ms {verdict}"
        )
    base = next((w for w in rows if w.per_host == 1), None)
    for w in rows:
        if base is not None and w is not base and base.ms_per_host_cycle > 0:
            ratio = w.ms_per_host_cycle / base.ms_per_host_cycle
            verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
            print(
                f"{w.per_host} jobs/host cost {ratio:.2f}x one job per host "
                f"(target <= {TARGET_RATIO:g}x: {verdict})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
