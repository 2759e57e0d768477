"""Shared helpers for the benchmarks in bench/ (not a benchmark itself).

Every benchmark runs the console as a child process (``.venv/bin/jobtui run ...
--headless --json``) and measures that child alone with ``os.wait4``: wall time from
spawn to exit, user+sys CPU and peak RSS (``ru_maxrss``) of the child and whatever it
waited for. The fleet comes from tests/sshfleet.py (real sshd processes on 127.0.0.x).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import sshfleet  # noqa: E402

__all__ = [
    "REPO",
    "Measured",
    "SystemCpu",
    "child_env",
    "fleet_cpu",
    "fleet_rss_mb",
    "header",
    "jobtui_bin",
    "last_summary",
    "loadavg",
    "percentile",
    "process_cpu",
    "run_measured",
    "sshfleet",
    "summary_counts",
    "summary_problems",
]

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Measured:
    """What one child process cost: wall seconds, CPU seconds, peak RSS, exit status."""

    argv: list[str]
    wall: float
    user: float
    sys: float
    maxrss_kb: int
    returncode: int
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)
    host_cpu: float = 0.0
    """CPU seconds of the fleet's sshd side during the run (see fleet_cpu)."""
    busy: float = 0.0
    """Percent of the whole machine's CPU that was busy during the run."""
    lines: list[tuple[float, str]] = field(default_factory=list, repr=False)
    """stdout lines, each with its arrival time in seconds since spawn."""

    def event_times(self, event: str, state: str | None = None) -> list[float]:
        """Sorted arrival times of the JSON events ``event`` (with ``state``)."""
        times = []
        for t, line in self.lines:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if not isinstance(obj, dict) or obj.get("event") != event:
                continue
            if state is None or obj.get("state") == state:
                times.append(t)
        return sorted(times)

    @property
    def cpu(self) -> float:
        return self.user + self.sys

    @property
    def rss_mb(self) -> float:
        return self.maxrss_kb / 1024.0


@contextlib.contextmanager
def bench_fleet(hosts: int) -> Iterator[tuple[sshfleet.SshFleet, Path]]:
    """A temp dir with a started loopback fleet of `hosts` sshd in it; after the
    block, every sshd is stopped and the dir removed."""
    with (
        tempfile.TemporaryDirectory(prefix="jobtui-bench-") as tmp,
        sshfleet.SshFleet(Path(tmp) / "fleet") as fleet,
    ):
        t0 = time.perf_counter()
        # 127.0.0.2-251 per call: beyond 250 hosts the addresses repeat, each sshd on
        # a port of its own (known_hosts names them `[address]:port`).
        left = hosts
        while left > 0:
            fleet.start(min(left, FLEET_CHUNK))
            left -= FLEET_CHUNK
        print(
            f"fleet: {hosts} sshd up in {time.perf_counter() - t0:.1f}s, "
            f"{fleet_rss_mb(fleet):.0f} MB (Pss)",
            file=sys.stderr,
        )
        yield fleet, Path(tmp)


FLEET_CHUNK = 250
"""Hosts started per `SshFleet.start` call (127.0.0.2 upwards)."""


def fleet_rss_mb(fleet: sshfleet.SshFleet) -> float:
    """What the idle fleet holds in memory, in MB: the proportional set size (Pss:
    shared pages split among the processes sharing them) of its sshd listeners."""
    total = 0
    for h in fleet.hosts:
        if h.process is None:
            continue
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{h.process.pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total / 1024.0


def loadavg() -> str:
    """The 1-minute load average now (for the record of each figure)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def jobtui_bin() -> str:
    """The project's ``jobtui`` entry point (the venv the benchmark runs from)."""
    candidate = Path(sys.executable).parent / "jobtui"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("jobtui")
    if found:
        return found
    raise SystemExit("jobtui is not installed in this venv: .venv/bin/pip install -e .")


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a measured child runs in: ours (or `env`), but free to write
    bytecode. This machine's sessions set PYTHONDONTWRITEBYTECODE, so a console run
    from the source tree would compile every module of its own at each start
    (~0.2 s); an installed jobtui has its .pyc files, and so does the one measured."""
    out = dict(os.environ if env is None else env)
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    return out


def _killpg(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def run_measured(
    argv: list[str],
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    fleet: sshfleet.SshFleet | None = None,
) -> Measured:
    """Run ``argv``, capture its output, and measure it with ``os.wait4``.

    Every stdout line is stamped with the seconds since spawn (``Measured.lines``), so
    JSON events can be placed in time. The child is killed (its whole process group)
    if it outlives ``timeout`` seconds.
    """
    lines: list[tuple[float, str]] = []
    with tempfile.TemporaryFile() as err:
        host_cpu0 = fleet_cpu(fleet) if fleet is not None else 0.0
        system = SystemCpu()
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env=child_env(env),
            cwd=cwd,
            start_new_session=True,
        )
        assert proc.stdout is not None
        stdout = proc.stdout

        def read_lines() -> None:
            for raw in stdout:
                lines.append((time.perf_counter() - start, raw.decode("utf-8", "replace")))

        reader = threading.Thread(target=read_lines, daemon=True)
        reader.start()
        # Blocking wait4 (exact wall time); a timer kills the process group on timeout.
        killer = threading.Timer(timeout, _killpg, args=(proc.pid,))
        killer.daemon = True
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - start
        busy = system.busy()
        host_cpu = fleet_cpu(fleet) - host_cpu0 if fleet is not None else 0.0
        proc.returncode = os.waitstatus_to_exitcode(status)
        reader.join(10)
        stdout.close()
        err.seek(0)
        return Measured(
            argv=argv,
            wall=wall,
            user=usage.ru_utime,
            sys=usage.ru_stime,
            maxrss_kb=usage.ru_maxrss,
            returncode=proc.returncode,
            stdout="".join(line for _, line in lines),
            stderr=err.read().decode("utf-8", "replace"),
            host_cpu=host_cpu,
            busy=busy,
            lines=lines,
        )


def last_summary(stdout: str) -> dict[str, Any]:
    """The last ``{"event": "summary"}`` JSON line of a console's output, or {}."""
    for line in reversed(stdout.splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("event") == "summary":
            return obj
    return {}


def summary_problems(stdout: str) -> dict[str, int]:
    """How many runs of the summary did not succeed, by ``state: reason``."""
    problems: dict[str, int] = {}
    for run in last_summary(stdout).get("runs") or []:
        if run.get("state") != "succeeded":
            key = f"{run.get('state')}: {run.get('reason') or ''}"[:160]
            problems[key] = problems.get(key, 0) + 1
    return problems


def summary_counts(stdout: str) -> dict[str, Any]:
    """The ``counts`` of the last summary line, or {}."""
    counts = last_summary(stdout).get("counts")
    return counts if isinstance(counts, dict) else {}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100.0 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _stat(raw: str) -> tuple[int, int]:
    """(ppid, utime+stime+cutime+cstime in ticks) from a /proc/PID/stat line."""
    fields = raw[raw.rfind(")") + 2 :].split()
    return int(fields[1]), sum(int(x) for x in fields[11:15])


def process_cpu(pid: int) -> float:
    """Seconds of CPU of a process and of the children it has waited for."""
    return _stat(Path(f"/proc/{pid}/stat").read_text())[1] / _TICK


def _proc_stats() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, utime+stime+cutime+cstime in ticks) for every process."""
    stats: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                raw = fh.read().decode("ascii", "replace")
        except OSError:
            continue
        with contextlib.suppress(IndexError, ValueError):
            stats[int(entry.name)] = _stat(raw)
    return stats


def fleet_cpu(fleet: sshfleet.SshFleet) -> float:
    """CPU seconds used so far by the fleet's sshd processes (the host side).

    utime+stime+cutime+cstime of every sshd master and of its live descendants
    (connections, session shells: ControlPersist connections outlive a run), so the
    difference of two readings is what the hosts spent on round trips in between.
    Jobs that detached themselves (setsid, reparented to init) are not counted.
    """
    stats = _proc_stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    todo = [h.process.pid for h in fleet.hosts if h.process is not None]
    total = 0
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
            todo.extend(children.get(pid, ()))
    return total / _TICK


class SystemCpu:
    """Share of the machine's CPU time that was busy between two readings."""

    def __init__(self) -> None:
        self._start = self._read()

    @staticmethod
    def _read() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        return sum(values), values[3] + values[4]

    def busy(self) -> float:
        """Percent busy since construction (100 = every core busy all the time)."""
        total, idle = self._read()
        d_total = total - self._start[0]
        return 100.0 * (d_total - (idle - self._start[1])) / d_total if d_total else 0.0


def header() -> str:
    """Date, commit and whether the working tree differs from it (for the record)."""
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30
            )
            return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    return (
        f"date {date}  commit {commit}{' (working tree modified)' if dirty else ''}  "
        f"cpus {os.cpu_count()}  loadavg {' '.join(load)}"
    )
