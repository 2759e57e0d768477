"""End to end over real sshd hosts: YAML in, detached jobs on 3 hosts, JSON out."""

from __future__ import annotations

import json
import secrets
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from jobtui.cli import main
from tests.helpers import processes_matching
from tests.sshfleet import SshFleet


def write_jobs(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body))
    return path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]]]:
    code = main(["run", *argv, "--headless", "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return code, lines


def test_loop_over_items_on_three_hosts_succeeds_with_the_right_outputs(
    fleet_inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        f"""
        jobs:
          - name: dump
            hosts: fleet
            loop: [users_db, orders_db]
            shell: >-
              echo "dumped {{{{ item }}}} on {{{{ inventory_hostname }}}}"
              | tee {out}/{{{{ inventory_hostname }}}}-{{{{ item }}}}
            timeout: 30
            poll: 0.5
        """,
    )
    code, lines = run_json(capsys, str(jobs), "-i", str(fleet_inventory))
    assert code == 0
    assert lines[0]["event"] == "batch" and lines[-1]["event"] == "summary"
    runs = lines[-1]["runs"]
    assert len(runs) == 6
    assert {(r["host"], r["item"], r["state"], r["rc"]) for r in runs} == {
        (h, i, "succeeded", 0)
        for h in ("host1", "host2", "host3")
        for i in ("users_db", "orders_db")
    }
    for h in ("host1", "host2", "host3"):
        for i in ("users_db", "orders_db"):
            assert (out / f"{h}-{i}").read_text() == f"dumped {i} on {h}\n"
    assert lines[-1]["counts"] == {"succeeded": 6}


def test_run_survives_on_its_host_and_its_output_is_kept_there(
    ssh_fleet: SshFleet,
    fleet_inventory: Path,
    fleet_jobtui_dirs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        """
        jobs:
          - name: hello
            hosts: host2
            shell: echo "hello from $(hostname)"; echo oops >&2
            poll: 0.5
        """,
    )
    code, lines = run_json(capsys, str(jobs), "-i", str(fleet_inventory))
    assert code == 0
    jid = lines[-1]["runs"][0]["jid"]
    job_dir = fleet_jobtui_dirs["host2"] / "jobs" / jid
    rc, text = ssh_fleet.ssh_exec("host2", f"cat {job_dir}/stderr {job_dir}/rc")
    assert rc == 0 and text.startswith("oops\n0 ")


HOSTILE = [
    "x; touch {p}/pwned1",
    "$(touch {p}/pwned2)",
    "`touch {p}/pwned3`",
    'it\'s "quoted"',
    "two  spaces\tand tab",
    "a\\b $HOME ${{PATH}} *",
]


@pytest.mark.parametrize("quoting", ["bare", "single", "double"])
def test_hostile_items_are_data_never_commands(
    quoting: str, fleet_inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "items"
    items = [h.format(p=tmp_path) for h in HOSTILE]
    expr = {"bare": "{{ item }}", "single": "'{{ item }}'", "double": '"{{ item }}"'}[quoting]
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(
        json.dumps(
            {
                "jobs": [
                    {
                        "name": "quote",
                        "hosts": "host1",
                        "loop": items,
                        "shell": f"printf '%s|' {expr} > {out}-$$",
                        "poll": 0.5,
                    }
                ]
            }
        )
    )
    code, lines = run_json(capsys, str(jobs), "-i", str(fleet_inventory))
    assert code == 0, lines[-1]
    written = sorted(p.read_text() for p in tmp_path.glob("items-*"))
    assert written == sorted(f"{i}|" for i in items)
    assert not list(tmp_path.glob("pwned*"))


def test_command_key_passes_an_item_with_spaces_as_one_argument(
    fleet_inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        f"""
        jobs:
          - name: argv
            hosts: host1
            loop: ["a b; touch pwned", "c d"]
            command: touch {{{{ item }}}}
            chdir: {work}
            poll: 0.5
        """,
    )
    code, lines = run_json(capsys, str(jobs), "-i", str(fleet_inventory))
    assert code == 0
    assert lines[-1]["counts"] == {"succeeded": 2}
    assert sorted(p.name for p in work.iterdir()) == ["a b; touch pwned", "c d"]


def test_a_run_that_exits_3_is_failed_with_rc_3_and_the_batch_exits_1(
    fleet_inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        """
        jobs:
          - name: mixed
            hosts: fleet
            shell: if [ {{ inventory_hostname }} = host3 ]; then exit 3; fi
            poll: 0.5
        """,
    )
    code, lines = run_json(capsys, str(jobs), "-i", str(fleet_inventory))
    assert code == 1
    states = {r["host"]: (r["state"], r["rc"]) for r in lines[-1]["runs"]}
    assert states == {"host1": ("succeeded", 0), "host2": ("succeeded", 0), "host3": ("failed", 3)}


def test_a_job_past_its_timeout_is_timed_out_and_none_of_its_processes_survive(
    fleet_inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = str(4000 + secrets.randbelow(4000))
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        f"""
        jobs:
          - name: slow
            hosts: host1:host2
            shell: |
              sleep {marker} &
              sh -c 'trap "" TERM; sleep {marker}' &
              sleep {marker}
            timeout: 2
            poll: 0.5
        """,
    )
    code, lines = run_json(capsys, str(jobs), "-i", str(fleet_inventory))
    assert code == 1
    for r in lines[-1]["runs"]:
        assert r["state"] == "timed_out"
        # As the host recorded it: killed at the 2 s limit, the TERM-deaf child after
        # the 5 s grace period (whole seconds, so a little slack).
        took = datetime.fromisoformat(r["finished"]) - datetime.fromisoformat(r["started"])
        assert 2 <= took.total_seconds() <= 2 + 5 + 3
    assert processes_matching(f"sleep {marker}") == []


def test_unknown_host_key_is_refused_with_a_hint_and_nothing_runs(
    ssh_fleet: SshFleet, fleet_inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    inv = fleet_inventory.read_text().replace(str(ssh_fleet.known_hosts_path), str(empty))
    fleet_inventory.write_text(inv)
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        f"""
        jobs:
          - name: t
            hosts: host1
            shell: touch {tmp_path}/ran
            poll: 0.5
        """,
    )
    code, lines = run_json(capsys, str(jobs), "-i", str(fleet_inventory))
    assert code == 1
    run = lines[-1]["runs"][0]
    assert run["state"] == "unreachable"
    assert "--accept-new-host-keys" in run["reason"]
    assert not (tmp_path / "ran").exists()
    code, lines = run_json(capsys, str(jobs), "-i", str(fleet_inventory), "--accept-new-host-keys")
    assert code == 0
    assert "127.0.0.2" in empty.read_text()
