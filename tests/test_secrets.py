"""Secrets: an env value taken from the console's environment reaches the job and
appears nowhere else: not in JSON, not in the human output, not in the store, not in
the job's metadata on the host."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

from tests.helpers import run_jobtui

SECRET = "s3cr3t-Hunter2-value"


def test_a_from_env_secret_reaches_the_job_and_nothing_else(
    fleet_inventory: Path, fleet_jobtui_dirs: dict[str, Path], tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(
        textwrap.dedent(
            """
            jobs:
              - name: db
                hosts: host1
                shell: '[ "$PGPASSWORD" = "$EXPECTED" ] && echo password ok'
                env:
                  PGPASSWORD: {from_env: JOBTUI_TEST_SECRET}
                  EXPECTED: s3cr3t-Hunter2-value
                poll: 0.3
            """
        ).replace("EXPECTED: s3cr3t-Hunter2-value", "EXPECTED: {from_env: JOBTUI_TEST_SECRET}")
    )
    state = tmp_path / "state"
    env = {**os.environ, "JOBTUI_TEST_SECRET": SECRET}
    proc = run_jobtui(
        "run",
        str(jobs),
        "-i",
        str(fleet_inventory),
        "--headless",
        "--json",
        "--state-dir",
        str(state),
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["runs"][0]["state"] == "succeeded"
    assert SECRET not in proc.stdout + proc.stderr
    for f in (p for p in state.rglob("*") if p.is_file()):  # the store, its locks
        assert SECRET.encode() not in f.read_bytes(), f.name
    for f in (p for p in fleet_jobtui_dirs["host1"].rglob("*") if p.is_file()):
        assert SECRET.encode() not in f.read_bytes(), f.name  # cmd and meta included
    meta = next((fleet_jobtui_dirs["host1"] / "jobs").glob("*/meta")).read_text()
    assert SECRET not in meta


def test_a_missing_secret_is_a_clean_error_before_anything_is_launched(
    fleet_inventory: Path, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(
        "jobs:\n  - name: db\n    hosts: host1\n    shell: touch ran\n"
        "    env:\n      PGPASSWORD: {from_env: JOBTUI_TEST_UNSET}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "JOBTUI_TEST_UNSET"}
    proc = run_jobtui(
        "run",
        str(jobs),
        "-i",
        str(fleet_inventory),
        "--headless",
        "--state-dir",
        str(tmp_path / "st"),
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "$JOBTUI_TEST_UNSET" in proc.stderr and "jobs.yml:6:" in proc.stderr
    assert not (tmp_path / "ran").exists()
