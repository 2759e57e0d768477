"""The command line: exit codes and clean errors (run as a real subprocess)."""

from __future__ import annotations

import subprocess
import textwrap
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


def jobtui(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_jobtui(*args, cwd=cwd)


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    p = tmp_path / "inv.yml"
    p.write_text(INVENTORY)
    return p


BAD_JOBS = {
    "unknown key": (
        "jobs:\n  - name: backup\n    hosts: web\n    shell: 'true'\n    tiemout: 5\n",
        "jobs.yml:5:5",
        "did you mean 'timeout'",
    ),
    "wrong type": (
        "jobs:\n  - name: backup\n    hosts: web\n    shell: 'true'\n    timeout: soon\n",
        "jobs.yml:5:14",
        "timeout",
    ),
    "broken yaml": ("jobs:\n  - name: [unclosed\n    hosts: web\n", "jobs.yml:", ""),
    "unknown host pattern": (
        "jobs:\n  - name: backup\n    hosts: webb\n    shell: 'true'\n",
        "jobs.yml:3:12",
        "web",
    ),
}


@pytest.mark.parametrize("case", list(BAD_JOBS))
@pytest.mark.parametrize("command", ["run", "check"])
def test_bad_job_file_exits_2_with_file_line_and_no_traceback(
    case: str, command: str, tmp_path: Path, inv: Path
) -> None:
    text, where, hint = BAD_JOBS[case]
    marker = tmp_path / "ran"
    (tmp_path / "jobs.yml").write_text(text.replace("'true'", f"'touch {marker}'"))
    extra = ["--headless"] if command == "run" else []
    proc = jobtui(command, "jobs.yml", "-i", str(inv), *extra, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert where in proc.stderr and hint in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not marker.exists()


def test_check_prints_the_plan_and_launches_nothing(tmp_path: Path, inv: Path) -> None:
    (tmp_path / "jobs.yml").write_text(
        textwrap.dedent(
            f"""\
            jobs:
              - name: backup
                hosts: web
                loop: [a, b]
                shell: touch {tmp_path}/ran-{{{{ item }}}}
            """
        )
    )
    proc = jobtui("check", "jobs.yml", "-i", str(inv), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for word in ("backup", "web01", "web02", "a", "b"):
        assert word in proc.stdout
    assert not list(tmp_path.glob("ran-*"))


def test_headless_run_exits_0_and_reports_on_stderr(tmp_path: Path, inv: Path) -> None:
    (tmp_path / "jobs.yml").write_text(
        "jobs:\n  - name: hi\n    hosts: web01\n    shell: echo hi\n    poll: 0.2\n"
    )
    proc = jobtui(
        "run",
        "jobs.yml",
        "-i",
        str(inv),
        "--headless",
        "--state-dir",
        str(tmp_path / "st"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "web01 hi: succeeded" in proc.stderr
    assert proc.stdout == ""


def test_missing_inventory_file_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "jobs.yml").write_text("jobs: []\n")
    proc = jobtui("check", "jobs.yml", "-i", "nope.yml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "nope.yml" in proc.stderr and "Traceback" not in proc.stderr
