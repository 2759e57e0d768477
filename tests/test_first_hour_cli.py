"""Issue 16's CLI items: the first hour of an operator (run as real subprocesses)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_jobtui

INVENTORY = """\
all:
  vars: {jobtui_dir: "ROOT"}
  children:
    web:
      hosts:
        web01: {ansible_connection: local}
        web02: {ansible_connection: local}
"""


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    p = tmp_path / "inv.yml"
    p.write_text(INVENTORY.replace("ROOT", str(tmp_path / "jt")))  # this test's job root
    return p


def test_check_refuses_a_plan_of_no_run_as_run_does(tmp_path: Path, inv: Path) -> None:
    (tmp_path / "jobs.yml").write_text("jobs:\n  - name: hi\n    hosts: web\n    shell: 'true'\n")
    args = ("jobs.yml", "-i", str(inv), "--limit", "web01:&web02", "--state-dir", "st")
    check = run_jobtui("check", *args, cwd=tmp_path)
    ran = run_jobtui("run", *args, "--headless", cwd=tmp_path)
    assert ran.returncode == 2
    assert check.returncode == 2
    message = "no run to launch: the job patterns and --limit select no host"
    assert message in ran.stderr and message in check.stderr
    assert "0 run(s)" in check.stdout  # the plan is printed first


def test_an_empty_jobs_list_is_called_an_empty_list(tmp_path: Path, inv: Path) -> None:
    (tmp_path / "jobs.yml").write_text("jobs: []\n")
    proc = run_jobtui("check", "jobs.yml", "-i", str(inv), cwd=tmp_path)
    assert proc.returncode == 2
    assert "'jobs' must be a non-empty list, got an empty list" in proc.stderr


def test_headless_lines_count_in_the_singular_and_the_plural(tmp_path: Path, inv: Path) -> None:
    (tmp_path / "jobs.yml").write_text(
        "jobs:\n  - name: hi\n    hosts: web01\n    shell: 'true'\n    poll: 0.2\n"
    )
    proc = run_jobtui(
        "run", "jobs.yml", "-i", str(inv), "--headless", "--state-dir", "st", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert ": 1 run on 1 host\n" in proc.stderr


def test_the_launch_hint_names_the_inventory_and_the_state_dir_given(
    tmp_path: Path, inv: Path
) -> None:
    (tmp_path / "jobs.yml").write_text(
        "jobs:\n  - name: nap\n    hosts: web\n    shell: sleep 30\n    poll: 0\n    timeout: 60\n"
    )
    proc = run_jobtui(
        "run", "jobs.yml", "-i", "inv.yml", "--headless", "--state-dir", "my st", cwd=tmp_path
    )
    try:
        assert proc.returncode == 0, proc.stderr
        assert ": 2 runs on 2 hosts\n" in proc.stderr
        assert "INVENTORY" not in proc.stderr
        assert "see them with `jobtui status -i inv.yml`" in proc.stderr
        assert "follow them with `jobtui attach --state-dir 'my st' " in proc.stderr
    finally:
        run_jobtui("cancel", "-i", "inv.yml", "--job", "nap", cwd=tmp_path)


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_json_running_events_carry_started_and_the_summary_the_tail_of_failures(
    tmp_path: Path, inv: Path
) -> None:
    (tmp_path / "jobs.yml").write_text(
        "jobs:\n"
        "  - name: ok\n    hosts: web01\n    shell: sleep 1; echo fine\n    poll: 0.2\n"
        "  - name: bad\n    hosts: web01\n    shell: sleep 1; echo broke at step 3 >&2; exit 4\n"
        "    poll: 0.2\n"
    )
    proc = run_jobtui(
        "run",
        "jobs.yml",
        "-i",
        "inv.yml",
        "--headless",
        "--json",
        "--state-dir",
        "st",
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    lines = _json_lines(proc.stdout)
    running = [e for e in lines if e["event"] == "run" and e["state"] == "running"]
    assert len(running) == 2 and all(e["started"] for e in running)
    runs = {r["job"]: r for r in lines[-1]["runs"]}
    assert runs["bad"]["tail"] == "broke at step 3"
    assert runs["ok"]["tail"] is None  # a success's output is not a problem
