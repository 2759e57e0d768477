"""fanout: how jobtui's console grows with the number of hosts.

For each size N (default 10, 50 and 200 hosts of the loopback sshd fleet from
tests/sshfleet.py), N hosts x 4 loop items of ``sleep 1`` with ``poll: 0.5``, run as
``jobtui run JOBS -i INV --headless --json --forks N*4`` (``--forks`` bounds the runs
in flight, so every run is in flight at once). Each size is a fresh console process,
measured with ``os.wait4``:

- wall: from spawning the console to its exit, i.e. to every run seen finished
  (it includes the console's start-up: Python imports, SQLite, SSH handshakes);
- CPU: user+sys of the console process (the sshd side is not counted);
- peak RSS: ``ru_maxrss`` of that one process.

    .venv/bin/python bench/fanout.py                 # 10, 50, 200 hosts
    .venv/bin/python bench/fanout.py --hosts 50      # one size
    .venv/bin/python bench/fanout.py --quick         # 10 and 50 hosts
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from _common import (
    Measured,
    bench_fleet,
    fleet_rss_mb,
    header,
    jobtui_bin,
    loadavg,
    run_measured,
    sshfleet,
    summary_counts,
    summary_problems,
)

JOBS = """\
jobs:
  - name: fan
    hosts: fleet
    shell: sleep {seconds}
    loop: {items}
    timeout: 60
    poll: {poll}
"""

#: Targets from issue 20 (round 2 of speed): seconds over the job's own time, by
#: host count (issue 5's were 5 s at 50 hosts, 15 s at 200).
TARGET_OVER = {50: 2.0, 200: 5.0, 500: 12.0}
TARGET_RSS_MB = {200: 150.0}


def run_size(
    fleet: sshfleet.SshFleet, hosts: list[sshfleet.FleetHost], work: Path, items: int, tag: str
) -> tuple[Measured, dict[str, int]]:
    n = len(hosts)
    inv = fleet.write_inventory(
        work / f"inventory-{tag}.yml", hosts=hosts, jobtui_root=work / f"jt-{tag}"
    )
    m = run_measured(
        [
            jobtui_bin(),
            "run",
            str(work / "jobs.yml"),
            "-i",
            str(inv),
            "--headless",
            "--json",
            "--forks",
            str(n * items),
            "--state-dir",
            str(work / f"state-{tag}"),
        ],
        timeout=600,
        fleet=fleet,
    )
    counts = summary_counts(m.stdout)
    if m.returncode != 0 or counts.get("succeeded") != n * items:
        print(f"{n} hosts: jobtui exited {m.returncode}, counts {counts}", file=sys.stderr)
        for problem, count in summary_problems(m.stdout).items():
            print(f"  {count} x {problem}", file=sys.stderr)
        print(m.stderr[-3000:], file=sys.stderr)
    return m, counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, nargs="+", default=[10, 50, 200], help="sizes (max 1000)")
    ap.add_argument("--items", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=1, help="each job: sleep SECONDS")
    ap.add_argument("--poll", type=float, default=0.5)
    ap.add_argument("--quick", action="store_true", help="10 and 50 hosts")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each size (medians)")
    args = ap.parse_args()
    if args.quick:
        args.hosts = [10, 50]
    sizes = sorted(set(args.hosts))
    if sizes[0] < 1 or sizes[-1] > 1000:
        ap.error("--hosts must be between 1 and 1000")

    header_line = header()
    rows: list[tuple[int, Measured, dict[str, int]]] = []
    loads: dict[int, str] = {}  # by id() of the run's Measured
    with bench_fleet(sizes[-1]) as (fleet, work):
        items = list(range(1, args.items + 1))
        (work / "jobs.yml").write_text(
            JOBS.format(seconds=args.seconds, items=items, poll=args.poll)
        )
        fleet_mb = fleet_rss_mb(fleet)
        for i in range(args.repeat):
            for n in sizes:
                load = loadavg()
                m, counts = run_size(fleet, fleet.hosts[:n], work, args.items, f"{n}-{i}")
                rows.append((n, m, counts))
                loads[id(m)] = load
                print(
                    f"{n} hosts: {m.wall:.2f}s wall, {m.cpu:.2f}s CPU, {m.rss_mb:.0f} MB"
                    f" (load {load} before)",
                    file=sys.stderr,
                )

    print()
    print(header_line)
    print(
        f"fanout: N hosts x {args.items} items of `sleep {args.seconds}`, poll {args.poll:g}, "
        f"--forks N*{args.items}"
    )
    print(
        f"{'hosts':>5} {'runs':>5} {'ok':>5} {'wall s':>7} {'over s':>7} {'CPU s':>6} "
        f"{'CPU ms/run':>10} {'RSS MB':>7} {'host CPU s':>10} {'box busy':>8} "
        f"{'1st launch':>10} {'all launched':>12} {'load':>5} {'target':>22}"
    )
    for n, m, counts in rows:
        over = m.wall - args.seconds
        targets = []
        if n in TARGET_OVER:
            targets.append(
                f"over<{TARGET_OVER[n]:g}s {'met' if over < TARGET_OVER[n] else 'MISSED'}"
            )
        if n in TARGET_RSS_MB:
            ok = m.rss_mb < TARGET_RSS_MB[n]
            targets.append(f"RSS<{TARGET_RSS_MB[n]:g} {'met' if ok else 'MISSED'}")
        runs = n * args.items
        launched = m.event_times("run", "running")
        first, last = (launched[0], launched[-1]) if launched else (float("nan"),) * 2
        print(
            f"{n:>5} {runs:>5} {counts.get('succeeded', 0):>5} {m.wall:>7.2f} {over:>7.2f} "
            f"{m.cpu:>6.2f} {1000 * m.cpu / runs:>10.1f} {m.rss_mb:>7.1f} "
            f"{m.host_cpu:>10.2f} {m.busy:>7.0f}% {first:>10.2f} {last:>12.2f} "
            f"{loads[id(m)]:>5} {', '.join(targets):>22}"
        )
    print(f"the idle fleet of {sizes[-1]} sshd: {fleet_mb:.0f} MB (Pss)")
    for n in sizes:
        ms = [m for k, m, _ in rows if k == n]
        wall = statistics.median(m.wall for m in ms)
        over = wall - args.seconds
        verdict = ""
        if n in TARGET_OVER:
            verdict = (
                f"; target over<{TARGET_OVER[n]:g}s {'met' if over < TARGET_OVER[n] else 'MISSED'}"
            )
        print(
            f"median of {len(ms)} at {n} hosts: wall {wall:.2f}s ({over:.2f}s over), console CPU "
            f"{statistics.median(m.cpu for m in ms):.2f}s, host CPU "
            f"{statistics.median(m.host_cpu for m in ms):.2f}s, peak RSS "
            f"{max(m.rss_mb for m in ms):.0f} MB{verdict}"
        )
    if len(sizes) > 1:
        n0, m0, _ = rows[0]
        print(f"growth relative to {n0} hosts:")
        for n, m, _ in rows[1 : len(sizes)]:
            print(
                f"  {n0} -> {n} hosts (x{n / n0:g}): wall x{m.wall / m0.wall:.2f}, "
                f"CPU x{m.cpu / m0.cpu:.2f}, peak RSS x{m.rss_mb / m0.rss_mb:.2f}"
            )
    ok = all(m.returncode == 0 for _, m, _ in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
