"""ui_load: key handling in the operator console with thousands of live rows.

The operator console (``OperatorApp`` with a ``RecordingSink``, built as
``jobtui.ui.sample.sample_app`` builds it: no engine, no SSH) runs headless under
Textual's Pilot at 160x48. A custom ``EventSource`` emits ``BatchStarted`` with ROWS
runs (hosts x 50 items, all running, progress set), then once a second a
``RunChanged`` for EVERY run with a new progress value and message, until stopped.

After the first update has been applied, for SECONDS: about 50 times, spread over
the window, press ``down`` and measure the time from just before
``await pilot.press("down")`` until the cursor is on another run (polled with
``pilot.pause(0.005)``, bounded at 5 s). Also reported: the process CPU over the
window (``time.process_time()`` delta / wall: the UI thread and the source thread),
the number of flushes that applied events and how long they took (the app's
``flush_events`` is wrapped; painting happens after it, in Textual's compositor).

    .venv/bin/python bench/ui_load.py                 # 5,000 rows, 20 s
    .venv/bin/python bench/ui_load.py --quick         # 1,000 rows, 8 s
    .venv/bin/python bench/ui_load.py --rows 2000 --seconds 10
    .venv/bin/python bench/ui_load.py --profile       # + cProfile of the UI thread

Target (issue 5): key handling p95 < 100 ms with 5,000 live rows.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import io
import pstats
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from _common import header

from jobtui.events import BatchStarted, Event, RunChanged, RunView
from jobtui.model import RunState
from jobtui.ui.app import OperatorApp
from jobtui.ui.sample import RecordingSink

BATCH = "20261129-000000-uiload"
ITEMS_PER_HOST = 50
KEY = "down"
TARGET_P95 = 0.100
BOUND = 5.0


def make_runs(rows: int, now: float) -> list[RunView]:
    """ROWS running runs: hosts of 50 items each (the last host may have fewer)."""
    runs: list[RunView] = []
    for n in range(rows):
        host, index = divmod(n, ITEMS_PER_HOST)
        item = f"item{index:02d}"
        runs.append(
            RunView(
                key=("backup", f"host{host:03d}", index),
                job="backup",
                host=f"host{host:03d}",
                item=item,
                jid=f"J{n:010d}xYzQ",
                state=RunState.RUNNING,
                attempt=1,
                started=now - 60.0 - (n % 600),
                progress=float(n % 100),
                message=f"dumping {item}",
                timeout=3600,
                command=f"pg_dump {item}",
            )
        )
    return runs


class LoadSource:
    """BatchStarted with every run, then a RunChanged for every run each second."""

    def __init__(self, runs: list[RunView], interval: float = 1.0) -> None:
        self.runs = runs
        self.interval = interval
        self.rounds = 0
        self.emitted = 0
        self.emit_seconds = 0.0
        self._stop = threading.Event()

    def run(self, emit: Callable[[Event], None]) -> None:
        emit(BatchStarted(BATCH, list(self.runs)))
        runs = self.runs
        due = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            due += self.interval
            self.rounds += 1
            start = time.perf_counter()
            r = self.rounds
            for i, view in enumerate(runs):
                if self._stop.is_set():
                    return
                new = dataclasses.replace(
                    view,
                    progress=float((i + r) % 100),
                    message=f"dumping {view.item}: chunk {r}",
                )
                runs[i] = new
                emit(RunChanged(new, RunState.RUNNING))
                self.emitted += 1
            self.emit_seconds += time.perf_counter() - start

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Flushes:
    calls: int = 0
    applied: int = 0  # flushes that drained at least one RunChanged
    changes: int = 0  # RunChanged events drained
    seconds: list[float] = field(default_factory=list)  # duration of applying flushes


def instrument(app: OperatorApp) -> Flushes:
    """Count and time the app's flushes, and count the RunChanged they apply."""
    stats = Flushes()
    drain = app.buffer.drain
    flush = app.flush_events
    drained = [0]

    def counting_drain() -> list[Event]:
        events: list[Event] = drain()
        drained[0] = sum(isinstance(e, RunChanged) for e in events)
        return events

    def timed_flush() -> None:
        drained[0] = 0
        start = time.perf_counter()
        flush()
        elapsed = time.perf_counter() - start
        stats.calls += 1
        if drained[0]:
            stats.applied += 1
            stats.changes += drained[0]
            stats.seconds.append(elapsed)

    app.buffer.drain = counting_drain
    app.flush_events = timed_flush
    return stats


@dataclass
class Result:
    rows: int
    seconds: float
    latencies: list[float]
    timeouts: int
    cpu: float
    wall: float
    flushes: Flushes
    source: LoadSource
    startup: float
    profile: str = ""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def measure(rows: int, seconds: float, samples: int, profile: bool) -> Result:
    source = LoadSource(make_runs(rows, time.time()))
    app = OperatorApp(source, RecordingSink(), batch=BATCH, title="jobtui", bell=False)
    flushes = instrument(app)
    latencies: list[float] = []
    timeouts = 0
    profiler = cProfile.Profile() if profile else None
    t_start = time.perf_counter()
    async with app.run_test(size=(160, 48)) as pilot:
        # The batch is shown, then the first RunChanged round has been applied.
        deadline = time.monotonic() + 120
        while flushes.applied == 0 and time.monotonic() < deadline:
            await pilot.pause(0.05)
        if flushes.applied == 0:
            raise SystemExit("the first update never landed (120 s)")
        startup = time.perf_counter() - t_start
        table = app.main.table
        rng = random.Random(5)
        gap = seconds / samples
        base = Flushes(flushes.calls, flushes.applied, flushes.changes, [])
        seen = len(flushes.seconds)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        for n in range(samples):
            # Spread the presses over the window, at random phases of the 1 s updates.
            target = wall0 + gap * (n + rng.random())
            await asyncio.sleep(max(0.0, target - time.perf_counter()))
            before = table.cursor_key()
            t0 = time.perf_counter()
            await pilot.press(KEY)
            while table.cursor_key() == before:
                if time.perf_counter() - t0 > BOUND:
                    timeouts += 1
                    break
                await pilot.pause(0.005)
            latencies.append(time.perf_counter() - t0)
        await asyncio.sleep(max(0.0, wall0 + seconds - time.perf_counter()))
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        window = Flushes(
            flushes.calls - base.calls,
            flushes.applied - base.applied,
            flushes.changes - base.changes,
            flushes.seconds[seen:],
        )
        source.stop()
    text = ""
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        text = out.getvalue()
    return Result(rows, seconds, latencies, timeouts, cpu, wall, window, source, startup, text)


def report(res: Result) -> bool:
    lat = res.latencies
    p50, p95, worst = statistics.median(lat), pct(lat, 0.95), max(lat)
    ok = p95 < TARGET_P95 and not res.timeouts
    fl = res.flushes
    mean_flush = statistics.mean(fl.seconds) if fl.seconds else 0.0
    max_flush = max(fl.seconds) if fl.seconds else 0.0
    src = res.source
    print(header())
    print(
        f"ui_load: operator console 160x48, {res.rows} running rows, a RunChanged for "
        f"every row each second, key {KEY!r} x {len(lat)} over {res.wall:.1f} s"
    )
    rows = [
        ("rows", f"{res.rows}"),
        ("start-up (to first update applied)", f"{res.startup:.2f} s"),
        ("key latency p50", f"{p50 * 1000:.0f} ms"),
        ("key latency p95", f"{p95 * 1000:.0f} ms"),
        ("key latency max", f"{worst * 1000:.0f} ms"),
        ("key presses over the 5 s bound", f"{res.timeouts}"),
        ("process CPU / wall", f"{res.cpu:.2f} s / {res.wall:.2f} s = {res.cpu / res.wall:.0%}"),
        ("flushes (all calls / applying RunChanged)", f"{fl.calls} / {fl.applied}"),
        ("RunChanged applied", f"{fl.changes} ({fl.changes / res.wall:.0f}/s)"),
        ("flush duration mean / max", f"{mean_flush * 1000:.0f} ms / {max_flush * 1000:.0f} ms"),
        (
            "source rounds, emit time/round",
            f"{src.rounds}, {src.emit_seconds / max(1, src.rounds) * 1000:.0f} ms",
        ),
        ("verdict (p95 < 100 ms)", "met" if ok else "MISSED"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    if res.profile:
        print("\ncProfile of the UI thread over the window (cumulative):")
        print(res.profile)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="1,000 rows, 8 s")
    parser.add_argument("--profile", action="store_true", help="cProfile the UI thread")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.seconds = 1000, 8.0
    res = asyncio.run(measure(args.rows, args.seconds, args.samples, args.profile))
    report(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
