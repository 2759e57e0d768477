"""`ansible_connection: local`: the same wrapper, run by a local /bin/sh."""

from __future__ import annotations

import subprocess

from jobtui.transport.base import MAX_OUTPUT, Transport, TransportError


class LocalTransport(Transport):
    def _run(self, script: bytes, timeout: float) -> bytes:
        try:
            proc = subprocess.run(
                ["/bin/sh", "-s"],
                input=script,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise TransportError(f"local shell did not answer within {timeout:.0f}s") from e
        except OSError as e:
            raise TransportError(f"cannot run /bin/sh: {e.strerror}") from e
        return proc.stdout[:MAX_OUTPUT]
