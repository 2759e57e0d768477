"""Shared pytest fixtures: a fleet of real OpenSSH sshd processes on loopback.

- ``ssh_fleet`` (session): three hosts, started once for the whole run.
- ``fleet_jobtui_dirs`` / ``fleet_inventory`` (function): an Ansible inventory of those
  hosts whose ``jobtui_dir`` values are fresh directories under the test's
  ``tmp_path``, so no test sees another test's jobs.
- ``make_fleet`` (function): a factory for a dedicated fleet, for tests that stop or
  restart hosts (stopped at teardown).
- ``black_hole`` (function): a loopback TCP server that accepts and never speaks.

Tests using any of them get the ``ssh`` marker (``pytest -m "not ssh"`` skips them).
Without sshd they are skipped, except under CI (``CI=true``) where that is an error.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import describe_process, processes_using, wait_until
from tests.sshfleet import SshFleet, ssh_client_path, ssh_keygen_path, sshd_path

FLEET_SIZE = 3
_FLEET_FIXTURES = frozenset({"ssh_fleet", "fleet_inventory", "fleet_jobtui_dirs", "make_fleet"})


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``ssh`` marker."""
    config.addinivalue_line(
        "markers", "ssh: uses real sshd processes on loopback (tests/sshfleet.py)"
    )


_left_behind: list[str] = []
"""What `nothing_is_left_behind` found, for `pytest_sessionfinish`."""


@pytest.fixture(scope="session", autouse=True)
def nothing_is_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fail the session if a process it started outlives it: an end watcher reading a
    FIFO under this session's temp dir, a supervisor or a job of one of its runs,
    anything whose files, working directory or command line lie there.

    Only this session's base temp dir counts: other pytest sessions on the machine have
    their own. A test that leaves a job running on purpose ends it itself. What is
    found is reported, then killed, so it does not linger either.
    """
    base = tmp_path_factory.getbasetemp().resolve()
    yield
    # Runs end asynchronously (a supervisor records the end, then exits): a moment.
    wait_until(lambda: processes_using(base) == [], 5)
    left = processes_using(base)
    if not left:
        return
    _left_behind.extend(describe_process(pid) for pid in left)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):  # ended meanwhile: nothing to end
            os.kill(pid, signal.SIGKILL)
    pytest.fail(
        f"{len(left)} process(es) started by the tests outlived them (killed now):\n"
        + "\n".join(_left_behind),
        pytrace=False,
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A session that left processes behind fails, whatever its tests said."""
    if _left_behind and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a fleet fixture with ``ssh``."""
    for item in items:
        if _FLEET_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.ssh)


def require_openssh() -> None:
    """Skip (or, under CI, fail) when the OpenSSH server or client is not installed."""
    missing = [
        name
        for name, path in (
            ("sshd (openssh-server)", sshd_path()),
            ("ssh-keygen (openssh-client)", ssh_keygen_path()),
            ("ssh (openssh-client)", ssh_client_path()),
        )
        if path is None
    ]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed: the SSH tests need a real OpenSSH"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            f"{message}. Run the test command from the README, which installs "
            "openssh-server and openssh-client.",
            pytrace=False,
        )
    pytest.skip(f"{message} (install openssh-server to run them)")


@pytest.fixture(scope="session")
def ssh_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshFleet]:
    """A fleet of three sshd hosts shared by the whole test session (``.hosts``)."""
    require_openssh()
    fleet = SshFleet(tmp_path_factory.mktemp("sshfleet"))
    try:
        fleet.start(FLEET_SIZE)
        yield fleet
    finally:
        fleet.stop_all()


@pytest.fixture
def fleet_jobtui_dirs(ssh_fleet: SshFleet, tmp_path: Path) -> dict[str, Path]:
    """Per-host ``jobtui_dir`` for this test: ``<tmp_path>/jobtui/<host>/jobtui`` (not created)."""
    return {h.name: tmp_path.resolve() / "jobtui" / h.name / "jobtui" for h in ssh_fleet.hosts}


@pytest.fixture
def fleet_inventory(
    ssh_fleet: SshFleet, fleet_jobtui_dirs: dict[str, Path], tmp_path: Path
) -> Path:
    """``<tmp_path>/inventory.yml`` for the session fleet, group ``fleet``.

    Each host's ``jobtui_dir`` is this test's own (see ``fleet_jobtui_dirs``), so the
    shared fleet never shows a test the jobs of another.
    """
    return ssh_fleet.write_inventory(
        tmp_path / "inventory.yml",
        host_vars={name: {"jobtui_dir": str(path)} for name, path in fleet_jobtui_dirs.items()},
    )


@pytest.fixture
def make_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., SshFleet]]:
    """Factory: ``make_fleet(count=2, first_octet=2)`` starts a dedicated fleet.

    For tests that stop, restart or otherwise disturb hosts. Every fleet it made is
    stopped at teardown, whatever the test's outcome.
    """
    require_openssh()
    fleets: list[SshFleet] = []

    def factory(count: int = 2, first_octet: int = 2) -> SshFleet:
        fleet = SshFleet(tmp_path_factory.mktemp("fleet"))
        fleets.append(fleet)
        fleet.start(count, first_octet)
        return fleet

    try:
        yield factory
    finally:
        for fleet in fleets:
            fleet.stop_all()


@pytest.fixture
def black_hole() -> Iterator[tuple[str, int]]:
    """A TCP server on loopback that accepts and never says a word."""
    srv = socket.socket()
    srv.bind(("127.0.0.40", 0))
    srv.listen(16)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except TimeoutError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()
    stop.set()
    t.join()
    for c in conns:
        c.close()
    srv.close()
