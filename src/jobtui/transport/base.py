"""What every transport offers: run a script on a host's `sh -s`, and the job
operations built on that (launch, status, cancel, cleanup), one round trip each.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod

from jobtui.model import Host
from jobtui.remote import protocol
from jobtui.remote.protocol import HostStatus, LaunchRequest, LaunchResult

MAX_OUTPUT = 64 * 1024 * 1024
"""A round trip that prints more than this is cut off: output tails are bounded, so
only a broken host gets near it."""


class TransportError(Exception):
    """The host could not be reached or did not answer; `str()` says why, for people."""


class Transport(ABC):
    """A way to run the wrapper on one host. Thread-safe: calls are serialised."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._lock = threading.Lock()

    @abstractmethod
    def _run(self, script: bytes, timeout: float) -> bytes:
        """Run `script` with `sh -s` on the host; return its stdout."""

    def close(self) -> None:  # noqa: B027 (a no-op by default: local needs nothing)
        """Release the connection, if any. The transport may be used again after."""

    def run(self, script: bytes, timeout: float = 60.0) -> bytes:
        with self._lock:
            return self._run(script, timeout)

    def launch(self, requests: list[LaunchRequest]) -> dict[str, LaunchResult]:
        """Start every run in one round trip. A jid whose job dir exists is not started again."""
        token = protocol.new_token()
        out = self.run(protocol.launch_script(self.host.jobtui_dir, requests, token))
        return protocol.parse_launch(out, token, [r.jid for r in requests])

    def status(self, jids: list[str] | None = None) -> HostStatus:
        """The state of the given runs (every run on the host when `jids` is None)."""
        token = protocol.new_token()
        out = self.run(protocol.status_script(self.host.jobtui_dir, jids, token))
        return protocol.parse_status(out, token)

    def cancel(self, jids: list[str]) -> dict[str, str]:
        """TERM, grace, KILL to each run's process group. Returns jid -> ok|finished|missing."""
        token = protocol.new_token()
        timeout = protocol.GRACE_SECONDS + 60.0
        out = self.run(protocol.cancel_script(self.host.jobtui_dir, jids, token), timeout)
        return _outcomes(out, token, "cancel")

    def cleanup(self, jids: list[str]) -> dict[str, str]:
        """Remove finished runs' job dirs. Returns jid -> ok|running|missing|error."""
        token = protocol.new_token()
        out = self.run(protocol.cleanup_script(self.host.jobtui_dir, jids, token))
        return _outcomes(out, token, "cleanup")


def _outcomes(out: bytes, token: str, kind: str) -> dict[str, str]:
    records = protocol.split_records(out, token)
    protocol.parse_hello(records)
    return {r.args[0]: r.args[1] for r in records if r.kind == kind and len(r.args) == 2}
