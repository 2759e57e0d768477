"""`ansible_connection: local`: the same wrapper, in a long-lived local /bin/sh."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
from collections.abc import Mapping, Sequence

from jobtui.transport.base import Session, Transport, TransportError

CLOSE_WAIT = 5.0
"""Seconds a closed shell gets to exit on the end of its stdin (an end watcher notices
it within a moment) before it is killed."""


class LocalSession(Session):
    def __init__(
        self, argv: Sequence[str] = ("/bin/sh", "-s"), env: Mapping[str, str] | None = None
    ) -> None:
        try:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env=None if env is None else dict(env),
            )
        except OSError as e:
            raise TransportError(f"cannot run {argv[0]}: {e.strerror}") from e
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin = self.proc.stdin
        self.fd = self.proc.stdout.fileno()

    def send(self, data: bytes) -> None:
        try:
            self.stdin.write(data)
            self.stdin.flush()
        except OSError as e:
            raise TransportError(f"local shell went away: {e.strerror}") from e

    def recv(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            raise TransportError(f"local shell did not answer within {timeout:.0f}s")
        return os.read(self.fd, 65536)

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        # The end of its stdin ends the shell, an end watcher included (as over SSH,
        # where nothing else could end it).
        with contextlib.suppress(OSError):  # already gone: nothing left to flush
            self.stdin.close()
        try:
            self.proc.wait(timeout=CLOSE_WAIT)
        except subprocess.TimeoutExpired:
            # A shell stuck in a request: end it and what it started in its own
            # process group, never a job (each job has a session of its own).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class LocalTransport(Transport):
    shell: Sequence[str] = ("/bin/sh", "-s")
    """The shell to start (a test may run the wrapper under another one)."""
    env: Mapping[str, str] | None = None
    """Its environment; None: this process's."""

    def _open(self) -> Session:
        return LocalSession(self.shell, self.env)

    def _exec(self, command: str) -> Session:
        return LocalSession(("/bin/sh", "-c", command), self.env)
