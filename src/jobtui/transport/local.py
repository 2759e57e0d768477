"""`ansible_connection: local`: the same wrapper, in a long-lived local /bin/sh."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess

from jobtui.transport.base import Session, Transport, TransportError


class LocalSession(Session):
    def __init__(self) -> None:
        try:
            self.proc = subprocess.Popen(
                ["/bin/sh", "-s"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as e:
            raise TransportError(f"cannot run /bin/sh: {e.strerror}") from e
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
        with contextlib.suppress(OSError):  # already gone: nothing left to flush
            self.stdin.close()
        try:
            self.proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            # A watcher never reads its stdin: end its shell and its `sleep` (their
            # own process group), never a job (each job has a session of its own).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class LocalTransport(Transport):
    def _open(self) -> Session:
        return LocalSession()
