"""become end to end: `jobtui run` over a real sshd fleet, logged in as real non-root
users, through the machine's real sudo (tests/becomeusers.py, fixtures_become.py).

Each test's job root is a directory of its own owned by the become user
(`become_dir`), or, to show where the default resolves, a fresh `~/.jobtui-…` name in
the become user's home, removed after.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.becomeusers import (
    NOPASS,
    NOSUDO,
    PASS,
    SVC,
    BecomeUsers,
    sudo_invocations,
    sudo_log_offset,
)
from tests.sshfleet import SshFleet

pytest_plugins = ["tests.fixtures_become"]
pytestmark = pytest.mark.ssh

REPO = Path(__file__).resolve().parent.parent


def jobtui(
    *argv: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process (as an operator runs it), `ANSIBLE_BECOME_PASS`
    only if `env` gives it."""
    base = {k: v for k, v in os.environ.items() if k != "ANSIBLE_BECOME_PASS"}
    return subprocess.run(
        [sys.executable, "-m", "jobtui", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**base, **(env or {})},
        cwd=REPO,
        check=False,
    )


def run_batch(
    jobs: Path, inv: Path, state: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`jobtui run JOBS -i INV --headless --json --state-dir STATE`."""
    argv = ["run", str(jobs), "-i", str(inv), "--headless", "--json", "--state-dir", str(state)]
    return jobtui(*argv, env=env)


def summary(out: str) -> dict[str, Any]:
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines and lines[-1]["event"] == "summary", out
    last: dict[str, Any] = lines[-1]
    return last


def write_jobs(path: Path, **job: Any) -> Path:
    entry = {"name": "who", "hosts": "fleet", "timeout": 30, "poll": 0.3, **job}
    path.write_text(json.dumps({"jobs": [entry]}))  # JSON is YAML
    return path


def inventory(fleet: SshFleet, path: Path, jobtui_dir: str | Path, **extra: Any) -> Path:
    return fleet.write_inventory(
        path, host_vars={h.name: {"jobtui_dir": str(jobtui_dir), **extra} for h in fleet.hosts}
    )


@pytest.fixture
def home_root(become_users: BecomeUsers) -> Iterator[Callable[[str], str]]:
    """Factory: a `~/.jobtui-<random>` job root name; every user's copy is removed after."""
    names: list[str] = []

    def factory(user: str) -> str:
        name = f".jobtui-test-{secrets.token_hex(4)}"
        names.append(name)
        return f"~/{name}"

    yield factory
    homes = [Path("/root")] + [become_users[u].home for u in (NOPASS, PASS, NOSUDO, SVC)]
    for name in names:
        for home in homes:
            shutil.rmtree(home / name, ignore_errors=True)


def test_become_runs_the_job_as_root_in_roots_own_job_root(
    become_fleet: Callable[..., SshFleet],
    home_root: Callable[[str], str],
    become_users: BecomeUsers,
    tmp_path: Path,
) -> None:
    fleet = become_fleet(NOPASS)
    root = home_root("root")
    inv = inventory(fleet, tmp_path / "inv.yml", root)
    jobs = write_jobs(tmp_path / "jobs.yml", shell="id -un; echo $HOME", become=True)
    since = sudo_log_offset()
    done = run_batch(jobs, inv, tmp_path / "state")
    assert done.returncode == 0, done.stderr
    runs = summary(done.stdout)["runs"]
    assert {(r["host"], r["state"], r["rc"], r["user"]) for r in runs} == {
        (h.name, "succeeded", 0, "root") for h in fleet.hosts
    }
    # The default job root resolved in root's home, not the login user's: the job
    # directory belongs to root, 0700.
    jobs_dir = Path("/root") / root.removeprefix("~/") / "jobs"
    for r in runs:
        job_dir = jobs_dir / r["jid"]
        st = job_dir.stat()
        assert (st.st_uid, st.st_mode & 0o777) == (0, 0o700)
        assert (job_dir / "stdout").read_text().split() == ["root", "/root"]
    assert not (become_users.nopass.home / root.removeprefix("~/")).exists() or not any(
        (become_users.nopass.home / root.removeprefix("~/") / "jobs").iterdir()
    )
    # One sudo per host for the whole batch, however many polls it took.
    assert sudo_invocations(NOPASS, since) == len(fleet.hosts)


def test_become_user_runs_as_that_user(
    become_fleet: Callable[..., SshFleet],
    become_dir: Callable[[str], Path],
    become_users: BecomeUsers,
    tmp_path: Path,
) -> None:
    fleet = become_fleet(NOPASS)
    root = become_dir(SVC)
    inv = inventory(fleet, tmp_path / "inv.yml", root)
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        shell="id -un; sleep 2",
        become=True,
        become_user=SVC,
        loop=["a", "b"],
    )
    since = sudo_log_offset()
    done = run_batch(jobs, inv, tmp_path / "state")
    assert done.returncode == 0, done.stderr
    runs = summary(done.stdout)["runs"]
    assert len(runs) == 2 * len(fleet.hosts)
    for r in runs:
        job_dir = root / "jobs" / r["jid"]
        assert job_dir.stat().st_uid == become_users.svc.uid
        assert (job_dir / "stdout").read_text().strip() == SVC
        assert r["user"] == SVC
    # Two runs per host, many polls: still one sudo per host.
    assert sudo_invocations(NOPASS, since) == len(fleet.hosts)


def test_the_inventory_can_ask_for_become_and_the_job_can_say_no(
    become_fleet: Callable[..., SshFleet],
    become_dir: Callable[[str], Path],
    become_users: BecomeUsers,
    tmp_path: Path,
) -> None:
    fleet = become_fleet(NOPASS)
    root = become_dir(SVC)
    inv = inventory(fleet, tmp_path / "inv.yml", root, ansible_become=True, ansible_become_user=SVC)
    as_svc = write_jobs(tmp_path / "a.yml", shell="id -un")
    done = run_batch(as_svc, inv, tmp_path / "state")
    assert done.returncode == 0, done.stderr
    for r in summary(done.stdout)["runs"]:
        assert (root / "jobs" / r["jid"] / "stdout").read_text().strip() == SVC
    # become: false in the job wins over the inventory: the login user, in its own root.
    own = tmp_path / "own"
    inv = inventory(fleet, tmp_path / "inv2.yml", "~/" + own.name, ansible_become=True)
    mine = write_jobs(tmp_path / "b.yml", shell="id -un", become=False)
    since = sudo_log_offset()
    done = run_batch(mine, inv, tmp_path / "state")
    try:
        assert done.returncode == 0, done.stderr
        assert {r["user"] for r in summary(done.stdout)["runs"]} == {None}
        for r in summary(done.stdout)["runs"]:
            out = become_users.nopass.home / own.name / "jobs" / r["jid"] / "stdout"
            assert out.read_text().strip() == NOPASS
        assert sudo_invocations(NOPASS, since) == 0
    finally:
        shutil.rmtree(become_users.nopass.home / own.name, ignore_errors=True)


def test_password_from_the_environment(
    become_fleet: Callable[..., SshFleet],
    become_dir: Callable[[str], Path],
    become_users: BecomeUsers,
    tmp_path: Path,
) -> None:
    fleet = become_fleet(PASS)
    root = become_dir("root")
    inv = inventory(fleet, tmp_path / "inv.yml", root)
    jobs = write_jobs(tmp_path / "jobs.yml", shell="id -un; sleep 1", become=True)
    since = sudo_log_offset()
    done = run_batch(
        jobs, inv, tmp_path / "state", env={"ANSIBLE_BECOME_PASS": become_users.password}
    )
    assert done.returncode == 0, done.stderr
    for r in summary(done.stdout)["runs"]:
        assert (root / "jobs" / r["jid"] / "stdout").read_text().strip() == "root"
    # timestamp_timeout=0: sudo asks every time; it was asked once per host.
    assert sudo_invocations(PASS, since) == len(fleet.hosts)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        (None, "sudo to root: sudo: a password is required; give the password with -K"),
        ("not-the-password", "sudo to root: incorrect password (tried once"),
    ],
)
def test_no_or_wrong_password_fails_at_once_with_nothing_left(
    become_fleet: Callable[..., SshFleet],
    become_dir: Callable[[str], Path],
    tmp_path: Path,
    password: str | None,
    reason: str,
) -> None:
    fleet = become_fleet(PASS)
    root = become_dir("root")
    inv = inventory(fleet, tmp_path / "inv.yml", root)
    jobs = write_jobs(
        tmp_path / "jobs.yml", shell="touch /tmp/never", become=True, retries=3, retry_delay=0
    )
    env = {} if password is None else {"ANSIBLE_BECOME_PASS": password}
    since = sudo_log_offset()
    started = time.monotonic()
    done = run_batch(jobs, inv, tmp_path / "state", env=env)
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    runs = summary(done.stdout)["runs"]
    assert {r["state"] for r in runs} == {"failed"}
    for r in runs:
        assert r["reason"].startswith(f"launch failed: {reason}"), r["reason"]
    assert not any(root.iterdir()), "a job directory was made"
    # Three retries each, yet one sudo per host: a wrong password is tried once.
    assert sudo_invocations(PASS, since) == len(fleet.hosts)
    assert took < 30, f"{took:.1f}s"
    if password:
        assert password not in done.stdout + done.stderr


def test_a_user_without_sudo_is_told_so(
    become_fleet: Callable[..., SshFleet],
    become_dir: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    fleet = become_fleet(NOSUDO)
    root = become_dir("root")
    inv = inventory(fleet, tmp_path / "inv.yml", root)
    jobs = write_jobs(tmp_path / "jobs.yml", shell="true", become=True)
    done = run_batch(jobs, inv, tmp_path / "state")
    assert done.returncode == 1
    for r in summary(done.stdout)["runs"]:
        assert r["reason"] == (
            "launch failed: sudo to root refused: jtb-nosudo is not in the sudoers file."
        )
    assert not any(root.iterdir())


def test_a_batch_remembers_its_become_for_status_cancel_and_cleanup(
    become_fleet: Callable[..., SshFleet],
    become_dir: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    fleet = become_fleet(NOPASS)
    root = become_dir("root")
    inv = inventory(fleet, tmp_path / "inv.yml", root)  # no ansible_become in it
    jobs = write_jobs(tmp_path / "jobs.yml", shell="sleep 60", become=True, poll=0)
    state = ["--state-dir", str(tmp_path / "state")]
    done = jobtui("run", str(jobs), "-i", str(inv), "--headless", "--json", *state)
    assert done.returncode == 0, done.stderr
    batch = summary(done.stdout)["batch"]
    # No -b: the local store says this batch became root on these hosts.
    seen = jobtui("status", "-i", str(inv), "--json", "--batch", batch, *state)
    assert seen.returncode == 0, seen.stderr
    runs = json.loads(seen.stdout)["runs"]
    assert {(r["host"], r["state"], r["user"]) for r in runs} == {
        (h.name, "running", "root") for h in fleet.hosts
    }
    # Another state dir knows nothing of it: only the login user's runs are seen.
    other = ["--state-dir", str(tmp_path / "other")]
    blind = jobtui("status", "-i", str(inv), "--json", *other)
    assert blind.returncode == 0, blind.stderr
    assert [r for r in json.loads(blind.stdout)["runs"] if r["batch"] == batch] == []
    stop = jobtui("cancel", "-i", str(inv), "--batch", batch, *state)
    assert stop.returncode == 0, stop.stderr
    gone = jobtui("cleanup", "-i", str(inv), "--batch", batch, *state)
    assert gone.returncode == 0, gone.stderr
    assert not any((root / "jobs").iterdir())
