"""Fixtures for the become (sudo) tests: real local users, sshd fleets logged in as them.

A test module uses them with::

    pytest_plugins = ["tests.fixtures_become"]
    pytestmark = pytest.mark.ssh

- ``become_users`` (session): the accounts of tests/becomeusers.py (``.nopass``,
  ``.withpass``, ``.nosudo``, ``.svc``, ``.password``), made once and shared with the
  other xdist workers and sessions; removed by the last one.
- ``become_fleet`` (function): ``become_fleet("jtb-nopass")`` (or ``jtb-pass``,
  ``jtb-nosudo``; ``count=2`` hosts) returns an :class:`SshFleet` logging in as that
  user, started once per session and user, and locks that user for the rest of the test
  (:func:`tests.becomeusers.user_lock`), so that ``sudo_invocations(user, since)`` counts
  this test's sudo invocations only. Do not stop its hosts (``make_fleet`` is for that):
  a host found down is restarted for the next test.
- ``become_dir`` (function): ``become_dir("jtb-svc")`` is a fresh directory owned by
  that user (0700) in a directory every user can reach: a ``jobtui_dir`` / ``jobtui_root``
  for a run as that user (pytest's ``tmp_path`` is under a 0700 directory).

Skipped when not root or sudo/useradd are missing, except under CI (``CI=true``) as
root, where a missing sudo is an error (scripts/test.sh installs it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.becomeusers import (
    LOGIN_USERS,
    BecomeUsers,
    acquire,
    release,
    unavailable_reason,
    user_lock,
)
from tests.conftest import require_openssh
from tests.helpers import describe_process, processes_using, wait_until
from tests.sshfleet import SshFleet

BECOME_FLEET_SIZE = 2


@pytest.fixture(scope="session")
def become_users() -> Iterator[BecomeUsers]:
    """The become test accounts, set up (once per machine while any session uses them)."""
    reason = unavailable_reason()
    if reason is not None:
        if os.geteuid() == 0 and os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}: run scripts/test.sh, which installs sudo", pytrace=False)
        pytest.skip(reason)
    users = acquire()
    try:
        yield users
    finally:
        release()


@pytest.fixture(scope="session")
def become_root_dir(become_users: BecomeUsers) -> Iterator[Path]:
    """``/tmp/jobtui-become-XXXX`` (0711): the become fleets and directories live here.

    At the end, a process still using it (a job, a supervisor) fails the session; it is
    killed, and the directory removed.
    """
    root = Path(tempfile.mkdtemp(prefix="jobtui-become-", dir="/tmp")).resolve()
    root.chmod(0o711)
    try:
        yield root
        wait_until(lambda: processes_using(root) == [], 5)
        left = processes_using(root)
        if left:
            described = [describe_process(pid) for pid in left]
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            pytest.fail(
                f"{len(left)} process(es) of the become tests outlived them (killed now):\n"
                + "\n".join(described),
                pytrace=False,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def become_fleets(become_root_dir: Path) -> Iterator[dict[tuple[str, int], SshFleet]]:
    """The session's fleets by (login user, host count); see ``become_fleet``."""
    fleets: dict[tuple[str, int], SshFleet] = {}
    try:
        yield fleets
    finally:
        for fleet in fleets.values():
            fleet.stop_all()


@pytest.fixture
def become_fleet(
    become_fleets: dict[tuple[str, int], SshFleet], become_root_dir: Path
) -> Iterator[Callable[..., SshFleet]]:
    """Factory ``become_fleet(user, count=2)``: a fleet logged in as ``user``; the user
    is locked for this test (locks are held in name order: no deadlock between tests
    asking for several users)."""
    require_openssh()
    held: dict[str, contextlib.ExitStack] = {}

    def lock(user: str) -> None:
        if user in held:
            return
        later = sorted(name for name in held if name > user)
        for name in later:
            held.pop(name).close()
        for name in [user, *later]:
            stack = contextlib.ExitStack()
            stack.enter_context(user_lock(name))
            held[name] = stack

    def factory(user: str, count: int = BECOME_FLEET_SIZE) -> SshFleet:
        if user not in LOGIN_USERS:
            raise ValueError(f"{user!r} is not a login user of the become tests {LOGIN_USERS}")
        lock(user)
        fleet = become_fleets.get((user, count))
        if fleet is None:
            fleet = SshFleet(become_root_dir / f"fleet-{user}-{count}", user=user)
            become_fleets[(user, count)] = fleet
            fleet.start(count)
        for host in fleet.hosts:
            if not host.is_running():
                host.restart()
        return fleet

    try:
        yield factory
    finally:
        for stack in reversed(list(held.values())):
            stack.close()


@pytest.fixture
def become_dir(become_users: BecomeUsers, become_root_dir: Path) -> Callable[[str], Path]:
    """Factory ``become_dir(owner)``: a new empty directory owned by ``owner`` (0700)."""
    parent = become_root_dir / "dirs"
    parent.mkdir(mode=0o711, exist_ok=True)

    def factory(owner: str) -> Path:
        user = become_users[owner] if owner != "root" else None
        path = Path(tempfile.mkdtemp(dir=parent, prefix=f"{owner}-"))
        if user is not None:
            os.chown(path, user.uid, user.gid)
        return path

    return factory
