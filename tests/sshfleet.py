"""A fleet of real OpenSSH ``sshd`` processes on loopback, for tests and benchmarks.

Every fake host is its own ``sshd -D`` process listening on ``127.0.0.N`` (a free port
each) with its own ed25519 host key, so host-key verification, per-host connections,
refused connections and host restarts behave as they do against real machines. One
user keypair (no passphrase) is generated into the fleet's base directory and listed
in an ``authorized_keys`` file that every ``sshd_config`` references by absolute path:
nothing under the real ``~/.ssh`` is read or written.

All fake hosts share one filesystem and log in as the same user (the current one, or
the ``user`` given to :class:`SshFleet`), so each host gets its own ``jobtui_dir`` and
jobs of different hosts never mix.

This is a plain module with no pytest import, so benchmarks can use it too::

    sys.path.insert(0, str(repo / "tests"))
    from sshfleet import SshFleet

    with SshFleet(tmpdir) as fleet:
        hosts = fleet.start(50)
        inventory = fleet.write_inventory(tmpdir / "inventory.yml")

Works as root (sshd then needs ``/run/sshd``, created if missing, and allows root to
log in with a key) and as an unprivileged user (sshd can then only log in as that
user, which is the user the fleet logs in as). Linux only for :meth:`FleetHost.stop`'s
precise process accounting (it reads ``/proc``); elsewhere it kills the sshd process
group only.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import getpass
import os
import pwd
import re
import resource
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

__all__ = [
    "FleetError",
    "FleetHost",
    "SshFleet",
    "current_user",
    "ssh_client_path",
    "ssh_command",
    "ssh_exec",
    "ssh_keygen_path",
    "sshd_path",
]

#: Seconds to wait for one sshd to accept TCP connections and send its banner.
DEFAULT_START_TIMEOUT = 30.0
#: How often a start is retried when another process took the chosen port first.
_BIND_RETRIES = 8
#: Upper bound on concurrent ``ssh-keygen`` / readiness waits while starting hosts.
_START_PARALLELISM = 32
_BIND_FAILURE = re.compile(r"Address already in use|Cannot bind any address", re.IGNORECASE)
_PR_SET_PDEATHSIG = 1


class FleetError(RuntimeError):
    """The fleet could not be set up (missing binary, sshd failing to start, ...)."""


def sshd_path() -> str | None:
    """Return the path of the OpenSSH server binary, or None when it is not installed.

    Looks at ``/usr/sbin/sshd`` and ``/usr/local/sbin/sshd`` first (sbin is often not
    on an unprivileged user's PATH), then PATH. sshd must be started by absolute path
    (it re-executes itself for every connection).
    """
    for candidate in ("/usr/sbin/sshd", "/usr/local/sbin/sshd"):
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("sshd")
    return os.path.abspath(found) if found else None


def ssh_keygen_path() -> str | None:
    """Return the path of ``ssh-keygen`` (openssh-client), or None."""
    return shutil.which("ssh-keygen") or (
        "/usr/bin/ssh-keygen" if os.access("/usr/bin/ssh-keygen", os.X_OK) else None
    )


def ssh_client_path() -> str | None:
    """Return the path of the OpenSSH client ``ssh`` (openssh-client), or None."""
    return shutil.which("ssh") or ("/usr/bin/ssh" if os.access("/usr/bin/ssh", os.X_OK) else None)


def current_user() -> str:
    """Name of the effective user: the only account a non-root sshd can log in as.

    Looked up by uid first; ``getpass.getuser()`` trusts $USER/$LOGNAME, which
    ``su``/``sudo`` can leave pointing at another account.
    """
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return getpass.getuser()


def _require(path: str | None, what: str) -> str:
    if path is None:
        raise FleetError(f"{what} not found; install openssh-server and openssh-client")
    return path


# ---------------------------------------------------------------------------------------
# Processes (Linux /proc)


@dataclass(frozen=True)
class _Proc:
    pid: int
    ppid: int
    sid: int
    comm: str


def _read_procs() -> dict[int, _Proc]:
    """Snapshot of every process: pid -> (ppid, session id, command name)."""
    procs: dict[int, _Proc] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                raw = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        # "pid (comm) state ppid pgrp session ..."; comm may contain spaces and ')'.
        open_paren, close_paren = raw.find("("), raw.rfind(")")
        fields = raw[close_paren + 2 :].split()
        try:
            procs[int(entry.name)] = _Proc(
                pid=int(entry.name),
                ppid=int(fields[1]),
                sid=int(fields[3]),
                comm=raw[open_paren + 1 : close_paren],
            )
        except (IndexError, ValueError):
            continue
    return procs


def _sshd_owned(master: int, procs: Mapping[int, _Proc]) -> set[int]:
    """Pids of sshd ``master``, its connection processes and their session processes.

    Walks the process tree down from the master sshd. A child that made itself a
    session leader (``setsid``) belongs to the SSH session only if its parent is an
    sshd process (sshd calls ``setsid`` for every connection and every session shell);
    a session leader started by a shell is a detached job: it and its subtree are left
    alone. Processes that were orphaned (reparented to init) but are still in one of
    the sshd sessions (``nohup cmd &`` without setsid) are included too.
    """
    children: dict[int, list[int]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    owned: set[int] = set()
    sessions: set[int] = set()
    todo = [master] if master in procs else []
    while todo:
        pid = todo.pop()
        proc = procs[pid]
        owned.add(pid)
        sessions.add(proc.sid)
        for child_pid in children.get(pid, ()):
            child = procs[child_pid]
            detached = child.sid == child.pid and not proc.comm.startswith("sshd")
            if not detached:
                todo.append(child_pid)
    owned.update(p.pid for p in procs.values() if p.sid in sessions and p.sid != 0)
    return owned


def _signal(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _set_pdeathsig() -> None:  # pragma: no cover - runs in the child after fork
    """Ask the kernel to SIGKILL this (sshd) process when its parent thread dies."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _raise_nofile_limit(wanted: int) -> None:
    """Raise the soft open-files limit towards ``wanted`` (never above the hard one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# ---------------------------------------------------------------------------------------
# Hosts


@dataclass(eq=False)
class FleetHost:
    """One fake host: an ``sshd -D`` process on ``address:port`` with its own host key.

    ``jobtui_dir`` is this host's private job directory (all hosts share one
    filesystem); it is not created, only its parent is. ``process`` is the handle of
    the running sshd (replaced by :meth:`restart`).
    """

    name: str
    address: str
    port: int
    host_key_pub: str
    process: subprocess.Popen[bytes] | None
    jobtui_dir: Path
    host_dir: Path = field(repr=False)
    config_path: Path = field(repr=False)
    log_path: Path = field(repr=False)
    user: str = field(repr=False)
    user_key_path: Path = field(repr=False)
    known_hosts_path: Path = field(repr=False)
    sshd_config: tuple[str, ...] = field(default=(), repr=False)
    """Extra ``sshd_config`` lines of this host (before the fleet's defaults: for
    most keywords sshd keeps the first value, so ``LogLevel DEBUG1`` here wins)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _log_offset: int = field(default=0, repr=False)

    @property
    def known_hosts_line(self) -> str:
        """This host's line for a known_hosts file: ``[addr]:port ssh-ed25519 AAAA...``."""
        return f"[{self.address}]:{self.port} {self.host_key_pub}"

    def is_running(self) -> bool:
        """True while this host's sshd process is alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Take the host down: kill sshd and every SSH session process it spawned.

        Open connections are cut (their sshd processes die, so clients see the
        connection drop) and new ones are refused. Jobs that were detached with
        ``setsid`` from a session survive, as they would a network outage. Idempotent.
        """
        with self._lock:
            process = self.process
            if process is None:
                return
            if process.poll() is None:
                _kill_sshd_trees([process.pid])
            process.wait()
            self.process = None

    def restart(self, timeout: float = DEFAULT_START_TIMEOUT) -> None:
        """Bring the host back on the same address, port and host key (stops it first).

        Raises :class:`FleetError` if sshd does not come up within ``timeout`` seconds,
        for instance because another process took the port in the meantime.
        """
        self.stop()
        with self._lock:
            deadline = time.monotonic() + timeout
            while True:
                self._launch()
                try:
                    self._wait_ready(deadline)
                    return
                except _BindRace:
                    # The port is ours, but may still be held by a process on its way out.
                    if time.monotonic() >= deadline:
                        raise FleetError(
                            f"{self.name}: port {self.address}:{self.port} is taken; "
                            f"cannot restart on the same port:\n{self.read_log()}"
                        ) from None
                    time.sleep(0.2)

    def connection_processes(self) -> set[int]:
        """Pids of what this host's sshd runs for its clients' connections (Linux):
        empty once every client has gone."""
        process = self.process
        if process is None or not os.path.isdir("/proc"):
            return set()
        return _sshd_owned(process.pid, _read_procs()) - {process.pid}

    def read_full_log(self) -> str:
        """sshd's stderr output since the host was first started, restarts included."""
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""

    def read_log(self) -> str:
        """sshd's stderr output (LogLevel ERROR unless ``sshd_config`` says otherwise)
        since it was last (re)started."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self._log_offset)
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- internals -----------------------------------------------------------------

    def _launch(self) -> None:
        """Start sshd (not waiting for it) with this host's config."""
        sshd = _require(sshd_path(), "sshd")
        self.log_path.touch()
        self._log_offset = self.log_path.stat().st_size
        with open(self.log_path, "ab") as log:
            in_main_thread = threading.current_thread() is threading.main_thread()
            self.process = subprocess.Popen(
                [sshd, "-D", "-e", "-f", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                close_fds=True,
                # Own session and process group: a terminal's Ctrl-C does not hit it
                # and stop() can tell its processes from the test runner's.
                start_new_session=True,
                # PDEATHSIG fires when the *thread* that forked exits: only safe when
                # started from the main thread. It reaps sshd if the runner is killed -9.
                preexec_fn=_set_pdeathsig if in_main_thread else None,
            )

    def _wait_ready(self, deadline: float) -> None:
        """Wait until sshd accepts a TCP connection and sends its ``SSH-2.0`` banner.

        Raises :class:`_BindRace` when sshd exited because the port was taken, and
        :class:`FleetError` (with sshd's stderr) for any other failure or on timeout.
        """
        process = self.process
        assert process is not None
        delay = 0.005
        last_error = "no attempt"
        while True:
            rc = process.poll()
            if rc is not None:
                log = self.read_log()
                if _BIND_FAILURE.search(log):
                    raise _BindRace(log)
                raise FleetError(
                    f"{self.name}: sshd exited with status {rc} during startup "
                    f"({self.address}:{self.port}, config {self.config_path}):\n{log}"
                )
            try:
                remaining = deadline - time.monotonic()
                banner = _read_banner(self.address, self.port, max(0.2, min(2.0, remaining)))
                if banner.startswith("SSH-2.0"):
                    return
                last_error = f"unexpected banner {banner!r}"
            except OSError as exc:
                last_error = str(exc)
            if time.monotonic() >= deadline:
                _kill_sshd_trees([process.pid])
                process.wait()
                raise FleetError(
                    f"{self.name}: sshd on {self.address}:{self.port} did not send an SSH "
                    f"banner in time (last error: {last_error}); sshd stderr:\n"
                    f"{self.read_log()}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


class _BindRace(Exception):
    """sshd could not bind its port: someone else took it between check and use."""


def _read_banner(address: str, port: int, timeout: float) -> str:
    """Connect, read the server's identification line and close."""
    with socket.create_connection((address, port), timeout=timeout) as sock:
        data = b""
        while b"\n" not in data and len(data) < 1024:
            chunk = sock.recv(256)
            if not chunk:
                break
            data += chunk
    return data.decode("ascii", "replace").strip()


def _kill_sshd_trees(masters: Sequence[int]) -> None:
    """SIGKILL sshd masters, their connection processes and their session processes."""
    if not masters:
        return
    if not os.path.isdir("/proc"):  # pragma: no cover - non-Linux fallback
        for master in masters:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(master, signal.SIGKILL)
        return
    # Freeze first so nothing forks while we look, then kill everything at once.
    frozen: set[int] = set(masters)
    _signal(frozen, signal.SIGSTOP)
    for _ in range(10):
        procs = _read_procs()
        owned: set[int] = set()
        for master in masters:
            owned |= _sshd_owned(master, procs)
        new = owned - frozen
        if not new:
            break
        _signal(new, signal.SIGSTOP)
        frozen |= new
    _signal(frozen, signal.SIGKILL)
    _signal(frozen, signal.SIGCONT)


def _free_port(address: str) -> int:
    """A port that is free on ``address`` right now (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def _openssh_version(sshd: str) -> tuple[int, int]:
    """(major, minor) of the OpenSSH server, (0, 0) if unknown."""
    try:
        out = subprocess.run(
            [sshd, "-V"], capture_output=True, text=True, timeout=10, check=False
        ).stderr
    except (OSError, subprocess.SubprocessError):
        return (0, 0)
    match = re.search(r"OpenSSH_(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _check_root_not_locked(user: str) -> None:
    """sshd with ``UsePAM no`` refuses *every* login to an account locked with '!'."""
    if os.geteuid() != 0:
        return  # non-root sshd cannot read /etc/shadow and does not check
    try:
        with open("/etc/shadow", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                name, _, rest = line.partition(":")
                if name == user and rest.startswith("!"):
                    raise FleetError(
                        f"account {user!r} is locked ('!' in /etc/shadow): sshd with "
                        "UsePAM no refuses even key logins to it. Unlock it without "
                        f"setting a password: usermod -p '*' {user}"
                    )
    except OSError:
        return


def _check_reachable(path: Path, user: str) -> None:
    """Raise FleetError unless ``user`` can search every directory above ``path`` and
    read ``path`` (sshd reads ``authorized_keys`` with the uid of the user logging in)."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise FleetError(f"no such user {user!r}") from None
    groups = set(os.getgrouplist(user, entry.pw_gid))

    def allowed(st: os.stat_result, bit: int) -> bool:
        if entry.pw_uid == 0:
            return True
        if st.st_uid == entry.pw_uid:
            return bool(st.st_mode & (bit << 6))
        if st.st_gid in groups:
            return bool(st.st_mode & (bit << 3))
        return bool(st.st_mode & bit)

    for directory in reversed(path.parents):
        if not allowed(directory.stat(), 0o1):
            raise FleetError(
                f"user {user!r} cannot search {directory} (mode "
                f"{directory.stat().st_mode & 0o7777:04o}), so sshd cannot read "
                f"{path} for it: put the fleet in a directory {user!r} can reach"
            )
    if not allowed(path.stat(), 0o4):
        raise FleetError(f"user {user!r} cannot read {path}")


# ---------------------------------------------------------------------------------------
# The fleet

#: Fleets with hosts started, kept alive (strong references) until stop_all().
_LIVE_FLEETS: set[SshFleet] = set()


@atexit.register
def _stop_live_fleets() -> None:
    for fleet in list(_LIVE_FLEETS):
        with contextlib.suppress(Exception):
            fleet.stop_all()


class SshFleet:
    """A set of fake hosts (real sshd processes on 127.0.0.x) under one base directory.

    Layout of ``base_dir``::

        id_ed25519, id_ed25519.pub   the user keypair (no passphrase)
        authorized_keys              the user public key, for every host
        known_hosts                  "[127.0.0.x]:port ssh-ed25519 AAAA..." per host
        hosts/hostN/                 ssh_host_ed25519_key{,.pub}, sshd_config,
                                     sshd.pid, sshd.log, jobtui/ (that host's jobtui_dir)

    Use as a context manager, or call :meth:`stop_all`; hosts still running at
    interpreter exit are stopped by an atexit hook.
    """

    def __init__(self, base_dir: str | os.PathLike[str], user: str | None = None) -> None:
        """Prepare a fleet in ``base_dir`` (created if missing); nothing starts yet.

        ``user``: the account every host logs in as (default: the current user). Another
        account needs root (sshd must be able to switch to it): its ``authorized_keys``
        is made world-readable, each ``hosts/hostN`` directory (the parent of that
        host's default ``jobtui_dir``) is given to ``user``, and :meth:`start` raises
        :class:`FleetError` when ``user`` cannot reach ``base_dir`` (every directory on
        the way must let it search: pytest's ``tmp_path`` is under a 0700 directory).
        """
        self.base_dir = Path(base_dir).resolve()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._other_user = user if user is not None and user != current_user() else None
        self.user: str = current_user() if user is None else user
        self.user_key_path: Path = self.base_dir / "id_ed25519"
        self.authorized_keys_path: Path = self.base_dir / "authorized_keys"
        self.known_hosts_path: Path = self.base_dir / "known_hosts"
        self.hosts: list[FleetHost] = []
        self._lock = threading.Lock()

    # -- context manager -----------------------------------------------------------

    def __enter__(self) -> SshFleet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()

    # -- lifecycle -------------------------------------------------------------------

    def start(
        self,
        count: int,
        first_octet: int = 2,
        *,
        timeout: float = DEFAULT_START_TIMEOUT,
        sshd_config: Sequence[str] = (),
    ) -> list[FleetHost]:
        """Start ``count`` more hosts; host i listens on ``127.0.0.(first_octet + i)``.

        ``sshd_config`` lines are added to each new host's configuration, ahead of the
        fleet's own (``["LogLevel DEBUG1"]`` logs every channel a client opens: see
        :meth:`FleetHost.read_full_log`).

        Hosts are named ``host1``, ``host2``, ... continuing after the hosts this fleet
        already has. Returns once every new sshd sends its SSH banner; on any failure
        the hosts started by this call are stopped and :class:`FleetError` is raised
        with the failing sshd's stderr.
        """
        if count < 0:
            raise ValueError("count must be >= 0")
        if first_octet < 1 or first_octet + count - 1 > 254:
            raise ValueError(f"127.0.0.{first_octet}..+{count} does not fit in 127.0.0.1-254")
        sshd = _require(sshd_path(), "sshd")
        keygen = _require(ssh_keygen_path(), "ssh-keygen")
        _check_root_not_locked(self.user)
        if os.geteuid() == 0:
            # Privilege separation directory that sshd insists on when run as root.
            Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
        _raise_nofile_limit(1024 + 16 * (len(self.hosts) + count))
        self._ensure_user_key(keygen)
        extra_config = self._version_config(sshd)

        with self._lock:
            base_index = len(self.hosts)
            names = [f"host{base_index + i + 1}" for i in range(count)]
            host_dirs = [self.base_dir / "hosts" / name for name in names]
        for host_dir in host_dirs:
            host_dir.mkdir(parents=True, exist_ok=True)
            if self._other_user is not None:
                entry = pwd.getpwnam(self._other_user)
                os.chown(host_dir, entry.pw_uid, entry.pw_gid)

        # 1. one host key per host, generated in parallel.
        _run_parallel(
            [
                _keygen_command(keygen, d / "ssh_host_ed25519_key", f"{d.name}-host-key")
                for d in host_dirs
                if not (d / "ssh_host_ed25519_key").exists()
            ]
        )

        new_hosts: list[FleetHost] = []
        for i, (name, host_dir) in enumerate(zip(names, host_dirs, strict=True)):
            pub = (host_dir / "ssh_host_ed25519_key.pub").read_text().split()
            host = FleetHost(
                name=name,
                address=f"127.0.0.{first_octet + i}",
                port=0,
                host_key_pub=f"{pub[0]} {pub[1]}",
                process=None,
                jobtui_dir=host_dir / "jobtui",
                host_dir=host_dir,
                config_path=host_dir / "sshd_config",
                log_path=host_dir / "sshd.log",
                user=self.user,
                user_key_path=self.user_key_path,
                known_hosts_path=self.known_hosts_path,
                sshd_config=tuple(sshd_config),
            )
            new_hosts.append(host)

        # 2. start every sshd, then wait for all of them (retrying on a port race).
        def bring_up(host: FleetHost) -> None:
            deadline = time.monotonic() + timeout
            last = ""
            for attempt in range(_BIND_RETRIES):
                with host._lock:
                    if attempt:  # lost a race for the port: pick another one
                        self._pick_port(host, extra_config)
                        host._launch()
                    try:
                        host._wait_ready(deadline)
                        return
                    except _BindRace as race:
                        last = str(race)
            raise FleetError(f"{host.name}: could not bind a free port:\n{last}")

        try:
            for host in new_hosts:  # Popen from this thread (see FleetHost._launch)
                self._pick_port(host, extra_config)
                host._launch()
            with ThreadPoolExecutor(max_workers=min(_START_PARALLELISM, count or 1)) as pool:
                for future in [pool.submit(bring_up, h) for h in new_hosts]:
                    future.result()
        except BaseException:
            for host in new_hosts:
                host.stop()
            raise

        with self._lock:
            self.hosts.extend(new_hosts)
            _LIVE_FLEETS.add(self)
            self._write_known_hosts()
        return new_hosts

    def stop_all(self) -> None:
        """Stop every host of this fleet (idempotent). Files stay in ``base_dir``."""
        hosts = list(self.hosts)
        # Kill all hosts with one /proc scan (stopping hosts one by one scans per host).
        running = [h.process for h in hosts if h.process is not None and h.is_running()]
        _kill_sshd_trees([p.pid for p in running])
        for host in hosts:
            host.stop()  # reaps, and catches a host restarted meanwhile
        _LIVE_FLEETS.discard(self)

    # -- helpers for tests -------------------------------------------------------------

    def host(self, name: str) -> FleetHost:
        """The host called ``name`` (KeyError if there is none)."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    def ssh_exec(
        self, host: FleetHost | str, command: str, timeout: float = 30.0
    ) -> tuple[int, str]:
        """Run ``command`` on ``host`` with the OpenSSH client; see :func:`ssh_exec`."""
        return ssh_exec(self.host(host) if isinstance(host, str) else host, command, timeout)

    def write_inventory(
        self,
        path: str | os.PathLike[str],
        hosts: Sequence[FleetHost] | None = None,
        group: str = "fleet",
        extra_vars: Mapping[str, Any] | None = None,
        *,
        jobtui_root: str | os.PathLike[str] | None = None,
        host_vars: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Path:
        """Write an Ansible YAML inventory of ``hosts`` (default: all) and return its path.

        ``all.vars`` holds ``ansible_user``, ``ansible_ssh_private_key_file`` and
        ``jobtui_known_hosts`` (the known_hosts file jobtui verifies host keys against)
        plus ``extra_vars``; the hosts are in group ``group``, each with
        ``ansible_host``, ``ansible_port`` and ``jobtui_dir``. With ``jobtui_root``,
        each host's ``jobtui_dir`` is ``<jobtui_root>/<name>/jobtui`` instead of the
        host's default, so that every test sees only its own jobs. ``host_vars`` adds or
        overrides variables per host name.
        """
        selected = list(self.hosts if hosts is None else hosts)
        all_vars: dict[str, Any] = {
            "ansible_user": self.user,
            "ansible_ssh_private_key_file": str(self.user_key_path),
            "jobtui_known_hosts": str(self.known_hosts_path),
        }
        all_vars.update(extra_vars or {})
        host_entries: dict[str, dict[str, Any]] = {}
        for host in selected:
            jobtui_dir = (
                Path(jobtui_root).resolve() / host.name / "jobtui"
                if jobtui_root is not None
                else host.jobtui_dir
            )
            entry: dict[str, Any] = {
                "ansible_host": host.address,
                "ansible_port": host.port,
                "jobtui_dir": str(jobtui_dir),
            }
            entry.update((host_vars or {}).get(host.name, {}))
            host_entries[host.name] = entry
        inventory = {"all": {"vars": all_vars, "children": {group: {"hosts": host_entries}}}}
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump(inventory, sort_keys=False, default_flow_style=False))
        return out

    # -- internals -----------------------------------------------------------------------

    def _ensure_user_key(self, keygen: str) -> None:
        if not self.user_key_path.exists():
            subprocess.run(
                _keygen_command(keygen, self.user_key_path, "jobtui-test-fleet"),
                check=True,
                capture_output=True,
                timeout=60,
            )
        pub = Path(f"{self.user_key_path}.pub").read_text()
        self.authorized_keys_path.write_text(pub)
        if self._other_user is not None:
            # sshd reads authorized_keys as the user logging in.
            self.authorized_keys_path.chmod(0o644)
            _check_reachable(self.authorized_keys_path, self._other_user)

    @staticmethod
    def _version_config(sshd: str) -> list[str]:
        """Options that only some OpenSSH versions know."""
        lines = []
        if _openssh_version(sshd) >= (9, 8):
            # 9.8+ penalises a source address after failed auths / dropped connections;
            # every test client is 127.0.0.1, so one failing test would lock out all.
            lines.append("PerSourcePenalties no")
        return lines

    def _pick_port(self, host: FleetHost, extra_config: Sequence[str]) -> None:
        host.port = _free_port(host.address)
        host.config_path.write_text(self._sshd_config(host, extra_config))

    def _sshd_config(self, host: FleetHost, extra_config: Sequence[str]) -> str:
        lines = [
            f"# sshd for fake host {host.name} (tests/sshfleet.py)",
            *host.sshd_config,  # first: sshd keeps the first value of most keywords
            f"ListenAddress {host.address}",
            f"Port {host.port}",
            f"HostKey {host.host_dir / 'ssh_host_ed25519_key'}",
            f"PidFile {host.host_dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized_keys_path}",
            "StrictModes no",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            "MaxStartups 200:30:400",
            "MaxSessions 100",
            "LoginGraceTime 30",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "LogLevel ERROR",
            # bash sources ~/.bashrc for a command run by sshd only when SHLVL starts
            # below 2. The test user's login scripts (root's runs `pyenv init`, which
            # takes a lock) are not the product's to run: keep them out of sessions.
            "SetEnv SHLVL=1",
            # No AcceptEnv line: no client environment variable is accepted.
            "Subsystem sftp internal-sftp",
            *extra_config,
        ]
        return "\n".join(lines) + "\n"

    def _write_known_hosts(self) -> None:
        text = "".join(f"{h.known_hosts_line}\n" for h in self.hosts)
        tmp = self.known_hosts_path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.known_hosts_path)


def _keygen_command(keygen: str, key_path: Path, comment: str) -> list[str]:
    """argv generating an ed25519 keypair without passphrase at ``key_path``."""
    return [keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key_path)]


def _run_parallel(commands: Sequence[Sequence[str]], limit: int = _START_PARALLELISM) -> None:
    """Run commands, at most ``limit`` at a time; raise FleetError if one fails."""
    running: list[tuple[Sequence[str], subprocess.Popen[bytes]]] = []

    def reap(item: tuple[Sequence[str], subprocess.Popen[bytes]]) -> None:
        cmd, proc = item
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise FleetError(f"{' '.join(cmd)} failed ({proc.returncode}): {err.decode()}")

    for cmd in commands:
        if len(running) >= limit:
            reap(running.pop(0))
        proc = subprocess.Popen(
            list(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        running.append((cmd, proc))
    for item in running:
        reap(item)


# ---------------------------------------------------------------------------------------
# Independent inspection through the OpenSSH client


def ssh_command(host: FleetHost, command: str) -> list[str]:
    """argv for running ``command`` on ``host`` with the OpenSSH client, strictly.

    Ignores ~/.ssh/config, the agent and the real known_hosts: only the fleet's user
    key and known_hosts file are used, and host keys are checked strictly.
    """
    ssh = _require(ssh_client_path(), "ssh (openssh-client)")
    return [
        ssh,
        "-F",
        "/dev/null",
        "-i",
        str(host.user_key_path),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "IdentityAgent=none",
        "-o",
        f"UserKnownHostsFile={host.known_hosts_path}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        # OpenSSH 9's default post-quantum kex costs ~0.13 s of CPU per login; plain
        # curve25519 is plenty for a loopback test helper and keeps parallel use cheap.
        "-o",
        "KexAlgorithms=curve25519-sha256,curve25519-sha256@libssh.org",
        "-o",
        "LogLevel=ERROR",
        "-p",
        str(host.port),
        "-l",
        host.user,
        host.address,
        "--",
        command,
    ]


def ssh_exec(
    host: FleetHost,
    command: str,
    timeout: float = 30.0,
    *,
    check: bool = False,
) -> tuple[int, str]:
    """Run ``command`` (a shell command line) on ``host`` with ``/usr/bin/ssh``.

    Returns ``(exit status, stdout)``; 255 means ssh itself failed (refused, host key,
    auth). With ``check=True`` a non-zero status raises :class:`FleetError` including
    stderr. A command that leaves a background process must redirect its stdin, stdout
    and stderr, or ssh waits for it.
    """
    proc = subprocess.run(
        ssh_command(host, command),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    stdout = proc.stdout.decode("utf-8", "replace")
    if check and proc.returncode != 0:
        raise FleetError(
            f"ssh {host.name} {command!r} exited {proc.returncode}: "
            f"{proc.stderr.decode('utf-8', 'replace')}"
        )
    return proc.returncode, stdout
