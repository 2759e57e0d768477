"""watch_scale: `jobtui watch` at scale, discovery cycles and the console's keys.

HOSTS hosts (default 200) of the loopback sshd fleet, each with JOBS jobs (default
20): half of them jobtui runs (``sleep 600``, launched over SSH), half Ansible async
jobs (finished results in the host's ``ansible_async_dir``, as Ansible's
async_wrapper leaves them: 2 KB of stdout each). Then:

1. discovery, headless: CYCLES rounds of ``fleet.discover`` (what `jobtui watch`
   does every ``--interval``) in this process, each timed: wall, this process's CPU
   (every thread: the pool, paramiko's readers) and the hosts' CPU (the sshd side).
   The first cycle connects (handshakes, shells) and reads every Ansible result; the
   steady figures are the medians of the others;
2. the watch console (``ConsoleApp``, read-only, as ``jobtui watch`` builds it) on a
   real pseudo-terminal, fed by a real ``DiscoveryPoller`` over the same fleet, with
   the `down` key pressed ~50 times while it discovers: ``bench/ui_load.py --watch``.

Afterwards every run is cancelled and cleaned up, the fleet stopped.

    .venv/bin/python bench/watch_scale.py                 # 200 hosts x 20 jobs
    .venv/bin/python bench/watch_scale.py --hosts 20 --cycles 3 --seconds 8

Targets (issue 20): the console stays responsive (key p95 < 100 ms); the cycle's
console CPU and wall are reported, with the hosts' CPU apart.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import REPO, bench_fleet, child_env, fleet_cpu, header, loadavg

from jobtui.cli import load_routed
from jobtui.fleet import discover, keyring_for, transports_for
from jobtui.model import new_jid
from jobtui.remote.protocol import LaunchRequest
from jobtui.transport import Transport

RESULT = {"rc": 0, "stdout": "x" * 2000, "stderr": "", "cmd": "true", "delta": "0:00:01"}


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def seed(t: Transport, runs: int, ansible: int, work: Path) -> list[str]:
    """`runs` jobtui runs and `ansible` finished Ansible jobs on the host."""
    reqs = [LaunchRequest(new_jid(), "sleep 600", 900, {"job": "watched"}) for _ in range(runs)]
    t.launch(reqs)
    adir = Path(t.host.ansible_async_dir or "")
    adir.mkdir(parents=True, exist_ok=True)
    for i in range(ansible):
        (adir / f"j{100000000000 + i}.{1000 + i}").write_text(json.dumps(RESULT))
    return [r.jid for r in reqs]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=20, help="per host: half jobtui, half Ansible")
    ap.add_argument("--cycles", type=int, default=6, help="headless discovery rounds")
    ap.add_argument("--forks", type=int, default=50, help="hosts contacted at once")
    ap.add_argument("--interval", type=float, default=2.0, help="the console's --interval")
    ap.add_argument("--seconds", type=float, default=20.0, help="keys pressed over this long")
    args = ap.parse_args()
    print(header(), flush=True)
    with bench_fleet(args.hosts) as (fleet, work):
        root = work / "hosts"
        inv = fleet.write_inventory(
            work / "inv.yml",
            jobtui_root=root,
            host_vars={
                h.name: {"ansible_async_dir": str(root / h.name / "async")} for h in fleet.hosts
            },
        )
        inventory, _ = load_routed([str(inv)], None)
        hosts = list(inventory.hosts.values())
        ts = transports_for(hosts, False, keyring=keyring_for(hosts))
        runs = args.jobs // 2
        launched: dict[str, list[str]] = {}
        pool = ThreadPoolExecutor(max_workers=args.forks)
        try:
            t0 = time.perf_counter()
            for t, jids in zip(
                ts, pool.map(lambda t: seed(t, runs, args.jobs - runs, work), ts), strict=True
            ):
                launched[t.host.name] = jids
            print(f"seeded in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
            for t in ts:  # discovery's first cycle is the one that connects
                t.close()
            cycles: list[tuple[float, float, float, int, str]] = []
            for _ in range(args.cycles):
                load = loadavg()
                cpu0, host0, w0 = self_cpu(), fleet_cpu(fleet), time.perf_counter()
                found = discover(ts, args.forks)
                wall = time.perf_counter() - w0
                cycles.append(
                    (wall, self_cpu() - cpu0, fleet_cpu(fleet) - host0, len(found.runs), load)
                )
                if found.unreachable:
                    print(f"unreachable: {len(found.unreachable)}", file=sys.stderr)
            for t in ts:
                t.close()
            ui = subprocess.run(
                [
                    sys.executable,
                    str(REPO / "bench" / "ui_load.py"),
                    "--watch",
                    str(inv),
                    "--interval",
                    str(args.interval),
                    "--forks",
                    str(args.forks),
                    "--seconds",
                    str(args.seconds),
                ],
                capture_output=True,
                text=True,
                env=child_env(),
                timeout=600,
                check=False,
            )
        finally:

            def end(t: Transport) -> None:
                jids = launched.get(t.host.name) or []
                if jids:
                    t.cancel(jids, grace=1)
                    t.cleanup(jids)
                t.close()

            list(pool.map(end, ts))
            pool.shutdown()

    print(
        f"watch_scale: {args.hosts} hosts x {args.jobs} jobs ({runs} jobtui, "
        f"{args.jobs - runs} Ansible), --forks {args.forks}"
    )
    print(
        f"{'cycle':>5} {'jobs':>6} {'wall s':>7} {'console CPU s':>13} "
        f"{'ms/host':>8} {'host CPU s':>10} {'load':>5}"
    )
    for i, (wall, cpu, hcpu, found_n, load) in enumerate(cycles, 1):
        print(
            f"{i:>5} {found_n:>6} {wall:>7.2f} {cpu:>13.2f} "
            f"{1000 * cpu / args.hosts:>8.2f} {hcpu:>10.2f} {load:>5}"
        )
    steady = cycles[1:] or cycles
    wall = statistics.median(c[0] for c in steady)
    cpu = statistics.median(c[1] for c in steady)
    hcpu = statistics.median(c[2] for c in steady)
    print(
        f"steady cycle (median of {len(steady)}): wall {wall:.2f}s, console CPU {cpu:.2f}s"
        f" ({1000 * cpu / args.hosts:.2f} ms per host), hosts' CPU {hcpu:.2f}s;"
        f" first cycle (connects): wall {cycles[0][0]:.2f}s, console CPU {cycles[0][1]:.2f}s"
    )
    print(f"bound by: {'the console' if cpu > hcpu else 'the hosts'} (CPU), on 2 shared cores")
    print("\nthe watch console on a pty, discovering as above (bench/ui_load.py --watch):")
    print(ui.stdout[-4000:] or ui.stderr[-4000:])
    return ui.returncode


if __name__ == "__main__":
    sys.exit(main())
