"""SSH with paramiko: one persistent connection per host, reused for every round trip.

Host keys are checked against known_hosts (the host var `jobtui_known_hosts`, else
~/.ssh/known_hosts). An unknown key is refused unless `accept_new_host_keys`, which
records it, like OpenSSH's `StrictHostKeyChecking=accept-new`. A changed key is
always refused.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import paramiko

from jobtui import defaults
from jobtui.model import Host
from jobtui.transport.base import Session, Transport, TransportError

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


def known_hosts_path(host: Host) -> Path:
    return Path(os.path.expanduser(str(host.vars.get("jobtui_known_hosts", defaults.KNOWN_HOSTS))))


def host_key_name(host: Host) -> str:
    """The name a key is filed under in known_hosts: `[addr]:port` unless port 22."""
    return host.address if host.port == 22 else f"[{host.address}]:{host.port}"


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
    def __init__(self, path: Path) -> None:
        self.path = path

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise TransportError(
            f"unknown host key for {hostname} ({fingerprint(key)}), not in {self.path}; "
            "check it and rerun with --accept-new-host-keys to record it"
        )


class SshTransport(Transport):
    def __init__(
        self,
        host: Host,
        *,
        accept_new_host_keys: bool = False,
    ) -> None:
        super().__init__(host)
        self.accept_new_host_keys = accept_new_host_keys
        self.connect_timeout = host.connect_timeout
        self._client: paramiko.SSHClient | None = None
        self._connecting: paramiko.SSHClient | None = None
        """The client of a connect in progress, so `close` can cut it off."""

    def _connect(self) -> paramiko.SSHClient:
        if self._client is not None:
            t = self._client.get_transport()
            if t is not None and t.is_active():
                return self._client
            self._drop()
        h = self.host
        path = known_hosts_path(h)
        client = paramiko.SSHClient()
        self._connecting = client
        name = host_key_name(h)
        for keytype, key in _known_hosts.keys_for(path, name):
            client.get_host_keys().add(name, keytype, key)
        client.set_missing_host_key_policy(
            _AcceptNew(path) if self.accept_new_host_keys else _RejectUnknown(path)
        )
        key_file = os.path.expanduser(h.key_file) if h.key_file else None
        try:
            client.connect(
                hostname=h.address,
                port=h.port,
                username=h.user,
                key_filename=key_file,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                channel_timeout=self.connect_timeout,
                allow_agent=True,
                look_for_keys=key_file is None,
            )
        except TransportError:
            client.close()
            raise
        except paramiko.BadHostKeyException as e:
            client.close()
            raise TransportError(
                f"HOST KEY CHANGED for {host_key_name(h)}: known_hosts ({path}) has "
                f"{fingerprint(e.expected_key)}, the host offered {fingerprint(e.key)}; "
                "this may be an attack. Nothing was run. If the change is expected, remove the "
                f"old key (ssh-keygen -R '{host_key_name(h)}' -f {path}) and connect again"
            ) from e
        except paramiko.AuthenticationException as e:
            client.close()
            raise TransportError(f"authentication failed as {h.user or 'default user'}: {e}") from e
        except socket.gaierror as e:
            client.close()
            raise TransportError(f"cannot resolve {h.address}: {e.strerror}") from e
        except TimeoutError as e:
            client.close()
            raise TransportError(f"connect timed out after {self.connect_timeout:.0f}s") from e
        except (OSError, paramiko.SSHException, EOFError) as e:
            client.close()
            reason = _reason(e)
            if "banner" in reason or "No existing session" in reason:
                # paramiko's words for a server that accepts and then says nothing.
                reason = (
                    f"no SSH handshake within {self.connect_timeout:.0f}s "
                    "(timed out; is an SSH server answering there?)"
                )
            raise TransportError(f"cannot connect to {h.address}:{h.port}: {reason}") from e
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(defaults.KEEPALIVE)
        self._client = client
        return client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def close(self) -> None:
        """Close the connection. A connect still hanging on a silent host is cut off
        rather than waited for (up to its timeout), so quitting is never held up."""
        if not self._lock.acquire(timeout=1.0):
            connecting = self._connecting
            if connecting is not None:
                connecting.close()  # the hanging connect fails at once, then unlocks
            self._lock.acquire()
        try:
            self._close_session()
            self._drop()
        finally:
            self._lock.release()

    def _open(self) -> Session:
        client = self._connect()
        transport = client.get_transport()
        if transport is None:
            self._drop()
            raise TransportError("connection closed")
        try:
            chan = transport.open_session(timeout=self.connect_timeout)
            chan.exec_command("/bin/sh -s")
        except (paramiko.SSHException, OSError, EOFError) as e:
            self._drop()
            raise TransportError(f"cannot open a session: {_reason(e)}") from e
        return SshSession(chan, self._drop)


class SshSession(Session):
    """`sh -s` on one long-lived channel; stderr is drained and dropped."""

    def __init__(self, chan: paramiko.Channel, on_broken: Callable[[], None]) -> None:
        self.chan = chan
        self.on_broken = on_broken

    def send(self, data: bytes) -> None:
        try:
            self.chan.settimeout(defaults.CONNECT_TIMEOUT)
            self.chan.sendall(data)
        except (TimeoutError, paramiko.SSHException, OSError, EOFError) as e:
            self.on_broken()
            raise TransportError(f"connection lost: {_reason(e)}") from e

    def recv(self, timeout: float) -> bytes:
        try:
            self.chan.settimeout(timeout)
            if self.chan.recv_stderr_ready():
                self.chan.recv_stderr(65536)
            return bytes(self.chan.recv(65536))
        except TimeoutError as e:
            raise TransportError(f"no answer within {timeout:.0f}s") from e
        except (paramiko.SSHException, OSError, EOFError) as e:
            self.on_broken()
            raise TransportError(f"connection lost: {_reason(e)}") from e

    def fileno(self) -> int:
        return self.chan.fileno()

    def close(self) -> None:
        self.chan.close()


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__
