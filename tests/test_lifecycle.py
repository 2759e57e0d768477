"""The job lifecycle over real sshd hosts: fire-and-forget, status, cancel, cleanup,
retries, lost runs, and a console killed with SIGKILL then re-attached."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import processes_matching, run_jobtui, wait_until


def jobtui(*args: str, state: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_jobtui(*args, "--state-dir", str(state), timeout=timeout)


def write_jobs(path: Path, body: str) -> str:
    path.write_text(textwrap.dedent(body))
    return str(path)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under root with its content hash and mode."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def test_fire_and_forget_returns_at_once_and_status_shows_progress_without_writing(
    fleet_inventory: Path, fleet_jobtui_dirs: dict[str, Path], tmp_path: Path, state: Path
) -> None:
    marker = str(5000 + secrets.randbelow(3000))
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        f"""
        jobs:
          - name: long
            hosts: fleet
            shell: echo "42 copying tables" > "$JOBTUI_PROGRESS"; sleep {marker}
            poll: 0
        """,
    )
    proc = jobtui("run", jobs, "-i", str(fleet_inventory), "--headless", "--json", state=state)
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    assert lines[0]["event"] == "batch"
    batch = lines[0]["batch"]
    assert wait_until(lambda: len(processes_matching(f"sleep {marker}")) == 3, 10)

    before = {h: tree_digest(d) for h, d in fleet_jobtui_dirs.items()}
    st = jobtui("status", "-i", str(fleet_inventory), "--json", state=state)
    assert st.returncode == 0, st.stderr
    runs = json.loads(st.stdout)["runs"]
    assert {(r["host"], r["state"], r["progress"], r["message"], r["batch"]) for r in runs} == {
        (h, "running", 42.0, "copying tables", batch) for h in ("host1", "host2", "host3")
    }
    assert {h: tree_digest(d) for h, d in fleet_jobtui_dirs.items()} == before

    cancel = jobtui("cancel", "-i", str(fleet_inventory), "--batch", batch, state=state)
    assert cancel.returncode == 0, cancel.stderr
    assert cancel.stdout.count("cancelled") == 3
    assert wait_until(lambda: processes_matching(f"sleep {marker}") == [], 10)
    st = jobtui("status", "-i", str(fleet_inventory), "--json", state=state)
    assert {r["state"] for r in json.loads(st.stdout)["runs"]} == {"cancelled"}


def test_cleanup_refuses_running_runs_removes_finished_ones_and_force_cancels_first(
    fleet_inventory: Path, fleet_jobtui_dirs: dict[str, Path], tmp_path: Path, state: Path
) -> None:
    marker = str(5000 + secrets.randbelow(3000))
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        f"""
        jobs:
          - name: quick
            hosts: host1
            shell: "true"
            poll: 0.5
          - name: slow
            hosts: host1
            shell: sleep {marker}
            poll: 0
        """,
    )
    proc = jobtui("run", jobs, "-i", str(fleet_inventory), "--headless", "--json", state=state)
    runs = {r["job"]: r for r in json_lines(proc.stdout)[-1]["runs"]}
    jobs_dir = fleet_jobtui_dirs["host1"] / "jobs"
    quick, slow = runs["quick"]["jid"], runs["slow"]["jid"]

    refused = jobtui("cleanup", "-i", str(fleet_inventory), "--jid", slow, state=state)
    assert refused.returncode == 1 and "refused" in refused.stderr
    assert (jobs_dir / slow).is_dir()

    done = jobtui("cleanup", "-i", str(fleet_inventory), "--finished", "--yes", state=state)
    assert done.returncode == 0, done.stderr
    assert not (jobs_dir / quick).exists() and (jobs_dir / slow).is_dir()

    forced = jobtui("cleanup", "-i", str(fleet_inventory), "--jid", slow, "--force", state=state)
    assert forced.returncode == 0, forced.stderr
    assert not (jobs_dir / slow).exists()
    assert processes_matching(f"sleep {marker}") == []


@pytest.mark.parametrize("bad", ["../etc", "/abs/path", "has space", "", "x" * 1024, "short"])
def test_malformed_jids_are_refused_with_exit_2(
    bad: str, fleet_inventory: Path, state: Path
) -> None:
    proc = jobtui("cancel", "-i", str(fleet_inventory), "--jid", bad, state=state)
    assert proc.returncode == 2
    assert "invalid jid" in proc.stderr and "Traceback" not in proc.stderr


def test_retries_relaunch_a_failing_run_the_right_number_of_times(
    fleet_inventory: Path, tmp_path: Path, state: Path
) -> None:
    count = tmp_path / "count"
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        f"""
        jobs:
          - name: flaky
            hosts: host1
            shell: echo x >> {count}; exit 1
            retries: 2
            retry_delay: 0
            poll: 0.3
        """,
    )
    proc = jobtui("run", jobs, "-i", str(fleet_inventory), "--headless", "--json", state=state)
    assert proc.returncode == 1
    run = json_lines(proc.stdout)[-1]["runs"][0]
    assert (run["state"], run["attempt"]) == ("failed", 3)
    assert count.read_text() == "x\n" * 3


def test_a_killed_wrapper_shows_as_lost(fleet_inventory: Path, tmp_path: Path, state: Path) -> None:
    marker = str(5000 + secrets.randbelow(3000))
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        f"""
        jobs:
          - name: victim
            hosts: host2
            shell: sleep {marker}
            poll: 0
        """,
    )
    proc = jobtui("run", jobs, "-i", str(fleet_inventory), "--headless", "--json", state=state)
    jid = json_lines(proc.stdout)[-1]["runs"][0]["jid"]
    assert wait_until(lambda: bool(processes_matching(f"sleep {marker}")), 10)
    # kill -9 of the run's whole process group: the supervisor, the job and the
    # watchdog's `sleep` (which would otherwise linger until the time limit).
    groups = set()
    for pid in processes_matching(jid) + processes_matching(f"sleep {marker}"):
        with contextlib.suppress(ProcessLookupError):
            groups.add(os.getpgid(pid))
    for pgid in groups - {os.getpgrp()}:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    st = jobtui("status", "-i", str(fleet_inventory), "--json", state=state)
    assert [r["state"] for r in json.loads(st.stdout)["runs"]] == ["lost"]


def counted_batch(
    fleet_inventory: Path, tmp_path: Path, state: Path, items: str, seconds: int, forks: int
) -> tuple[Path, subprocess.Popen[str]]:
    """Start a console (a real process, JSON on a pipe) on a job that appends a line
    to one file per host and item: the files count how often each run executed."""
    counts = tmp_path / "counts"
    counts.mkdir()
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        f"""
        jobs:
          - name: once
            hosts: fleet
            loop: [{", ".join(items)}]
            shell: echo x >> {counts}/{{{{ inventory_hostname }}}}-{{{{ item }}}}; sleep {seconds}
            poll: 0.3
        """,
    )
    argv = [sys.executable, "-m", "jobtui", "run", jobs, "-i", str(fleet_inventory)]
    argv += ["--headless", "--json", "--forks", str(forks), "--state-dir", str(state)]
    console = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return counts, console


def kill_hard(console: subprocess.Popen[str]) -> None:
    """SIGKILL: no cleanup of any kind."""
    console.kill()
    console.wait()
    assert console.stdout is not None
    console.stdout.close()


def assert_each_ran_once(counts: Path, items: str) -> None:
    names = sorted(p.name for p in counts.iterdir())
    assert names == sorted(f"host{h}-{i}" for h in (1, 2, 3) for i in items)
    for p in counts.iterdir():
        assert p.read_text() == "x\n", p.name


def test_console_killed_mid_batch_then_attach_runs_everything_exactly_once(
    fleet_inventory: Path, tmp_path: Path, state: Path
) -> None:
    counts, console = counted_batch(fleet_inventory, tmp_path, state, "ab", 2, forks=2)
    assert console.stdout is not None
    running = 0
    for line in console.stdout:
        ev = json.loads(line)
        if ev["event"] == "run" and ev["state"] == "running":
            running += 1
            if running == 2:
                break
    kill_hard(console)

    proc = jobtui("attach", "--headless", "--json", state=state)
    assert proc.returncode == 0, proc.stderr
    assert json_lines(proc.stdout)[-1]["counts"] == {"succeeded": 6}
    assert_each_ran_once(counts, "ab")


@pytest.mark.parametrize("seed", range(5))
def test_console_killed_at_a_random_moment_never_loses_or_repeats_a_run(
    seed: int, fleet_inventory: Path, tmp_path: Path, state: Path
) -> None:
    rnd = random.Random(seed)
    counts, console = counted_batch(fleet_inventory, tmp_path, state, "abc", 1, forks=4)
    time.sleep(rnd.uniform(0.0, 3.0))
    kill_hard(console)  # at whatever point it had reached

    proc = jobtui("attach", "--headless", "--json", state=state)
    if proc.returncode == 2 and "no batch" in proc.stderr:
        # Killed before the batch was recorded: then nothing was launched either.
        assert list(counts.iterdir()) == []
        return
    assert proc.returncode == 0, proc.stderr
    assert json_lines(proc.stdout)[-1]["counts"] == {"succeeded": 9}
    assert_each_ran_once(counts, "abc")
