"""Issue 16's CLI items: the first hour of an operator (run as real subprocesses)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_jobtui

INVENTORY = """\
all:
  children:
    web:
      hosts:
        web01: {ansible_connection: local}
        web02: {ansible_connection: local}
"""


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    p = tmp_path / "inv.yml"
    p.write_text(INVENTORY)
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
