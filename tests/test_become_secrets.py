"""The sudo password of become runs: it reaches sudo's stdin and nothing else, whether
it comes from ANSIBLE_BECOME_PASS, the inventory or -K on a real terminal (a pty).

The hosts of these fleets are this machine, so "on the host" is here: every process's
argv and environment, every file of the job root, the sudo log.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.becomeusers import PASS, SUDO_LOG, BecomeUsers, sudo_invocations, sudo_log_offset
from tests.helpers import wait_until
from tests.sshfleet import SshFleet
from tests.test_become_run import REPO, inventory, jobtui, summary, write_jobs

pytest_plugins = ["tests.fixtures_become"]
pytestmark = pytest.mark.ssh

Become = Callable[..., SshFleet]
Dirs = Callable[[str], Path]
ENV = "ANSIBLE_BECOME_PASS"
CLI = (sys.executable, "-m", "jobtui")
PROMPT = b"BECOME password: "


def at(state: Path) -> tuple[str, str]:
    return ("--state-dir", str(state))


def is_jobtui_cli(pid: int) -> bool:
    """`python -m jobtui ...`: a console an operator started (this test's, or another
    test's running beside it), which holds the password it was given on purpose."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return argv[1:3] == [b"-m", b"jobtui"]


def leaks(password: str, exempt: bool = True) -> list[str]:
    """Every process of the machine whose argv or environment holds `password`.

    One exception, and only it: the `ANSIBLE_BECOME_PASS=<password>` entry in the
    environment of a jobtui CLI process (`is_jobtui_cli`), because that is where the
    operator put it: jobtui cannot take it out of its own initial environment (Linux
    keeps /proc/PID/environ as exec'd). Its argv is checked, and the rest of its
    environment. A process it started (an ssh ProxyCommand, a notify hook) is not
    exempt: had it inherited the variable, it would be a leak. The test runner's own
    environment never held the password (the CLI is given it in its child's `env`
    only), so it is not exempt either.
    """
    secret = password.encode()
    given = f"{ENV}={password}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        if exempt and is_jobtui_cli(int(entry.name)):
            environ = [e for e in environ if e != given]
        if secret in argv:
            found.append(f"argv of {entry.name}: {argv!r}")
        if any(secret in e for e in environ):
            found.append(f"environ of {entry.name}: {argv!r}")
    return found


# The child makes the pty its controlling terminal (it leads a session of its own), so
# that getpass opens it as /dev/tty, as on an operator's terminal; then it is the CLI.
ON_TTY = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def on_a_terminal(
    argv: list[str], answer: str, seen: list[str], timeout: float = 90
) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its terminal (stdin, stdout, stderr and
    /dev/tty); type `answer` and Enter at each "BECOME password: ", and look for it in
    every process (`leaks`, into `seen`) until the CLI ends. Returns the exit status
    and everything the terminal showed (CRLF made LF)."""
    master, slave = os.openpty()
    base = {k: v for k, v in os.environ.items() if k != ENV}
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", ON_TTY, "-m", "jobtui", *argv],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            env={**base, "TERM": "dumb"},
            cwd=REPO,
        )
    finally:
        os.close(slave)
    shown = b""
    answered = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if shown.count(PROMPT) > answered:
                os.write(master, answer.encode() + b"\n")
                answered += 1
            if answered:
                seen += leaks(answer)
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every holder of the slave side closed it
                break
            if not chunk:
                break
            shown += chunk
        code = child.wait(max(1.0, deadline - time.monotonic()))
    finally:
        child.kill()
        child.wait()
        os.close(master)
    return code, shown.decode("utf-8", "replace").replace("\r\n", "\n")


def json_summary(shown: str) -> dict[str, Any]:
    """The summary among the terminal's lines (the prompt's line is not JSON)."""
    return summary("\n".join(ln for ln in shown.splitlines() if ln.startswith("{")))


def files_holding(secret: str, *roots: Path) -> list[str]:
    """Files under `roots` (or `roots` themselves) with `secret` in any byte."""
    needle = secret.encode()
    found = []
    for root in roots:
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if path.is_file() and needle in path.read_bytes():
                found.append(str(path))
    return found


def test_the_password_from_the_environment_is_in_no_process_file_output_or_log(
    become_fleet: Become, become_dir: Dirs, become_users: BecomeUsers, tmp_path: Path
) -> None:
    fleet = become_fleet(PASS)
    password = become_users.password
    root = become_dir("root")
    inv = inventory(fleet, tmp_path / "inv.yml", root)
    jobs = write_jobs(tmp_path / "jobs.yml", shell="sleep 5; id -un", become=True)
    state = tmp_path / "state"
    base = {k: v for k, v in os.environ.items() if k != ENV}
    out, err = tmp_path / "out.json", tmp_path / "err.txt"
    log_from = sudo_log_offset()
    with out.open("w") as stdout, err.open("w") as stderr:
        cli = subprocess.Popen(
            [*CLI, "run", str(jobs), "-i", str(inv), "--headless", "--json", *at(state)],
            stdout=stdout,
            stderr=stderr,
            env={**base, ENV: password},
            cwd=REPO,
        )
        try:
            # From the launch (sudo being started) to the batch's end: look again and
            # again, so a password passed briefly through an argv is seen too.
            seen: list[str] = []
            scans = 0
            # The scan sees what it looks for: the CLI's own variable, when not exempt.
            assert wait_until(lambda: f"environ of {cli.pid}:" in " ".join(leaks(password, False)))
            deadline = time.monotonic() + 60
            while cli.poll() is None and time.monotonic() < deadline:
                seen += leaks(password)
                scans += 1
                with contextlib.suppress(subprocess.TimeoutExpired):
                    cli.wait(0.02)
        finally:
            cli.kill()
            cli.wait()
    assert cli.returncode == 0, err.read_text()
    assert seen == [], seen
    assert scans > 10
    runs = summary(out.read_text())["runs"]
    assert {(r["state"], r["user"]) for r in runs} == {("succeeded", "root")}
    # After the batch: not in the store or anything else of the state dir, not in the
    # JSON, stderr, any file of the job root, nor in the sudo log.
    assert files_holding(password, state, out, err, root, SUDO_LOG) == []
    assert sudo_invocations(PASS, log_from) == len(fleet.hosts)


def test_the_password_from_the_inventory_works_and_is_not_stored(
    become_fleet: Become, become_dir: Dirs, become_users: BecomeUsers, tmp_path: Path
) -> None:
    fleet = become_fleet(PASS)
    password = become_users.password
    root = become_dir("root")
    inv = inventory(fleet, tmp_path / "inv.yml", root, ansible_become_password=password)
    jobs = write_jobs(tmp_path / "jobs.yml", shell="id -un", become=True)
    state = tmp_path / "state"
    since = sudo_log_offset()
    done = jobtui(
        "run", str(jobs), "-i", str(inv), "--headless", "--json", "--state-dir", str(state)
    )
    assert done.returncode == 0, done.stderr
    runs = summary(done.stdout)["runs"]
    assert {(r["state"], r["user"]) for r in runs} == {("succeeded", "root")}
    for r in runs:
        assert (root / "jobs" / r["jid"] / "stdout").read_text().strip() == "root"
    assert sudo_invocations(PASS, since) == len(fleet.hosts)
    assert list(state.glob("jobtui.db*")), "no store"
    assert files_holding(password, state) == []
    assert password not in done.stdout + done.stderr
    assert files_holding(password, root) == []


def test_ask_become_pass_on_a_terminal_asks_once_and_the_batch_runs_as_root(
    become_fleet: Become, become_dir: Dirs, become_users: BecomeUsers, tmp_path: Path
) -> None:
    fleet = become_fleet(PASS)
    password = become_users.password
    root = become_dir("root")
    inv = inventory(fleet, tmp_path / "inv.yml", root)
    jobs = write_jobs(tmp_path / "jobs.yml", shell="id -un", become=True, loop=["a", "b"])
    state = tmp_path / "state"
    since = sudo_log_offset()
    argv = ["run", str(jobs), "-i", str(inv), "-K", "--headless", "--json", *at(state)]
    seen: list[str] = []
    code, shown = on_a_terminal(argv, password, seen)
    assert seen == [], seen
    assert code == 0, shown
    # Asked once for the batch: two hosts, two runs each.
    assert shown.count(PROMPT.decode()) == 1, shown
    assert password not in shown  # not echoed
    runs = json_summary(shown)["runs"]
    assert len(runs) == 2 * len(fleet.hosts)
    assert {(r["state"], r["user"]) for r in runs} == {("succeeded", "root")}
    for r in runs:
        assert (root / "jobs" / r["jid"] / "stdout").read_text().strip() == "root"
    assert sudo_invocations(PASS, since) == len(fleet.hosts)
    assert files_holding(password, state, root) == []


def test_a_wrong_password_on_a_terminal_fails_the_runs_after_one_sudo_per_host(
    become_fleet: Become, become_dir: Dirs, tmp_path: Path
) -> None:
    fleet = become_fleet(PASS)
    root = become_dir("root")
    inv = inventory(fleet, tmp_path / "inv.yml", root)
    jobs = write_jobs(tmp_path / "jobs.yml", shell="true", become=True, retries=2, retry_delay=0)
    since = sudo_log_offset()
    state = tmp_path / "state"
    argv = ["run", str(jobs), "-i", str(inv), "-K", "--headless", "--json", *at(state)]
    seen: list[str] = []
    code, shown = on_a_terminal(argv, "not-the-password", seen)
    assert seen == [], seen
    assert code == 1, shown
    assert shown.count(PROMPT.decode()) == 1, shown
    assert "not-the-password" not in shown and "Traceback" not in shown
    runs = json_summary(shown)["runs"]
    assert {r["state"] for r in runs} == {"failed"}
    for r in runs:
        assert "sudo to root: incorrect password" in r["reason"], r["reason"]
    assert sudo_invocations(PASS, since) == len(fleet.hosts)
    assert not any(root.iterdir())
    assert files_holding("not-the-password", state, SUDO_LOG) == []


def launched_with_the_inventorys_password(
    fleet: SshFleet, root: Path, password: str, tmp_path: Path
) -> tuple[str, Path]:
    """A become batch launched and left (poll 0), its password from the inventory;
    returns the batch and its state dir."""
    inv = inventory(fleet, tmp_path / "inv.yml", root, ansible_become_password=password)
    jobs = write_jobs(tmp_path / "jobs.yml", shell="id -un", become=True, poll=0)
    state = tmp_path / "state"
    done = jobtui("run", str(jobs), "-i", str(inv), "--headless", "--json", *at(state))
    assert done.returncode == 0, done.stderr
    return summary(done.stdout)["batch"], state


def test_attach_of_a_batch_whose_inventory_is_gone_takes_the_password_from_minus_k(
    become_fleet: Become, become_dir: Dirs, become_users: BecomeUsers, tmp_path: Path
) -> None:
    fleet = become_fleet(PASS)
    root = become_dir("root")
    password = become_users.password
    batch, state = launched_with_the_inventorys_password(fleet, root, password, tmp_path)
    # The inventory is gone since: attach cannot find the password there again.
    (tmp_path / "inv.yml").unlink()
    since = sudo_log_offset()
    seen: list[str] = []
    argv = ["attach", batch, "-K", "--headless", "--json", *at(state)]
    code, shown = on_a_terminal(argv, password, seen)
    assert code == 0, shown
    assert seen == [] and password not in shown
    assert shown.count(PROMPT.decode()) == 1, shown
    runs = json_summary(shown)["runs"]
    assert {(r["state"], r["user"]) for r in runs} == {("succeeded", "root")}
    assert sudo_invocations(PASS, since) == len(fleet.hosts)
    assert files_holding(password, state) == []


def test_attach_of_a_batch_whose_password_was_the_inventorys_finds_it_there_again(
    become_fleet: Become, become_dir: Dirs, become_users: BecomeUsers, tmp_path: Path
) -> None:
    fleet = become_fleet(PASS)
    root = become_dir("root")
    password = become_users.password
    batch, state = launched_with_the_inventorys_password(fleet, root, password, tmp_path)
    since = sudo_log_offset()
    done = jobtui("attach", batch, "--headless", "--json", *at(state))
    runs = summary(done.stdout)["runs"]
    assert {(r["state"], r["user"]) for r in runs} == {("succeeded", "root")}, runs[0]["reason"]
    assert done.returncode == 0, done.stderr
    assert sudo_invocations(PASS, since) == len(fleet.hosts)
    assert files_holding(password, state) == []
