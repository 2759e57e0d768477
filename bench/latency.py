"""latency: from a job's end on its host to the console's finished event.

HOSTS hosts of the loopback sshd fleet (tests/sshfleet.py), one run per host of
``sleep S`` with S spread evenly between 2 and 6 s (so the ends are spread out, not
all at one poll), job ``poll: 5``, driven in-process by ``jobtui.engine.Engine`` over
SSH transports from ``jobtui.transport.make_transport``, with ``push=True`` and then,
on the same fleet, ``push=False`` for comparison.

Each run's script is ``sleep S; date +%s.%N > END_DIR/end-<host>``: it stamps its own
end with sub-second precision right before it exits (the loopback hosts share the
console's filesystem). Two latencies per run:

- precise: (wall-clock time the engine's ``RunChanged`` event with a finished state
  reached ``on_event``) minus (the job's own end stamp);
- coarse: the same event time minus the run's ``finished`` field as written on the
  host by the wrapper (epoch seconds, whole seconds: up to 1 s too high).

    .venv/bin/python bench/latency.py                # 50 hosts, push and no push
    .venv/bin/python bench/latency.py --quick        # 10 hosts
    .venv/bin/python bench/latency.py --no-baseline  # push only

Target (issue 5): p95 under 1 s at ``poll: 5``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import bench_fleet, header, percentile, sshfleet

from jobtui.config import load_inventory
from jobtui.engine import Engine
from jobtui.events import Event, RunChanged
from jobtui.model import JobSpec, RunSpec
from jobtui.transport import Transport, make_transport

TARGET_P95 = 1.0


@dataclass
class Outcome:
    push: bool
    wall: float
    cpu: float
    load: float
    precise: list[float] = field(default_factory=list)
    coarse: list[float] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)
    missing_stamps: int = 0
    sessions: int = 0
    worst: list[str] = field(default_factory=list)
    """The slowest runs, explained: when launched, ended, nudged, polled."""


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def build_runs(
    inventory: Path, end_dir: Path, poll: float, lo: float, hi: float, per_host: int, gap: float
) -> list[RunSpec]:
    """One run per host and index j: ``sleep S_host + j * gap``, then its end stamp."""
    inv = load_inventory(str(inventory))
    hosts = list(inv.hosts.values())
    runs = []
    for i, host in enumerate(hosts):
        s = lo + (hi - lo) * i / max(1, len(hosts) - 1)
        for j in range(per_host):
            script = f"sleep {s + j * gap:.2f}; date +%s.%N > {end_dir}/end-{host.name}-{j}"
            job = JobSpec(name="lat", hosts="all", shell=script, poll=poll, timeout=60)
            runs.append(RunSpec(job, host, j, j, script))
    return runs


def run_once(
    fleet: sshfleet.SshFleet,
    work: Path,
    push: bool,
    args: argparse.Namespace,
) -> Outcome:
    poll, lo, hi = args.poll, args.min_sleep, args.max_sleep
    tag = "push" if push else "nopush"
    end_dir = work / f"ends-{tag}"
    end_dir.mkdir()
    inventory = fleet.write_inventory(work / f"inv-{tag}.yml", jobtui_root=work / f"jt-{tag}")
    runs = build_runs(inventory, end_dir, poll, lo, hi, args.per_host, args.gap)
    transports: dict[str, Transport] = {r.host.name: make_transport(r.host) for r in runs}
    seen: dict[str, tuple[float, float | None, str]] = {}
    running_at: dict[str, float] = {}
    lock = threading.Lock()
    # For explaining slow runs: every round trip (start, end) and nudge, per host.
    trips: dict[str, list[tuple[float, float]]] = {h: [] for h in transports}
    nudges: dict[str, list[float]] = {h: [] for h in transports}

    def timed(host: str, inner: Callable[..., bytes]) -> Callable[..., bytes]:
        def run(*a: Any, **kw: Any) -> bytes:
            t_start = time.time()
            try:
                return inner(*a, **kw)
            finally:
                trips[host].append((t_start, time.time()))

        return run

    for host, t in transports.items():
        t.run = timed(host, t.run)

    def on_event(e: Event) -> None:
        if not isinstance(e, RunChanged):
            return
        now = time.time()
        name = f"{e.run.host}-{e.run.key[2]}"
        with lock:
            if e.run.state.value == "running":
                running_at.setdefault(name, now)
            if e.run.state.finished:
                seen.setdefault(name, (now, e.run.finished, e.run.state.value))

    engine = Engine(
        runs, transports, batch=f"lat-{tag}", forks=len(runs), on_event=on_event, push=push
    )
    inner_nudge = engine.nudge

    def nudge(host: str) -> None:
        nudges[host].append(time.time())
        inner_nudge(host)

    engine.nudge = nudge
    load = loadavg()
    start = time.time()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    timer = threading.Timer(hi + 120.0, engine.stop)  # bound: never hang
    timer.daemon = True
    timer.start()
    try:
        engine.run()
    finally:
        timer.cancel()
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        for t in transports.values():
            t.close()
    out = Outcome(push=push, wall=wall, cpu=cpu, load=load)
    out.sessions = sum(t.sessions_opened for t in transports.values())
    explained: list[tuple[float, str]] = []
    for name, (at, finished, state) in seen.items():
        out.states[state] = out.states.get(state, 0) + 1
        if finished is not None:
            out.coarse.append(at - finished)
        stamp = end_dir / f"end-{name}"
        try:
            ended = float(stamp.read_text().strip())
        except (OSError, ValueError):
            out.missing_stamps += 1
            continue
        out.precise.append(at - ended)
        host = name.rsplit("-", 1)[0]
        rel = [f"{x - start:.2f}" for x in nudges[host]]
        polls = [f"{a - start:.2f}-{b - start:.2f}" for a, b in trips[host]]
        explained.append(
            (
                at - ended,
                f"{name}: latency {at - ended:.3f}s; running event "
                f"{running_at.get(name, start) - start:.2f}s, "
                f"job end {ended - start:.2f}s, finished event {at - start:.2f}s; "
                f"nudges at {', '.join(rel) or '-'}; round trips {', '.join(polls)}",
            )
        )
    out.worst = [text for _, text in sorted(explained, reverse=True)[: args.worst]]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--poll", type=float, default=5.0)
    ap.add_argument("--min-sleep", type=float, default=2.0)
    ap.add_argument("--max-sleep", type=float, default=6.0)
    ap.add_argument("--per-host", type=int, default=1, help="runs per host")
    ap.add_argument(
        "--gap", type=float, default=0.3, help="with --per-host: seconds between a host's ends"
    )
    ap.add_argument("--worst", type=int, default=5, help="explain the N slowest runs")
    ap.add_argument("--no-baseline", action="store_true", help="skip the push=False run")
    ap.add_argument("--quick", action="store_true", help="10 hosts")
    args = ap.parse_args()
    if args.quick:
        args.hosts = 10
    if not 1 <= args.hosts <= 253:
        ap.error("--hosts must be between 1 and 253")

    header_line = header()
    outcomes: list[Outcome] = []
    with bench_fleet(args.hosts) as (fleet, work):
        for push in (True,) if args.no_baseline else (True, False):
            o = run_once(fleet, work, push, args)
            outcomes.append(o)
            print(
                f"push={push}: {o.wall:.2f}s wall, {len(o.precise)} ends, states {o.states}",
                file=sys.stderr,
            )

    print()
    print(header_line)
    print(
        f"latency: {args.hosts} hosts x {args.per_host} run(s) of `sleep S`, S in "
        f"{args.min_sleep:g}..{args.max_sleep:g}s"
        + (f" (+{args.gap:g}s per run on a host)" if args.per_host > 1 else "")
        + f", poll {args.poll:g}, in-process Engine"
    )
    print(
        f"{'push':<5} {'runs':>4} {'p50 s':>6} {'p95 s':>6} {'max s':>6} "
        f"{'coarse p50':>10} {'coarse p95':>10} {'wall s':>7} {'CPU s':>6} {'load':>5} "
        f"{'sessions':>8}  target p95<{TARGET_P95:g}s"
    )
    for o in outcomes:
        p95 = percentile(o.precise, 95)
        verdict = "met" if p95 < TARGET_P95 else "MISSED"
        print(
            f"{'on' if o.push else 'off':<5} {len(o.precise):>4} "
            f"{percentile(o.precise, 50):>6.3f} {p95:>6.3f} {max(o.precise, default=0):>6.3f} "
            f"{percentile(o.coarse, 50):>10.3f} {percentile(o.coarse, 95):>10.3f} "
            f"{o.wall:>7.2f} {o.cpu:>6.2f} {o.load:>5.1f} {o.sessions:>8}  {verdict}"
        )
        for text in o.worst:
            print(f"      {text}")
        if o.missing_stamps or set(o.states) != {"succeeded"}:
            print(f"      states {o.states}, {o.missing_stamps} runs without an end stamp")
    if len(outcomes) == 2 and outcomes[0].precise and outcomes[1].precise:
        on, off = (statistics.median(o.precise) for o in outcomes)
        print(f"median latency without push / with push: {off / on:.1f}x")
    ok = all(
        set(o.states) == {"succeeded"} and sum(o.states.values()) == args.hosts * args.per_host
        for o in outcomes
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
