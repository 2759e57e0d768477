"""Real local users and a sudoers drop-in for the become (sudo) tests.

Creates, idempotently, four non-root accounts on this machine (root only):

- ``jtb-nopass``: sudo to any user without a password (``NOPASSWD``);
- ``jtb-pass``: sudo to any user with its password (random per setup, see
  :attr:`BecomeUsers.password`); ``timestamp_timeout=0``: every sudo asks again;
- ``jtb-nosudo``: no sudo at all; refused at once (``!authenticate``: sudo says
  "jtb-nosudo is not in the sudoers file." instead of asking for a password first), so
  that the refusal is logged and counted;
- ``jtb-svc``: a service user (``/usr/sbin/nologin``, a home), the target of
  ``become_user``.

The login users have ``/bin/sh`` (dash: no rc file is read for ``sh -c``, so logins
are fast), a home, and a password field sshd accepts with ``UsePAM no`` (``*``, or
jtb-pass's hash). Every account made here carries :data:`MARKER` as its GECOS field;
an account of the same name without it is never touched (:class:`BecomeError`).

sudo logs every invocation of the three login users, one line each, to
:data:`SUDO_LOG` (``Defaults logfile``; ``loglinelen=0``: no wrapped lines; no
syslog). :func:`sudo_log` parses it, :func:`sudo_invocations` counts.

Sharing: every process that uses the users (pytest-xdist workers, other pytest
sessions on the machine) calls :func:`acquire` and later :func:`release`. Under an
exclusive ``flock`` on ``/run/jobtui-tests-become/lock`` a state file lists the live
holders (pid and start time, so a holder killed -9 is pruned by the next caller): the
first holder sets everything up, the last one removes the users it made (their
processes killed first, homes removed), the drop-in, the log and the state.

:func:`user_lock` is an exclusive per-user lock for a test's duration, so that a
count of one user's sudo invocations sees only that test's.

A plain module with no pytest import (like sshfleet.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LOGIN_USERS",
    "MARKER",
    "NOPASS",
    "NOSUDO",
    "PASS",
    "SUDOERS_PATH",
    "SUDO_LOG",
    "SVC",
    "BecomeError",
    "BecomeUser",
    "BecomeUsers",
    "SudoLogEntry",
    "acquire",
    "release",
    "sudo_invocations",
    "sudo_log",
    "sudo_log_offset",
    "unavailable_reason",
    "user_lock",
]

NOPASS = "jtb-nopass"
PASS = "jtb-pass"
NOSUDO = "jtb-nosudo"
SVC = "jtb-svc"
#: The users a fleet can log in as (jtb-svc has no login shell).
LOGIN_USERS = (NOPASS, PASS, NOSUDO)
#: GECOS field of every account made here: what teardown removes, what setup may reuse.
MARKER = "jobtui become test user (tests/becomeusers.py)"

SUDOERS_PATH = Path("/etc/sudoers.d/jobtui-tests")
SUDO_LOG = Path("/var/log/jobtui-tests-sudo.log")
STATE_DIR = Path("/run/jobtui-tests-become")
_LOCK = STATE_DIR / "lock"
_STATE = STATE_DIR / "state.json"
_SUDO_TIMESTAMPS = Path("/run/sudo/ts")

_SHELLS = {NOPASS: "/bin/sh", PASS: "/bin/sh", NOSUDO: "/bin/sh", SVC: "/usr/sbin/nologin"}

SUDOERS = f"""\
# jobtui tests (tests/becomeusers.py): removed when the last test session using it ends.
Defaults:{NOPASS}, {PASS}, {NOSUDO} logfile={SUDO_LOG}, loglinelen=0, !syslog
Defaults:{NOPASS}, {PASS}, {NOSUDO} !mail_badpass, !mail_no_user, !mail_no_perms, !mail_always
Defaults:{NOPASS} !requiretty
Defaults:{PASS} !requiretty, timestamp_timeout=0
Defaults:{NOSUDO} !authenticate
{NOPASS} ALL=(ALL:ALL) NOPASSWD: ALL
{PASS} ALL=(ALL:ALL) ALL
"""


class BecomeError(RuntimeError):
    """The become users could not be set up or removed."""


@dataclass(frozen=True)
class BecomeUser:
    """One account made here; ``password`` only for jtb-pass."""

    name: str
    uid: int
    gid: int
    home: Path
    password: str | None = None


@dataclass(frozen=True)
class BecomeUsers:
    """The four accounts, set up; ``password`` is jtb-pass's."""

    nopass: BecomeUser
    withpass: BecomeUser
    nosudo: BecomeUser
    svc: BecomeUser

    @property
    def password(self) -> str:
        """jtb-pass's sudo (and login) password."""
        assert self.withpass.password is not None
        return self.withpass.password

    def __getitem__(self, name: str) -> BecomeUser:
        for user in (self.nopass, self.withpass, self.nosudo, self.svc):
            if user.name == name:
                return user
        raise KeyError(name)


def unavailable_reason() -> str | None:
    """Why the become users cannot be made here (not root, a tool missing), or None."""
    if os.geteuid() != 0:
        return "the become tests create local users and a sudoers drop-in: they need root"
    missing = [
        tool
        for tool in ("sudo", "visudo", "useradd", "userdel", "usermod", "chpasswd")
        if _which(tool) is None
    ]
    if missing:
        return f"{', '.join(missing)} not installed (apt-get install sudo passwd)"
    return None


def _which(tool: str) -> str | None:
    return shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin:" + os.environ.get("PATH", ""))


def _run(argv: list[str], stdin: str | None = None) -> None:
    tool = _which(argv[0])
    if tool is None:
        raise BecomeError(f"{argv[0]} not found")
    proc = subprocess.run(
        [tool, *argv[1:]],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise BecomeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")


# ---------------------------------------------------------------------------------------
# Lock and holders


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Exclusive flock on ``path``; safe against the file being removed by a holder
    (the lock only counts once the locked inode is still the one at ``path``)."""
    while True:
        STATE_DIR.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (None if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
        return int(raw.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _read_state() -> dict[str, object]:
    try:
        data = json.loads(_STATE.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_state(state: dict[str, object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=STATE_DIR, prefix=".state.")
    with os.fdopen(fd, "w") as fh:
        json.dump(state, fh)
    os.replace(tmp, _STATE)


def _live_holders(state: dict[str, object]) -> list[list[int]]:
    holders = state.get("holders", [])
    assert isinstance(holders, list)
    return [[int(pid), int(start)] for pid, start in holders if _start_time(int(pid)) == int(start)]


def acquire() -> BecomeUsers:
    """Make sure the users and the drop-in exist, register this process as a holder.

    The first holder (no live one registered) sets everything up, with a new jtb-pass
    password; the others read it from the state file (0600 under a 0700 root dir).
    Call :func:`release` once per call.
    """
    reason = unavailable_reason()
    if reason is not None:
        raise BecomeError(reason)
    with _locked(_LOCK):
        state = _read_state()
        holders = _live_holders(state)
        password = state.get("password")
        if not holders or not isinstance(password, str):
            password = secrets.token_urlsafe(18)
            _set_up(password)
        users = _users(password)
        start = _start_time(os.getpid())
        assert start is not None
        holders.append([os.getpid(), start])
        _write_state({"password": password, "holders": holders})
        return users


def release() -> None:
    """Unregister this process; the last holder removes everything :func:`acquire` made."""
    with _locked(_LOCK):
        state = _read_state()
        holders = _live_holders(state)
        for i, (pid, _start) in enumerate(holders):
            if pid == os.getpid():
                del holders[i]
                break
        if holders:
            _write_state({"password": state.get("password"), "holders": holders})
            return
        _tear_down()
        for leftover in STATE_DIR.iterdir():
            leftover.unlink()  # the lock too: _locked() retries on a removed file
    with contextlib.suppress(OSError):
        STATE_DIR.rmdir()


# ---------------------------------------------------------------------------------------
# Setup and teardown


def _ours(name: str) -> pwd.struct_passwd | None:
    """The account ``name`` if it exists and was made here; BecomeError if someone
    else's account has that name."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    if entry.pw_gecos != MARKER:
        raise BecomeError(
            f"user {name!r} exists and was not made by tests/becomeusers.py "
            f"(GECOS {entry.pw_gecos!r}): refusing to change or remove it"
        )
    return entry


def _shadow_field(name: str) -> str:
    with open("/etc/shadow", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            fields = line.split(":")
            if fields[0] == name:
                return fields[1]
    return ""


def _set_up(password: str) -> None:
    """Create or repair the four accounts, set jtb-pass's password, install the drop-in."""
    for name, shell in _SHELLS.items():
        entry = _ours(name)
        if entry is None:
            _run(
                [
                    "useradd",
                    "--create-home",
                    "--user-group",
                    "--shell",
                    shell,
                    "--comment",
                    MARKER,
                    "--password",
                    "*",
                    name,
                ]
            )
            entry = pwd.getpwnam(name)
        else:
            if entry.pw_shell != shell:
                _run(["usermod", "--shell", shell, name])
            home = Path(entry.pw_dir)
            if not home.is_dir():
                home.mkdir(mode=0o755, parents=True)
                os.chown(home, entry.pw_uid, entry.pw_gid)
            if name != PASS and _shadow_field(name).startswith("!"):
                _run(["usermod", "--password", "*", name])
        if name == PASS:
            _run(["chpasswd"], stdin=f"{name}:{password}\n")
    _install_sudoers()
    with contextlib.suppress(FileNotFoundError):
        SUDO_LOG.unlink()  # each setup counts from an empty log
    for name in _SHELLS:
        with contextlib.suppress(FileNotFoundError):
            (_SUDO_TIMESTAMPS / name).unlink()


def _install_sudoers() -> None:
    """Write the drop-in, checked with ``visudo -cf`` first; installed 0440 root:root."""
    if SUDOERS_PATH.is_file() and SUDOERS_PATH.read_text() == SUDOERS:
        return
    fd, tmp = tempfile.mkstemp(dir=SUDOERS_PATH.parent, prefix=".jobtui-tests.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(SUDOERS)
        os.chmod(tmp, 0o440)
        _run(["visudo", "-cf", tmp])
        os.replace(tmp, SUDOERS_PATH)  # sudo skips names with a dot: the temp is inert
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _users(password: str) -> BecomeUsers:
    def user(name: str, secret: str | None = None) -> BecomeUser:
        entry = pwd.getpwnam(name)
        return BecomeUser(name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir), secret)

    return BecomeUsers(user(NOPASS), user(PASS, password), user(NOSUDO), user(SVC))


def _processes_of(uids: set[int]) -> list[int]:
    """Pids whose real, effective, saved or filesystem uid is one of ``uids``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", encoding="utf-8") as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        if uids.intersection(int(u) for u in line.split()[1:]):
                            found.append(int(entry.name))
                        break
        except OSError:
            continue
    return found


def _tear_down() -> None:
    """Kill the processes of the accounts made here, remove them (homes too), the
    drop-in, the log and sudo's timestamps."""
    with contextlib.suppress(FileNotFoundError):
        SUDOERS_PATH.unlink()  # first: no new sudo from here on
    entries = {}
    for name in _SHELLS:
        with contextlib.suppress(BecomeError):  # someone else's: not ours to remove
            entry = _ours(name)
            if entry is not None:
                entries[name] = entry
    uids = {e.pw_uid for e in entries.values()}
    deadline = time.monotonic() + 10
    while uids and (pids := _processes_of(uids)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise BecomeError(f"processes of {sorted(entries)} do not die: {pids}")
        time.sleep(0.05)
    for name in entries:
        # userdel warns (status 0) that there is no mail spool; --remove takes the home.
        _run(["userdel", "--remove", name])
    for name in _SHELLS:
        with contextlib.suppress(FileNotFoundError):
            (_SUDO_TIMESTAMPS / name).unlink()
    with contextlib.suppress(FileNotFoundError):
        SUDO_LOG.unlink()


# ---------------------------------------------------------------------------------------
# Per-user test lock


@contextlib.contextmanager
def user_lock(name: str) -> Iterator[None]:
    """Exclusive lock on ``name`` across processes (xdist workers, other sessions), for
    a test that counts that user's sudo invocations. Take it while holding
    :func:`acquire` (teardown removes the lock files)."""
    with _locked(STATE_DIR / f"user-{name}.lock"):
        yield


# ---------------------------------------------------------------------------------------
# The sudo log

_LINE = re.compile(
    r"^(?P<time>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) : (?P<user>[^ ]+) : (?P<rest>.*)$"
)


@dataclass(frozen=True)
class SudoLogEntry:
    """One sudo invocation, as sudo logged it.

    ``problem`` is None for a command sudo ran, else its reason: "a password is
    required", "1 incorrect password attempt", "user NOT in sudoers", ...
    """

    time: str
    user: str
    problem: str | None
    runas: str
    command: str
    line: str


def sudo_log_offset() -> int:
    """The log's current size: pass it as ``since`` to count what comes after."""
    try:
        return SUDO_LOG.stat().st_size
    except FileNotFoundError:
        return 0


def sudo_log(since: int = 0, user: str | None = None) -> list[SudoLogEntry]:
    """The invocations (of ``user``, or anyone) logged after byte ``since`` of
    :data:`SUDO_LOG`, oldest first.

    Lines look like (``loglinelen=0``: never wrapped; no ``TTY=`` without a tty)::

        Dec  1 23:05:08 : jtb-pass : a password is required ; PWD=/home/jtb-pass ; \
USER=root ; COMMAND=/usr/bin/true
        Dec  1 23:05:08 : jtb-nopass : PWD=/home/jtb-nopass ; USER=jtb-svc ; \
COMMAND=/usr/bin/id -un
    """
    try:
        with open(SUDO_LOG, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return []
    entries = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None or (user is not None and match["user"] != user):
            continue
        rest = match["rest"]
        head, _, command = rest.partition("COMMAND=")
        fields = [f for f in head.split(" ; ") if f.strip()]
        problem = fields[0] if fields and "=" not in fields[0] else None
        runas = next((f[5:] for f in fields if f.startswith("USER=")), "")
        entries.append(
            SudoLogEntry(
                time=match["time"],
                user=match["user"],
                problem=problem,
                runas=runas.strip(),
                command=command,
                line=line,
            )
        )
    return entries


def sudo_invocations(user: str, since: int = 0) -> int:
    """How many times ``user`` ran sudo (allowed or refused) after byte ``since`` of the
    log; since the setup by default. Exact for a test holding :func:`user_lock`."""
    return len(sudo_log(since, user))
