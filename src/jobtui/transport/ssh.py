"""SSH with paramiko: one persistent connection per host, reused for every round trip.

A host is reached the way its `Endpoint` says (address, port, user, keys, known_hosts,
timeouts, keepalive), directly, through a proxy command or through jump hosts
(jumps.py); every hop, jump hosts included, is logged in to by a `Dialer`.

Host keys are checked against the endpoint's known_hosts files (read in order). An
unknown key is refused unless `accept_new` (or `--accept-new-host-keys`), which
records it in the first file, like OpenSSH's `StrictHostKeyChecking=accept-new`. A
changed key is always refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from jobtui import defaults
from jobtui.model import Endpoint, Host
from jobtui.sshlib import paramiko
from jobtui.transport.base import Session, Transport, TransportError
from jobtui.transport.jumps import Cancel, JumpPool, ProxyProcess, Route, Sock
from jobtui.transport.keys import KeyRing, local_user

# paramiko's reader threads log failures with tracebacks; Python would print them on
# stderr (its last-resort handler). Every failure reaches the user through a
# TransportError with a reason instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

_known_hosts_lock = threading.Lock()
"""Serialises appends to a known_hosts file from many connecting threads."""


class _KnownHostsFiles:
    """known_hosts files, each parsed once (again when it changes) for every connection.

    Loading the file into each client, as `SSHClient.load_host_keys` does, parses every
    line (and takes the `logging` module lock for each) once per host: with 200 hosts
    connecting at once that was most of the time to connect. Each client now gets only
    the entries for its own host.
    """

    def __init__(self) -> None:
        self._files: dict[Path, tuple[tuple[int, int, int], paramiko.HostKeys]] = {}

    def keys_for(self, path: Path, name: str) -> list[tuple[str, paramiko.PKey]]:
        with _known_hosts_lock:
            try:
                st = path.stat()
            except FileNotFoundError:
                return []
            except OSError as e:
                raise TransportError(f"cannot read known_hosts {path}: {e.strerror}") from e
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            cached = self._files.get(path)
            if cached is None or cached[0] != stamp:
                keys = paramiko.HostKeys()
                try:
                    keys.load(str(path))
                except (OSError, paramiko.SSHException) as e:
                    raise TransportError(f"cannot read known_hosts {path}: {e}") from e
                cached = self._files[path] = (stamp, keys)
        found = cached[1].lookup(name)
        return list(found.items()) if found else []


_known_hosts = _KnownHostsFiles()


def known_hosts_paths(endpoint: Endpoint) -> list[Path]:
    """The endpoint's known_hosts files, `~` expanded (the default one if none)."""
    return [Path(os.path.expanduser(f)) for f in endpoint.known_hosts or (defaults.KNOWN_HOSTS,)]


def host_key_name(endpoint: Endpoint) -> str:
    """The name a key is filed under in known_hosts: `[addr]:port` unless port 22."""
    return endpoint.address if endpoint.port == 22 else f"[{endpoint.address}]:{endpoint.port}"


def fingerprint(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


class _AcceptNew(paramiko.MissingHostKeyPolicy):
    """Record an unknown host key in known_hosts (a changed key never gets here)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        with _known_hosts_lock:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with self.path.open("a", encoding="ascii") as f:
                f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = paths

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        where = ", ".join(str(p) for p in self.paths)
        raise TransportError(
            f"unknown host key for {hostname} ({fingerprint(key)}), not in {where}; "
            "check it and rerun with --accept-new-host-keys to record it"
        )


_CUT_OFF = "connect cut off: the connection was closed"

IDLE_WAKE = 1.0
"""Seconds between a logged-in connection's reader thread's looks when no data comes."""


class Dialer:
    """Logs in to one hop, a target or a jump host alike: its host key checked against
    its known_hosts files, the keyring's keys offered, its timeouts and keepalive;
    every failure a TransportError that says why.

    Args:
        keyring: The keys offered (one for the whole console: each key read once).
        accept_new_host_keys: Record unknown host keys (the CLI flag), on top of an
            endpoint's own `accept_new`.
    """

    def __init__(self, keyring: KeyRing, accept_new_host_keys: bool = False) -> None:
        self.keyring = keyring
        self.accept_new_host_keys = accept_new_host_keys

    def __call__(self, endpoint: Endpoint, sock: Sock | None, cancel: Cancel) -> paramiko.SSHClient:
        ep = endpoint if endpoint.user else dataclasses.replace(endpoint, user=local_user())
        paths = known_hosts_paths(ep)
        name = host_key_name(ep)
        if cancel.is_set():
            raise TransportError(_CUT_OFF)
        client = paramiko.SSHClient()
        found_in: Path | None = None
        for path in paths:
            for keytype, key in _known_hosts.keys_for(path, name):
                # SSHClient then prefers the known key's type, as ssh does.
                client.get_host_keys().add(name, keytype, key)
                found_in = found_in or path
        accept = ep.accept_new or self.accept_new_host_keys
        client.set_missing_host_key_policy(
            _AcceptNew(paths[0]) if accept else _RejectUnknown(paths)
        )
        unhook = cancel.on_cancel(client.close)  # a close() cuts a hanging connect off
        t = ep.connect_timeout
        try:
            client.connect(
                hostname=ep.address,
                port=ep.port,
                username=ep.user,
                sock=sock,
                timeout=t,
                banner_timeout=t,
                auth_timeout=t,
                channel_timeout=t,
                auth_strategy=self.keyring.strategy(ep),
            )
        except BaseException as e:
            client.close()
            if isinstance(e, TransportError):
                raise
            if cancel.is_set():
                raise TransportError(_CUT_OFF) from e
            if not isinstance(e, Exception):
                raise
            raise TransportError(_connect_failure(e, ep, sock, found_in or paths[0])) from e
        finally:
            unhook()
        transport = client.get_transport()
        if cancel.is_set() or transport is None or not transport.is_active():
            client.close()
            raise TransportError(_CUT_OFF)
        transport.set_keepalive(ep.keepalive)
        # paramiko's reader thread wakes every 0.1 s (its socket's timeout) to see
        # whether it should stop or send a keepalive, on every connection, idle or
        # not: at 50 hosts, 500 wake-ups a second of the console's CPU. Once logged in,
        # once a second is enough for both (a close does not wait for it).
        if hasattr(transport.sock, "settimeout"):
            transport.sock.settimeout(IDLE_WAKE)
        return client


def _connect_failure(e: Exception, ep: Endpoint, sock: Sock | None, known: Path) -> str:
    """What a failed `SSHClient.connect` means, for people."""
    t = ep.connect_timeout
    if isinstance(e, paramiko.BadHostKeyException):
        name = host_key_name(ep)
        return (
            f"HOST KEY CHANGED for {name}: known_hosts ({known}) has "
            f"{fingerprint(e.expected_key)}, the host offered {fingerprint(e.key)}; "
            "this may be an attack. Nothing was run. If the change is expected, remove the "
            f"old key (ssh-keygen -R '{name}' -f {known}) and connect again"
        )
    if isinstance(e, paramiko.AuthenticationException):
        return f"authentication failed as {ep.user}: {e}"
    if isinstance(e, socket.gaierror):
        return f"cannot resolve {ep.address}: {e.strerror}"
    if isinstance(sock, ProxyProcess):
        # Whatever paramiko says (no banner, EOF), the command's end says more.
        ended = sock.failure()
        if ended:
            return ended
        if isinstance(e, TimeoutError) or _no_handshake(e):
            return f"no SSH handshake through proxy command `{sock.command}` within {t:.0f}s"
        return f"proxy command `{sock.command}` closed the connection: {_reason(e)}"
    if isinstance(e, TimeoutError):
        return f"connect timed out after {t:.0f}s"
    if isinstance(e, paramiko.ssh_exception.NoValidConnectionsError) and e.errors:
        # paramiko's "Unable to connect to port 22 on ..." hides the why.
        reason = _reason(next(iter(e.errors.values())))
        return f"cannot connect to {ep.address}:{ep.port}: {reason}"
    reason = _reason(e)
    if _no_handshake(e):
        reason = f"no SSH handshake within {t:.0f}s (timed out; is an SSH server answering there?)"
    return f"cannot connect to {ep.address}:{ep.port}: {reason}"


def _no_handshake(e: Exception) -> bool:
    """paramiko's words for a server that accepts and then says nothing."""
    reason = _reason(e)
    return "banner" in reason or "No existing session" in reason


class SshTransport(Transport):
    """One host's connection, the way `host.endpoint` says.

    Args:
        host: The host; `host.endpoint` is how it is reached.
        accept_new_host_keys: The CLI's `--accept-new-host-keys`.
        keyring: The keys offered; share one across a console (`make_transports`).
        jumps: The console's jump host connections (one of its own if None).
    """

    def __init__(
        self,
        host: Host,
        *,
        accept_new_host_keys: bool = False,
        keyring: KeyRing | None = None,
        jumps: JumpPool | None = None,
    ) -> None:
        super().__init__(host)
        self.endpoint = host.endpoint
        self.accept_new_host_keys = accept_new_host_keys
        self.connect_timeout = self.endpoint.connect_timeout
        self._dial = Dialer(keyring if keyring is not None else KeyRing(), accept_new_host_keys)
        self.jumps = jumps if jumps is not None else JumpPool(self._dial)
        self._client: paramiko.SSHClient | None = None
        self._route: Route | None = None
        self._cancel: Cancel | None = None
        """The last connect's, so `close` can cut a hanging one off."""

    def _connect(self) -> paramiko.SSHClient:
        if self._client is not None:
            t = self._client.get_transport()
            if t is not None and t.is_active():
                return self._client
            self._drop()
        ep = self.endpoint
        if ep.problem:
            raise TransportError(ep.problem)  # never tried: it cannot work
        cancel = self._cancel = Cancel()
        # The old route is let go of only once a new one holds the jump host, and a
        # failed login keeps its route's hold (not its channel): a target that drops
        # or is down neither closes nor logs in again to its bastion.
        route = self.jumps.route(ep, cancel, self.connect_timeout)
        stale, self._route = self._route, route
        if stale is not None:
            stale.close()
        try:
            client = self._dial(ep, route.sock, cancel)
        except BaseException:
            route.close_sock()
            raise
        self._client = client
        return client

    def _drop(self) -> None:
        """Close the connection (a broken one too); its route is kept until the next
        connect or `close()`."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _lost(self) -> str:
        """Why the connection dropped, when its jump host did."""
        route = self._route
        return route.lost() if route is not None else ""

    def close(self) -> None:
        """Close the connection. A connect still hanging on a silent host (or jump host,
        or proxy command) is cut off rather than waited for (up to its timeout), and so
        is a round trip stuck on a dead connection: quitting is never held up."""
        if not self._lock.acquire(timeout=1.0):
            cancel, client = self._cancel, self._client
            if cancel is not None:
                cancel.set()  # the hanging connect fails at once, then unlocks
            if client is not None:
                client.close()  # so does a round trip waiting on it
            self._lock.acquire()
        try:
            self._close_session()
            self._drop()
            if self._route is not None:
                self._route.close()  # the proxy command reaped, the jump host let go of
                self._route = None
        finally:
            self._lock.release()

    def _open(self) -> Session:
        return self._exec("/bin/sh -s")

    def _exec(self, command: str) -> Session:
        client = self._connect()
        transport = client.get_transport()
        if transport is None:
            self._drop()
            raise TransportError("connection closed")
        try:
            chan = transport.open_session(timeout=self.connect_timeout)
            chan.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError) as e:
            lost = self._lost()
            self._drop()
            raise TransportError(lost or f"cannot open a session: {_reason(e)}") from e
        return SshSession(chan, self._drop, self._lost)


class SshSession(Session):
    """`sh -s` on one long-lived channel; stderr is drained and dropped."""

    def __init__(
        self,
        chan: paramiko.Channel,
        on_broken: Callable[[], None],
        lost: Callable[[], str] = lambda: "",
    ) -> None:
        self.chan = chan
        self.on_broken = on_broken
        self.lost = lost
        """Why the connection is gone when a jump host on the way dropped ("" if not)."""

    def send(self, data: bytes) -> None:
        try:
            self.chan.settimeout(defaults.CONNECT_TIMEOUT)
            self.chan.sendall(data)
        except (TimeoutError, paramiko.SSHException, OSError, EOFError) as e:
            raise self._broken(f"connection lost: {_reason(e)}") from e

    def recv(self, timeout: float) -> bytes:
        try:
            self.chan.settimeout(timeout)
            if self.chan.recv_stderr_ready():
                self.chan.recv_stderr(65536)
            data = bytes(self.chan.recv(65536))
        except TimeoutError as e:
            raise TransportError(f"no answer within {timeout:.0f}s") from e
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise self._broken(f"connection lost: {_reason(e)}") from e
        if not data and (lost := self.lost()):
            raise self._broken(lost)  # the jump host went, not the shell
        return data

    def _broken(self, reason: str) -> TransportError:
        lost = self.lost()
        self.on_broken()
        return TransportError(lost or reason)

    def fileno(self) -> int:
        return self.chan.fileno()

    def close(self) -> None:
        """Close the channel; on a connection already gone there is nothing to close
        (paramiko raises EOFError trying to tell the server)."""
        with contextlib.suppress(EOFError, OSError, paramiko.SSHException):
            self.chan.close()


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__
