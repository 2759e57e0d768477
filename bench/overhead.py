"""overhead: where jobtui's time over the job's own goes, phase by phase.

HOSTS hosts (default 10) x ITEMS loop items (default 3) of ``sleep SECONDS`` (default
2), ``cleanup: on_success``, as the seed pattern of vs_ansible, run as ``jobtui run
JOBS -i INV --headless --json``. Each run is a fresh console process measured with
``os.wait4``; its JSON lines are stamped as they arrive, which places the phases:

- start: spawn to the ``batch`` event (Python start-up, imports, config, SQLite);
- launch: ``batch`` to the last ``running`` event (handshakes, sessions, launches);
- job: the last ``running`` to the last ``succeeded`` (the job's own time, plus up to
  one poll or push);
- end: the last ``succeeded`` to the ``summary`` (the cleanup round trip);
- exit: the ``summary`` to the process's exit (closing connections, threads).

``--compare SRC`` also times the console of another source tree (a checkout's
``src``, run with this venv's packages), alternating with this one in the same
minute, so that the load is comparable:

    .venv/bin/python bench/overhead.py --repeat 3
    .venv/bin/python bench/overhead.py --repeat 3 --compare /work/wt/speed-base/src
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

from _common import REPO, Measured, bench_fleet, header, run_measured, sshfleet, summary_counts

JOBS = """\
jobs:
  - name: sleep
    hosts: fleet
    shell: sleep {seconds}
    loop: {items}
    timeout: 60
    poll: {poll}
    cleanup: on_success
"""

PHASES = ("start", "launch", "job", "end", "exit")


def phases(m: Measured) -> dict[str, float]:
    """Seconds of each phase of one run (nan where an event is missing)."""
    nan = float("nan")
    batch = min(m.event_times("batch"), default=nan)
    running = m.event_times("run", "running")
    done = m.event_times("run", "succeeded")
    summary = max(m.event_times("summary"), default=nan)
    last_run = max(running, default=nan)
    last_done = max(done, default=nan)
    return {
        "start": batch,
        "launch": last_run - batch,
        "job": last_done - last_run,
        "end": summary - last_done,
        "exit": m.wall - summary,
    }


def run_once(
    label: str, src: str | None, fleet: sshfleet.SshFleet, work: Path, index: str, forks: int
) -> Measured:
    inv = fleet.write_inventory(work / f"inv-{index}.yml", jobtui_root=work / f"jt-{index}")
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    m = run_measured(
        [
            sys.executable,
            "-m",
            "jobtui",
            "run",
            str(work / "jobs.yml"),
            "-i",
            str(inv),
            "--headless",
            "--json",
            "--forks",
            str(forks),
            "--state-dir",
            str(work / f"state-{index}"),
        ],
        timeout=300,
        env=env,
        cwd=work,
        fleet=fleet,
    )
    counts = summary_counts(m.stdout)
    if m.returncode != 0 or set(counts) != {"succeeded"}:
        print(f"{label}: exited {m.returncode}, {counts}: {m.stderr[-2000:]}", file=sys.stderr)
    return m


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--items", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=2)
    ap.add_argument("--poll", type=float, default=0.5)
    ap.add_argument("--forks", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compare", metavar="SRC", help="another source tree to time alongside")
    args = ap.parse_args()
    print(header(), flush=True)
    variants: list[tuple[str, str | None]] = [("this", str(REPO / "src"))]
    if args.compare:
        variants.append(("other", args.compare))
    results: dict[str, list[Measured]] = {label: [] for label, _ in variants}
    with bench_fleet(args.hosts) as (fleet, work):
        (work / "jobs.yml").write_text(
            JOBS.format(seconds=args.seconds, items=list(range(1, args.items + 1)), poll=args.poll)
        )
        for i in range(args.repeat):
            for label, src in variants:
                load = Path("/proc/loadavg").read_text().split()[0]
                m = run_once(label, src, fleet, work, f"{label}-{i}", args.forks)
                results[label].append(m)
                p = phases(m)
                print(
                    f"{label} #{i + 1}: wall {m.wall:.2f}s (over {m.wall - args.seconds:.2f}s) "
                    f"CPU {m.cpu:.2f}s host CPU {m.host_cpu:.2f}s load {load}  "
                    + " ".join(f"{k} {p[k]:.2f}" for k in PHASES),
                    flush=True,
                )
    print(f"overhead: {args.hosts} hosts x {args.items} x `sleep {args.seconds}`, medians")
    for label, ms in results.items():
        ps = [phases(m) for m in ms]
        wall = statistics.median(m.wall for m in ms)
        print(
            f"{label:<6} wall {wall:.2f}s over {wall - args.seconds:.2f}s "
            f"CPU {statistics.median(m.cpu for m in ms):.2f}s "
            f"host CPU {statistics.median(m.host_cpu for m in ms):.2f}s  "
            + " ".join(f"{k} {statistics.median(p[k] for p in ps):.2f}" for k in PHASES)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
