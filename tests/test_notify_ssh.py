"""`--notify` and the job file's `notify:` end to end, over real sshd hosts."""

from __future__ import annotations

import json
import secrets
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from jobtui.cli import main
from tests.helpers import processes_matching


def run_json(
    capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, list[dict[str, Any]], str]:
    code = main(["run", *argv, "--headless", "--json"])
    out = capsys.readouterr()
    return code, [json.loads(line) for line in out.out.splitlines()], out.err


def jobs_file(tmp_path: Path, top: str = "") -> Path:
    path = tmp_path / "jobs.yml"
    body = """
        jobs:
          - name: check
            hosts: fleet
            loop: [ok, bad]
            shell: 'test {{ item }} = ok || { echo "{{ item }}" >&2; exit 4; }'
            poll: 0.2
        """
    path.write_text(top + textwrap.dedent(body))
    return path


def test_notify_gets_every_failed_run_s_json_line_then_the_summary_in_order(
    fleet_inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    got = tmp_path / "notified"
    # The command's own output must never reach the --json stream (every line of
    # stdout is parsed as JSON by run_json).
    notify = f'cat >> {got}; echo "$JOBTUI_EVENT" >> {got}.events; echo not-json'
    state = str(tmp_path / "state")
    argv = [str(jobs_file(tmp_path)), "-i", str(fleet_inventory), "--state-dir", state]
    code, lines, err = run_json(capsys, *argv, "--notify", notify)
    assert code == 1
    failed = [e for e in lines if e["event"] == "run" and e["state"] == "failed"]
    assert len(failed) == 3
    notified = [json.loads(line) for line in got.read_text().splitlines()]
    assert notified == [*failed, lines[-1]]  # the same objects as --json's, in its order
    assert Path(f"{got}.events").read_text().split() == ["run"] * 3 + ["summary"]
    assert "notify" not in err


def test_the_job_file_s_notify_is_used_and_the_command_line_s_wins(
    fleet_inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    by_file, by_flag = tmp_path / "by-file", tmp_path / "by-flag"
    jobs = jobs_file(tmp_path, f"notify: 'cat >> {by_file}'\n")
    state = str(tmp_path / "state")
    argv = [str(jobs), "-i", str(fleet_inventory), "--state-dir", state, "--limit", "host1"]
    code, _, _ = run_json(capsys, *argv)
    assert code == 1
    assert [json.loads(line)["event"] for line in by_file.read_text().splitlines()] == [
        "run",
        "summary",
    ]
    run_json(capsys, *argv, "--notify", f"cat >> {by_flag}")
    assert len(by_flag.read_text().splitlines()) == 2
    assert len(by_file.read_text().splitlines()) == 2  # not run the second time
    run_json(capsys, *argv, "--notify", "")  # '' turns the file's off
    assert len(by_file.read_text().splitlines()) == 2


def test_a_hanging_notify_command_is_killed_and_said_and_changes_no_exit_code(
    fleet_inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = f"600.{secrets.randbelow(10**6)}"
    jobs = tmp_path / "jobs.yml"
    jobs.write_text("jobs:\n  - name: ok\n    hosts: host1\n    shell: 'true'\n    poll: 0.2\n")
    state = str(tmp_path / "state")
    argv = [str(jobs), "-i", str(fleet_inventory), "--state-dir", state]
    t0 = time.monotonic()
    code, lines, err = run_json(
        capsys, *argv, "--notify", f"sleep {marker}", "--notify-timeout", "1"
    )
    # Generous: the command would sleep 600 s; its kill time is 1 s.
    assert time.monotonic() - t0 < 120
    assert code == 0 and lines[-1]["counts"] == {"succeeded": 1}
    assert "jobtui: warning: notify: the notify command was killed after 1s for the summary" in err
    assert processes_matching(f"sleep {marker}") == []
