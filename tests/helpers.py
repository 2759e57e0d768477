"""Small helpers shared by tests (no fixtures here: see conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from jobtui.model import RunState
from jobtui.transport import Transport


def processes_matching(text: str) -> list[int]:
    """Pids of live processes whose command line contains `text` (zombies excluded)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (
                (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            )
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if text in cmdline and ") Z " not in stat:
            pids.append(int(entry.name))
    return pids


def processes_using(prefix: Path) -> list[int]:
    """Live processes (this one and its ancestors aside) that have a file open under
    `prefix`, their working directory there, or `prefix` in their command line."""
    want = str(prefix).rstrip("/") + "/"
    mine = {os.getpid()}
    pid = os.getpid()
    while pid > 1:  # ancestors: whoever started this test session
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
        mine.add(pid)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            if ") Z " in (entry / "stat").read_text():
                continue
            cmdline = (
                (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            )
            links = [os.readlink(entry / "cwd")]
            links += [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue  # gone, or another user's
        if want in cmdline or any(link.startswith(want) for link in links):
            found.append(int(entry.name))
    return found


def describe_process(pid: int) -> str:
    """`PID: command line (cwd)`, for a message."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return f"{pid}: (gone)"
    return f"{pid}: {cmdline.strip()} (cwd {cwd})"


def wait_until(pred: Callable[[], bool], timeout: float = 20.0, interval: float = 0.1) -> bool:
    """Poll `pred` until it is true or `timeout` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def run_jobtui(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`python -m jobtui ARGS` as a real process, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "jobtui", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


def wait_state(t: Transport, jid: str, timeout: float = 20) -> RunState:
    """Ask the host for the run's state until it is finished (or `timeout` passes)."""
    states: list[RunState] = []

    def done() -> bool:
        states.append(t.status([jid]).runs[jid].state)
        return states[-1].finished

    wait_until(done, timeout)
    return states[-1]
