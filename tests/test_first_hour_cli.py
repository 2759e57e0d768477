"""Issue 16's CLI items: the first hour of an operator (run as real subprocesses)."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import processes_using, run_jobtui
from tests.sshfleet import SshFleet, ssh_client_path

INVENTORY = """\
all:
  children:
    web:
      hosts:
        web01: {ansible_connection: local, jobtui_dir: "ROOT/web01"}
        web02: {ansible_connection: local, jobtui_dir: "ROOT/web02"}
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


def _launch(tmp_path: Path, shell: str, poll: str) -> list[str]:
    """Run a job on both hosts headless; its runs' jids."""
    (tmp_path / "jobs.yml").write_text(
        f"jobs:\n  - name: work\n    hosts: web\n    shell: {shell}\n    poll: {poll}\n"
        "    timeout: 60\n"
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
    assert proc.returncode == 0, proc.stderr
    return [r["jid"] for r in _json_lines(proc.stdout)[-1]["runs"]]


def _job_dirs(tmp_path: Path) -> set[str]:
    return {p.name for p in (tmp_path / "jt").glob("*/jobs/*")}


def test_cleanup_finished_without_a_terminal_or_yes_is_refused(tmp_path: Path, inv: Path) -> None:
    jids = _launch(tmp_path, "'true'", "0.2")
    proc = run_jobtui("cleanup", "-i", "inv.yml", "--finished", "--state-dir", "st", cwd=tmp_path)
    assert proc.returncode == 2
    assert "--yes" in proc.stderr and "Traceback" not in proc.stderr
    assert set(jids) <= _job_dirs(tmp_path)
    done = run_jobtui(
        "cleanup", "-i", "inv.yml", "--finished", "--yes", "--state-dir", "st", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert not set(jids) & _job_dirs(tmp_path)


def _on_a_terminal(args: list[str], answer: bytes, cwd: Path) -> tuple[int, str]:
    """Run jobtui with a pty as its terminal, answer its question; (exit code, output)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: jobtui, its stdin and stderr the pty
        os.chdir(cwd)
        os.execv(sys.executable, [sys.executable, "-m", "jobtui", *args])
    out = b""
    try:
        while b"[y/N]" not in out:
            ready, _, _ = select.select([fd], [], [], 60)
            assert ready, out
            out += os.read(fd, 4096)
        os.write(fd, answer)
        with contextlib.suppress(OSError):  # EIO: the child closed the pty
            while chunk := os.read(fd, 4096):
                out += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_cleanup_finished_on_a_terminal_asks_and_no_keeps_everything(
    tmp_path: Path, inv: Path
) -> None:
    jids = _launch(tmp_path, "'true'", "0.2")
    args = ["cleanup", "-i", "inv.yml", "--finished", "--state-dir", "st"]
    code, out = _on_a_terminal(args, b"n\n", tmp_path)
    assert "Remove 2 finished runs' job directories on 2 hosts? [y/N]" in out
    assert "web01: 1 (1 succeeded)" in out
    assert code == 1 and "nothing removed" in out
    assert set(jids) <= _job_dirs(tmp_path)
    code, out = _on_a_terminal(args, b"y\n", tmp_path)
    assert code == 0, out
    assert not set(jids) & _job_dirs(tmp_path)


def test_dry_run_cancel_and_cleanup_touch_nothing(tmp_path: Path, inv: Path) -> None:
    jids = _launch(tmp_path, "sleep 30", "0")
    try:
        for command, extra in (("cancel", ()), ("cleanup", ("--force",))):
            proc = run_jobtui(
                command,
                "-i",
                "inv.yml",
                "--job",
                "work",
                *extra,
                "--dry-run",
                "--state-dir",
                "st",
                cwd=tmp_path,
            )
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.count("would be cancelled (dry run)") == 2
        status = run_jobtui("status", "-i", "inv.yml", "--json", cwd=tmp_path)
        runs = json.loads(status.stdout)["runs"]
        assert sorted(r["jid"] for r in runs) == sorted(jids)
        assert {r["state"] for r in runs} == {"running"}
        assert processes_using(tmp_path / "jt")  # the jobs' processes are alive
    finally:
        run_jobtui("cancel", "-i", "inv.yml", "--job", "work", cwd=tmp_path)
    finished = run_jobtui(
        "cleanup", "-i", "inv.yml", "--finished", "--dry-run", "--state-dir", "st", cwd=tmp_path
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.count("would be removed (dry run)") == 2
    assert set(jids) <= _job_dirs(tmp_path)


def _interrupted_on_a_terminal(
    args: list[str], cwd: Path, after: bytes, delay: float
) -> tuple[int, str]:
    """Run jobtui on a pty, and `delay` s after it printed `after` press Ctrl-C (SIGINT
    to its process group, as a terminal does); (exit code, everything it printed)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.execv(sys.executable, [sys.executable, "-m", "jobtui", *args])
    out = b""
    try:
        while after not in out:
            ready, _, _ = select.select([fd], [], [], 60)
            assert ready, out
            out += os.read(fd, 4096)
        time.sleep(delay)
        os.killpg(pid, signal.SIGINT)
        with contextlib.suppress(OSError):  # EIO: the child closed the pty
            while select.select([fd], [], [], 30)[0] and (chunk := os.read(fd, 4096)):
                out += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


@pytest.mark.ssh
@pytest.mark.parametrize(("after", "delay"), [(b": running", 0.0), (b": running", 0.5)])
def test_ctrl_c_in_headless_mode_over_ssh_prints_no_traceback(
    fleet_inventory: Path, tmp_path: Path, after: bytes, delay: float
) -> None:
    (tmp_path / "jobs.yml").write_text(
        "jobs:\n  - name: nap\n    hosts: all\n    shell: sleep 30\n    poll: 0.3\n"
        "    timeout: 60\n"
    )
    args = ["jobs.yml", "-i", str(fleet_inventory), "--state-dir", "st"]
    try:
        code, out = _interrupted_on_a_terminal(["run", *args, "--headless"], tmp_path, after, delay)
        assert code == 130, out
        assert "interrupted; the jobs of batch" in out
        assert "Traceback" not in out and "Error" not in out, out
    finally:
        run_jobtui("cancel", "-i", str(fleet_inventory), "--job", "nap", cwd=tmp_path)


@pytest.mark.ssh
@pytest.mark.parametrize("delay", [0.0, 0.1, 0.5])
def test_ctrl_c_in_headless_mode_through_a_proxy_command_prints_no_traceback(
    ssh_fleet: SshFleet, fleet_jobtui_dirs: dict[str, Path], tmp_path: Path, delay: float
) -> None:
    """The terminal's SIGINT reaches the ProxyCommands too (they are in jobtui's process
    group): their connections end under the engine's feet."""
    ssh = ssh_client_path()
    assert ssh is not None
    bastion = ssh_fleet.hosts[0]
    proxy = (
        f"-o ProxyCommand='{ssh} -F /dev/null -i {ssh_fleet.user_key_path} -o IdentitiesOnly=yes"
        f" -o UserKnownHostsFile={ssh_fleet.known_hosts_path} -o StrictHostKeyChecking=yes"
        f" -o BatchMode=yes -o LogLevel=ERROR -p {bastion.port} -l {ssh_fleet.user}"
        f" -W %h:%p {bastion.address}'"
    )
    inventory = ssh_fleet.write_inventory(
        tmp_path / "inventory.yml",
        host_vars={
            name: {"jobtui_dir": str(path), "ansible_ssh_common_args": proxy}
            for name, path in fleet_jobtui_dirs.items()
        },
    )
    (tmp_path / "jobs.yml").write_text(
        "jobs:\n  - name: nap\n    hosts: all\n    shell: sleep 30\n    poll: 0.3\n"
        "    timeout: 60\n"
    )
    args = ["run", "jobs.yml", "-i", str(inventory), "--state-dir", "st", "--headless"]
    try:
        code, out = _interrupted_on_a_terminal(args, tmp_path, b": running", delay)
        assert code == 130, out
        assert "interrupted; the jobs of batch" in out
        assert "Traceback" not in out and "Error" not in out, out
    finally:
        run_jobtui("cancel", "-i", str(inventory), "--job", "nap", cwd=tmp_path)
