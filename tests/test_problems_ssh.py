"""Problems over real sshd hosts: the summary's `problems`, and the end of the human
headless output, group the failed runs by their error (its varying parts masked)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from jobtui.cli import main

# Each run names another address: its pid as the last two octets. Each sleeps first,
# so that it is still running when the status of its launch's round trip reads it
# (that one asks for its tails): its end is seen by a later poll, which asks for no
# tails (no `progress:`, no console): the host sends a finished run's anyway.
JOBS = """
jobs:
  - name: connect
    hosts: fleet
    shell: >-
      sleep 1; echo "connecting";
      echo "connection to 10.0.$(($$ / 256 % 256)).$(($$ % 256)) failed" >&2; exit 3
    poll: 0.3
  - name: dump
    hosts: host1
    shell: sleep 1; echo "dumped 10 of 12 tables"; echo "disk full on /dev/sda1"; exit 2
    poll: 0.3
  - name: fine
    hosts: host2
    shell: echo ok
    poll: 0.3
"""


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.yml"
    path.write_text(textwrap.dedent(JOBS))
    return path


def test_three_hosts_failing_with_the_same_message_make_one_problem_in_the_json(
    jobs: Path, fleet_inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(jobs), "-i", str(fleet_inventory), "--headless", "--json"])
    summary: dict[str, Any] = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 1 and summary["event"] == "summary"
    said = {r["tail"] for r in summary["runs"] if r["job"] == "connect"}
    assert len(said) == 3, said  # three other addresses...
    connect, dump = summary["problems"]  # ...one problem: the biggest first
    assert connect["state"] == "failed" and connect["rc"] == 3
    assert connect["error"] == connect["pattern"] == "connection to <ip> failed"
    assert connect["hosts"] == ["host1", "host2", "host3"] and connect["count"] == 3
    jids = {r["jid"] for r in summary["runs"] if r["job"] == "connect"}
    assert {r["jid"] for r in connect["runs"]} == jids
    # No stderr: the last stdout line; said the same by its one run, so as it was said.
    assert dump["error"] == "disk full on /dev/sda1" and dump["pattern"] == "disk full on <path>"
    assert (dump["rc"], dump["hosts"], dump["count"]) == (2, ["host1"], 1)


def test_the_human_headless_output_ends_with_the_problems(
    jobs: Path, fleet_inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(jobs), "-i", str(fleet_inventory), "--headless"])
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err[-5].endswith("s] problems: 4 runs, 2 causes")
    assert err[-4:] == [
        "  3 failed rc=3: connection to <ip> failed",
        "    host1, host2, host3",
        "  1 failed rc=2: disk full on /dev/sda1",
        "    host1",
    ]
