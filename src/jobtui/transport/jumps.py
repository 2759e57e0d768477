"""How a hop's SSH connection is carried: TCP, a proxy command, or a jump host.

A hop is reached directly (paramiko opens the TCP connection), through a local
command's stdin and stdout (`ProxyCommand`), or through a `direct-tcpip` channel of
its jump host's connection (`via`, OpenSSH's `ProxyJump`). A `JumpPool` is shared by
every transport of a console and holds ONE connection per jump `Endpoint` (equal
endpoints share it), however many hosts sit behind it; a chain (a jump host behind
another) nests the same way.

The pool does not know how to log in: it is given a `Dial` (ssh.py's `Dialer`), so a
jump host's key is verified exactly as a target's. A jump connection lives as long as
a route uses it: the last `Route.close()` closes it, so a console that closes its
transports leaves nothing open. One that dropped is dialled again when next needed;
one that failed is not tried again before its backoff ends (targets behind it fail
at once with its last reason meanwhile).
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from jobtui import defaults
from jobtui.model import Endpoint
from jobtui.sshlib import paramiko
from jobtui.transport.base import TransportError

Sock = paramiko.Channel | paramiko.ProxyCommand
"""What `SSHClient.connect(sock=...)` is given instead of a TCP socket."""

_ORIGIN = ("127.0.0.1", 0)
"""The originator a `direct-tcpip` channel names: no local socket is behind it (sshd
logs it: `server_request_direct_tcpip: originator 127.0.0.1 port 0, target ...`)."""


class JumpError(TransportError):
    """A jump host on the way could not be used; `str()` starts with "jump host NAME:"."""


class Cancel:
    """Cuts off a connect in progress: `close()` sets it, whoever waits is told.

    Hooks (closing a client that is still handshaking, killing a proxy command) run at
    once when set, or at registration if it already was.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._hooks: dict[int, Callable[[], None]] = {}
        self._next = 0

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        with self._lock:
            self._set = True
            hooks, self._hooks = list(self._hooks.values()), {}
        for hook in hooks:
            hook()

    def on_cancel(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Run `hook` when cancelled; returns what unregisters it."""
        with self._lock:
            if not self._set:
                key = self._next
                self._next += 1
                self._hooks[key] = hook
                return lambda: self._unhook(key)
        hook()
        return lambda: None

    def _unhook(self, key: int) -> None:
        with self._lock:
            self._hooks.pop(key, None)


class Dial(Protocol):
    """Log in to one hop over `sock` (None: TCP to its address); raises TransportError."""

    def __call__(
        self, endpoint: Endpoint, sock: Sock | None, cancel: Cancel
    ) -> paramiko.SSHClient: ...


class ProxyProcess(paramiko.ProxyCommand):
    """paramiko's `ProxyCommand`, run the way `ssh` runs it, that says why it ended.

    OpenSSH runs the command with `/bin/sh -c "exec ..."` (pipes and variables work);
    its stderr goes to a file, so a command that exits at once is named with its last
    words, and a verbose one can never block on a full pipe. paramiko's own `recv`
    spins until its timeout once the command has exited; this one reports the end.
    `close()` always reaps it.
    """

    def __init__(self, command: str) -> None:
        self.command = command
        self.cmd = ["/bin/sh", "-c", f"exec {command}"]
        self.timeout = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._close_lock = threading.Lock()
        self._said = ""
        self._ended_by_us = False
        self._eof = False
        try:
            self.process = subprocess.Popen(
                self.cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                bufsize=0,
                # Run as ssh would run it, minus the sudo password: it is for sudo on
                # the hosts, not for a local command.
                env={k: v for k, v in os.environ.items() if k != "ANSIBLE_BECOME_PASS"},
            )
        except OSError as e:
            self._stderr.close()
            raise TransportError(f"proxy command `{command}` cannot start: {e.strerror}") from e

    def recv(self, size: int) -> bytes:
        assert self.process.stdout is not None
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        buf = b""
        fd = self.process.stdout.fileno()
        while len(buf) < size:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                if buf:
                    return buf
                raise TimeoutError()
            data = os.read(fd, size - len(buf))
            if not data:
                self._eof = True
                return buf  # the command's end: b"" is paramiko's EOF
            buf += data
        return buf

    def failure(self) -> str:
        """Why the command is gone ("" while it runs), with its stderr's last line."""
        try:
            rc = self.process.wait(0.5)
        except subprocess.TimeoutExpired:
            return ""
        if self._ended_by_us:
            return ""  # closed when paramiko gave up on it: its end says nothing
        said = self._last_words()
        return f"proxy command `{self.command}` exited {rc}" + (f": {said}" if said else "")

    def _last_words(self) -> str:
        with self._close_lock:
            if self._stderr.closed:
                return self._said
            self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, self._stderr.tell() - 4096))
            lines = self._stderr.read().decode("utf-8", "replace").splitlines()
            return next((line.strip() for line in reversed(lines) if line.strip()), "")

    def close(self) -> None:
        with self._close_lock:
            if self._stderr.closed:
                return
            if self._eof:
                # It closed its end: let it exit by itself, so its status is its own.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(0.5)
            if self.process.poll() is None:
                self._ended_by_us = True
                self.process.terminate()
                try:
                    self.process.wait(1.0)
                except subprocess.TimeoutExpired:
                    self.process.kill()  # TERM ignored: it must not outlive us
                    self.process.wait()
            for pipe in (self.process.stdin, self.process.stdout):
                if pipe is not None:
                    pipe.close()
        # paramiko closes its sock as soon as it reads the end: keep what it said.
        said = self._last_words()
        with self._close_lock:
            self._said = said
            self._stderr.close()

    @property
    def closed(self) -> bool:
        return self.process.poll() is not None


@dataclass(eq=False)
class Route:
    """One hop's way there: the `sock` to log in over, and what it holds."""

    sock: Sock | None
    via: Endpoint | None = None
    """The jump host the channel belongs to."""
    _release: Callable[[], None] = field(default=lambda: None, repr=False)
    _alive: Callable[[], bool] = field(default=lambda: True, repr=False)
    _closed: bool = field(default=False, repr=False)

    def lost(self) -> str:
        """Why the connection carried this way is gone, when its jump host dropped."""
        if self.via is not None and not self._alive():
            return f"jump host {self.via.name}: connection lost"
        return ""

    def close_sock(self) -> None:
        """Close the sock (reap the proxy command), still holding the jump connection."""
        if self.sock is not None:
            self.sock.close()

    def close(self) -> None:
        """Close the sock and let go of the jump connection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.close_sock()
        self._release()


@dataclass(eq=False)
class _Jump:
    endpoint: Endpoint
    connecting: threading.Lock = field(default_factory=threading.Lock)
    """Held while dialling: the others behind it wait for this one connection."""
    users: int = 0
    """Routes through it, and routes on their way to it."""
    client: paramiko.SSHClient | None = None
    route: Route | None = None
    """How the jump host itself is reached (maybe through another)."""
    logins: int = 0
    failures: int = 0
    retry_at: float = 0.0
    reason: str = ""

    def transport(self) -> paramiko.Transport | None:
        t = self.client.get_transport() if self.client is not None else None
        return t if t is not None and t.is_active() else None


class JumpPool:
    """The jump host connections of one console, shared by all of its transports.

    Args:
        dial: Logs in to a jump host over a sock (host key checked, keys offered).
        backoff: Seconds before a jump host that failed is dialled again (doubled each
            failure in a row, up to `max_backoff`); meanwhile its targets fail at once.
    """

    def __init__(
        self,
        dial: Dial,
        *,
        backoff: float = defaults.BACKOFF,
        max_backoff: float = defaults.MAX_BACKOFF,
    ) -> None:
        self.dial = dial
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._lock = threading.Lock()
        self._jumps: dict[Endpoint, _Jump] = {}

    def route(self, hop: Endpoint, cancel: Cancel, timeout: float) -> Route:
        """The way to `hop`: a channel through its jump host, a proxy command, or TCP.

        Raises JumpError when a jump host on the way cannot be used, TransportError when
        the jump host cannot reach `hop` or the proxy command cannot start.
        """
        if hop.via is None:
            if hop.proxy_command:
                # A connect hanging in it is cut off by the dial's client.close().
                return Route(ProxyProcess(hop.proxy_command))
            return Route(None)
        jump, transport = self._acquire(hop.via, cancel, timeout)
        try:
            chan = transport.open_channel(
                "direct-tcpip", (hop.address, hop.port), _ORIGIN, timeout=timeout
            )
        except paramiko.ChannelException as e:  # the jump host is fine, the target is not
            self._release(jump)
            raise TransportError(
                f"cannot connect to {hop.address}:{hop.port} through jump host "
                f"{hop.via.name}: {e.text}"
            ) from e
        except (paramiko.SSHException, OSError, EOFError) as e:
            self._release(jump)
            if transport.is_active():
                raise TransportError(
                    f"no channel to {hop.address}:{hop.port} through jump host "
                    f"{hop.via.name} within {timeout:.0f}s"
                ) from e
            raise JumpError(f"jump host {hop.via.name}: connection lost") from e
        return Route(
            chan, hop.via, lambda: self._release(jump), lambda: jump.transport() is not None
        )

    def connected(self) -> list[Endpoint]:
        """The jump hosts connected now."""
        with self._lock:
            return [j.endpoint for j in self._jumps.values() if j.transport() is not None]

    def logins(self, endpoint: Endpoint) -> int:
        """How many times the pool logged in to `endpoint` (for tests and benchmarks)."""
        with self._lock:
            jump = self._jumps.get(endpoint)
            return jump.logins if jump is not None else 0

    def close(self) -> None:
        """Close every jump connection now (the routes over them fail)."""
        with self._lock:
            dropped = [self._take(j) for j in self._jumps.values()]
        for client, route in dropped:
            _close(client, route)

    # -- internals ---------------------------------------------------------------------

    def _acquire(
        self, endpoint: Endpoint, cancel: Cancel, timeout: float
    ) -> tuple[_Jump, paramiko.Transport]:
        """A live connection to the jump host, dialled if need be; counts one user."""
        if endpoint.problem:
            raise JumpError(f"jump host {endpoint.name}: {endpoint.problem}")
        with self._lock:
            jump = self._jumps.get(endpoint)
            if jump is None:
                jump = self._jumps[endpoint] = _Jump(endpoint)
            jump.users += 1
        try:
            # One dials, the others wait for it; a close() of theirs is still heard.
            while not jump.connecting.acquire(timeout=0.05):
                if cancel.is_set():
                    raise TransportError("connect cut off: the connection was closed")
            try:
                return jump, self._connected(jump, cancel, timeout)
            finally:
                jump.connecting.release()
        except BaseException:
            self._release(jump)
            raise

    def _connected(self, jump: _Jump, cancel: Cancel, timeout: float) -> paramiko.Transport:
        """Under `jump.connecting`: its live transport, or a new login."""
        transport = jump.transport()
        if transport is not None:
            return transport
        with self._lock:
            stale = self._take(jump)  # it dropped (or was never made): dial again, now
        try:
            return self._login(jump, cancel, timeout)
        finally:
            # After the new route holds the jump host before it (in a chain), so that
            # one is not closed and logged in to again.
            _close(*stale)

    def _login(self, jump: _Jump, cancel: Cancel, timeout: float) -> paramiko.Transport:
        now = time.monotonic()
        if now < jump.retry_at:
            raise JumpError(jump.reason)  # in its backoff: fail fast, as it last did
        route: Route | None = None
        try:
            route = self.route(jump.endpoint, cancel, timeout)
            client = self.dial(jump.endpoint, route.sock, cancel)
        except BaseException as e:
            if route is not None:
                route.close()
            if not isinstance(e, TransportError) or cancel.is_set():
                raise  # cut off by a close: not the jump host's failure
            name = jump.endpoint.name
            reason = str(e) if isinstance(e, JumpError) else f"jump host {name}: {e}"
            jump.failures += 1
            wait = self.backoff * 2.0 ** (jump.failures - 1)
            jump.retry_at = now + min(self.max_backoff, wait)
            jump.reason = reason
            raise JumpError(reason) from e
        transport = client.get_transport()
        assert transport is not None  # dial returns logged-in clients
        with self._lock:
            jump.client, jump.route = client, route
            jump.logins += 1
            jump.failures = 0
        return transport

    def _release(self, jump: _Jump) -> None:
        with self._lock:
            jump.users -= 1
            dropped = self._take(jump) if jump.users == 0 else (None, None)
        _close(*dropped)

    @staticmethod
    def _take(jump: _Jump) -> tuple[paramiko.SSHClient | None, Route | None]:
        """Under the pool's lock: detach the jump's connection, to be closed outside."""
        taken = (jump.client, jump.route)
        jump.client = jump.route = None
        return taken


def _close(client: paramiko.SSHClient | None, route: Route | None) -> None:
    if client is not None:
        client.close()
    if route is not None:
        route.close()  # lets go of the jump host before it, in a chain
