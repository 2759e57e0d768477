"""`jobtui logs -f` on Ansible's own async jobs (real `ansible -B -P 0` runs, local
connection): it waits for the result, prints the output, exits as the job ended."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_ansible_files import inventory
from tests.test_ansible_files import launch as launch_ansible

JOBTUI = [sys.executable, "-m", "jobtui"]


@pytest.fixture
def adir(tmp_path: Path) -> Path:
    d = tmp_path / "async dir"
    d.mkdir()
    return d


@pytest.mark.parametrize(
    ("cmd", "out", "code"),
    [("sleep 3; echo done", b"done\n", 0), ("sleep 3; echo bad; exit 3", b"bad\n", 1)],
)
def test_follow_waits_for_an_ansible_job_and_exits_as_it_ended(
    tmp_path: Path, adir: Path, cmd: str, out: bytes, code: int
) -> None:
    inv = inventory(tmp_path, adir)
    jid = launch_ansible(tmp_path, adir, cmd)
    state = str(tmp_path / "state")
    followed = subprocess.run(
        [*JOBTUI, "logs", "-i", str(inv), jid, "-f", "--state-dir", state],
        capture_output=True,
        timeout=120,
    )
    assert (followed.returncode, followed.stdout) == (code, out), followed.stderr
    if code:
        assert f"{jid}: failed".encode() in followed.stderr
