"""The groundwork of the become tests: real users, real sudo, through a real sshd fleet.

Each test logs in with the OpenSSH client (or paramiko) as one of the users of
tests/becomeusers.py and checks what sudo does for it, and that the sudo log counts
every invocation.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.becomeusers import (
    NOPASS,
    NOSUDO,
    PASS,
    SUDOERS_PATH,
    SVC,
    BecomeUsers,
    acquire,
    release,
    sudo_invocations,
    sudo_log,
    sudo_log_offset,
)
from tests.sshfleet import FleetError, FleetHost, SshFleet, ssh_command, ssh_exec
from tests.test_sshfleet import connect

pytest_plugins = ["tests.fixtures_become"]
pytestmark = pytest.mark.ssh

REPO = Path(__file__).resolve().parent.parent


def run(host: FleetHost, command: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``command`` on ``host`` through /usr/bin/ssh, ``stdin`` fed to it; text output."""
    return subprocess.run(
        ssh_command(host, command),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_accounts_and_drop_in(become_users: BecomeUsers) -> None:
    for user, shell in (
        (become_users.nopass, "/bin/sh"),
        (become_users.withpass, "/bin/sh"),
        (become_users.nosudo, "/bin/sh"),
        (become_users.svc, "/usr/sbin/nologin"),
    ):
        entry = pwd.getpwnam(user.name)
        assert entry.pw_uid != 0
        assert entry.pw_shell == shell
        assert user.home.is_dir()
    assert become_users.password
    mode = SUDOERS_PATH.stat().st_mode & 0o7777
    assert mode == 0o440
    assert subprocess.run(["visudo", "-c"], capture_output=True, check=False).returncode == 0


def test_login_as_each_user(become_fleet: Callable[..., SshFleet]) -> None:
    for user in (NOPASS, PASS, NOSUDO):
        fleet = become_fleet(user)
        for host in fleet.hosts:
            started = time.monotonic()
            _, out = ssh_exec(host, "id -un; pwd", check=True)
            elapsed = time.monotonic() - started
            assert out.split() == [user, pwd.getpwnam(user).pw_dir]
            assert elapsed < 5, f"login as {user} took {elapsed:.1f}s"
        inventory = yaml.safe_load(fleet.write_inventory(fleet.base_dir / "inv.yml").read_text())
        assert inventory["all"]["vars"]["ansible_user"] == user
        # the default jobtui_dir of every host can be made by the user
        host = fleet.hosts[0]
        ssh_exec(host, f"mkdir -p {host.jobtui_dir} && rmdir {host.jobtui_dir}", check=True)


def test_nopass_sudo_to_root_and_service_user(become_fleet: Callable[..., SshFleet]) -> None:
    fleet = become_fleet(NOPASS)
    host = fleet.hosts[0]
    since = sudo_log_offset()
    assert ssh_exec(host, "sudo -n id -un", check=True)[1] == "root\n"
    assert ssh_exec(host, f"sudo -n -u {SVC} id -un", check=True)[1] == f"{SVC}\n"
    assert sudo_invocations(NOPASS, since) == 2
    entries = sudo_log(since, NOPASS)
    assert [(e.user, e.problem, e.runas, e.command) for e in entries] == [
        (NOPASS, None, "root", "/usr/bin/id -un"),
        (NOPASS, None, SVC, "/usr/bin/id -un"),
    ]


def test_nopass_sudo_through_paramiko(become_fleet: Callable[..., SshFleet]) -> None:
    fleet = become_fleet(NOPASS)
    host = fleet.hosts[-1]
    since = sudo_log_offset()
    client = connect(fleet, host)
    try:
        _, stdout, _ = client.exec_command("sudo -n id -un", timeout=10)
        assert stdout.read() == b"root\n"
        assert stdout.channel.recv_exit_status() == 0
    finally:
        client.close()
    assert sudo_invocations(NOPASS, since) == 1


def test_pass_user_needs_its_password(
    become_fleet: Callable[..., SshFleet], become_users: BecomeUsers
) -> None:
    fleet = become_fleet(PASS)
    host = fleet.hosts[0]
    since = sudo_log_offset()

    refused = run(host, "sudo -n true")
    assert refused.returncode == 1
    assert "a password is required" in refused.stderr

    for _ in range(2):  # timestamp_timeout=0: asked every time, not remembered
        allowed = run(host, "sudo -S -p '' id -un", stdin=become_users.password + "\n")
        assert (allowed.returncode, allowed.stdout) == (0, "root\n"), allowed.stderr

    wrong = run(host, "sudo -S -p '' id -un", stdin="not-the-password\n")
    assert wrong.returncode == 1
    assert wrong.stdout == ""
    assert "Sorry, try again" in wrong.stderr
    assert "incorrect password attempt" in wrong.stderr

    entries = sudo_log(since, PASS)
    assert sudo_invocations(PASS, since) == 4
    assert [e.problem for e in entries] == [
        "a password is required",
        None,
        None,
        "1 incorrect password attempt",
    ]
    # the password goes to sudo's stdin only: never into the log
    assert become_users.password not in "".join(e.line for e in entries)


def test_nosudo_user_is_refused(become_fleet: Callable[..., SshFleet]) -> None:
    fleet = become_fleet(NOSUDO)
    host = fleet.hosts[0]
    since = sudo_log_offset()
    for command in ("sudo -n true", f"sudo -n -u {SVC} id -un"):
        refused = run(host, command)
        assert refused.returncode == 1
        assert refused.stdout == ""
        assert f"{NOSUDO} is not in the sudoers file" in refused.stderr
    assert sudo_invocations(NOSUDO, since) == 2
    assert {e.problem for e in sudo_log(since, NOSUDO)} == {"user NOT in sudoers"}


def test_become_dir_belongs_to_its_owner(
    become_dir: Callable[[str], Path], become_users: BecomeUsers
) -> None:
    path = become_dir(SVC)
    st = path.stat()
    assert (st.st_uid, st.st_mode & 0o777) == (become_users.svc.uid, 0o700)
    # every user can reach it (its parents are searchable)
    assert all(parent.stat().st_mode & 0o001 for parent in path.parents)


def test_holders_are_counted_and_a_dead_one_is_pruned(become_users: BecomeUsers) -> None:
    """Another process (a killed xdist worker, say) holding the users: its release never
    comes; the next acquire prunes it, and one more acquire/release pair leaves the
    users in place for the holders still alive."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; sys.path.insert(0, sys.argv[1]); "
            "from tests.becomeusers import acquire; acquire(); print('held', flush=True); "
            "time.sleep(60)",
            str(REPO),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "held\n"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    again = acquire()
    release()
    assert again.password == become_users.password
    assert pwd.getpwnam(NOPASS).pw_uid == become_users.nopass.uid
    assert SUDOERS_PATH.exists()


def test_fleet_as_another_user_must_be_reachable(become_users: BecomeUsers, tmp_path: Path) -> None:
    """pytest's tmp_path is under a 0700 directory: sshd could not read the user's
    authorized_keys there, which the fleet says instead of failing every login."""
    fleet = SshFleet(tmp_path / "fleet", user=become_users.nopass.name)
    with pytest.raises(FleetError, match="cannot search"):
        fleet.start(1)
    assert fleet.hosts == []
