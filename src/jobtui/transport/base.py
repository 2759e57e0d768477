"""What every transport offers: a long-lived `sh -s` on the host (a Session) that
runs one request per round trip, and the job operations built on it (launch,
status, cancel, cleanup), one round trip each.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Self

from jobtui import defaults
from jobtui.model import Host, Outcome, RunState
from jobtui.remote import parse, protocol
from jobtui.remote.parse import HostStatus, LaunchOutcome, LaunchResult
from jobtui.remote.protocol import LaunchRequest

SEEN_MAX = 4096
SEEN_FILE_MAX = 64 * 1024
"""At most this many finished Ansible job files of at most this size are kept per
shell, not to be read again (the rest is read on each round trip)."""

MAX_OUTPUT = 64 * 1024 * 1024
"""An answer longer than this is refused: output tails are bounded, so only a broken
host gets near it."""


class TransportError(Exception):
    """The host could not be reached or did not answer; `str()` says why, for people."""

    maybe_delivered = False
    """The request may have reached the host before the failure (it was being sent)."""


class Session(ABC):
    """A running `sh -s` on the host: bytes in, bytes out."""

    @abstractmethod
    def send(self, data: bytes) -> None: ...

    @abstractmethod
    def recv(self, timeout: float) -> bytes:
        """Some bytes; b"" when the shell is gone. Raises TransportError on timeout."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def fileno(self) -> int:
        """For select(): readable when `recv` has bytes (or the end) to give."""

    def read_until(self, marker: bytes, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        buf = bytearray()
        while True:
            # The marker may straddle two reads: search the new bytes plus a margin.
            start = max(0, len(buf) - len(marker))
            left = deadline - time.monotonic()
            if left <= 0:
                raise TransportError(f"no complete answer within {timeout:.0f}s")
            data = self.recv(left)
            if not data:
                raise TransportError("the remote shell went away")
            buf += data
            at = buf.find(marker, start)
            if at >= 0:
                return bytes(buf[:at])
            if len(buf) > MAX_OUTPUT:
                raise TransportError(f"answer larger than {MAX_OUTPUT} bytes")


class Transport(ABC):
    """A way to reach one host. Thread-safe: round trips are serialised."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._lock = threading.Lock()
        self._session: Session | None = None
        self.sessions_opened = 0
        """How many shells were started on the host (one, unless the connection dropped)."""
        self._ansible_seen: dict[str, tuple[int, int, bytes]] = {}
        """Finished Ansible job files read before: jid -> (mtime, size, content)."""
        self._seen_lock = threading.Lock()

    as_user = ""
    """The become user its shell runs as ("": the login user)."""

    @abstractmethod
    def _open(self) -> Session:
        """Start `sh -s` on the host."""

    def _exec(self, command: str) -> Session:
        """Start `command` (a shell command line) on the host as the login user: the
        become shells' sudo (a transport that cannot has no become shells)."""
        raise TransportError(f"{self.host.name}: this connection cannot start a sudo shell")

    def open_shell(self, command: str) -> Session:
        """Another shell on the host's connection, for `command` (the become shells)."""
        with self._lock:
            return self._exec(command)

    def _close_session(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def close(self) -> None:
        """Stop the remote shell and release the connection. Usable again after."""
        with self._lock:
            self._close_session()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, script: bytes, token: str, timeout: float = defaults.ROUND_TRIP_TIMEOUT) -> bytes:
        """Send one request (built with `token`) and return its answer, end record excluded."""
        return self._round_trip(protocol.batched(script), token, timeout)

    def run_raw(
        self, script: bytes, token: str, timeout: float = defaults.ROUND_TRIP_TIMEOUT
    ) -> bytes:
        """As `run`, for a script that prints its answer itself, end record included
        (not `protocol.batched`, whose capture drops NUL bytes): `jobtui logs`."""
        return self._round_trip(script, token, timeout)

    def _round_trip(self, data: bytes, token: str, timeout: float) -> bytes:
        with self._lock:
            if self._session is None:
                self._session = self._open()
                self.sessions_opened += 1
                self._session.send(protocol.WRAPPER.encode() + b"\n")
            try:
                self._session.send(data)
                return self._session.read_until(protocol.end_marker(token), timeout)
            except TransportError as e:
                # The shell is in an unknown state: start afresh next time.
                e.maybe_delivered = True
                self._close_session()
                raise

    def open_watch(self) -> tuple[Session, str]:
        """A second shell on the host running the end watcher; returns it and its token.

        Only once the host has answered a round trip: the watcher never dials a host
        itself, so a host that is down costs nothing here.
        """
        with self._lock:
            if self._session is None:
                raise TransportError("not connected")
            watch = self._open()
        token = protocol.new_token()
        watch.send(
            protocol.WRAPPER.encode() + b"\n" + protocol.watch_script(self.host.jobtui_dir, token)
        )
        return watch, token

    def launch(self, requests: list[LaunchRequest]) -> dict[str, LaunchResult]:
        """Start every run in one round trip. A jid whose job dir exists is not started again."""
        wrong = {r.jid for r in requests if (r.become.user if r.become else "") != self.as_user}
        if wrong:  # a programming error, but never run as someone else than asked for
            who = f"as {self.as_user}" if self.as_user else "as the login user"
            refused = {
                jid: LaunchResult(jid, LaunchOutcome.ERROR, f"not launched: this shell runs {who}")
                for jid in wrong
            }
            rest = [r for r in requests if r.jid not in wrong]
            return refused | (self.launch(rest) if rest else {})
        token = protocol.new_token()
        out = self.run(protocol.launch_script(self.host.jobtui_dir, requests, token), token)
        with _readable():
            return parse.parse_launch(out, token, [r.jid for r in requests])

    def status(
        self, jids: list[str] | None = None, full: frozenset[str] | set[str] = frozenset()
    ) -> HostStatus:
        """The state of the given runs (every run on the host, in full, when `jids` is
        None); runs in `full` come with their metadata and output tails."""
        token = protocol.new_token()
        # A copy: the engine and the console's Ansible source poll one host from two
        # threads, and each answer's `same` refers to what its own request named.
        with self._seen_lock:
            seen = dict(self._ansible_seen)
        script = protocol.status_script(
            self.host.jobtui_dir,
            jids,
            token,
            full=full,
            async_dir=self.host.ansible_async_dir,
            known={j: (mt, sz) for j, (mt, sz, _) in seen.items()},
        )
        out = self.run(script, token)
        with _readable():
            st = parse.parse_status(out, token, known=seen)
        self._remember_ansible(st, jids)
        return st

    def _remember_ansible(self, st: HostStatus, asked: list[str] | None) -> None:
        """Keep the finished Ansible job files just read (a result is never
        rewritten): the next round trip does not bring them again. Bounded."""
        with self._seen_lock:
            self._keep_ansible(st, asked)

    def _keep_ansible(self, st: HostStatus, asked: list[str] | None) -> None:
        for jid in [j for j in self._ansible_seen if j in st.missing or asked is None]:
            if jid not in st.ansible_files:
                del self._ansible_seen[jid]
        for jid, (head, content) in st.ansible_heads.items():
            run = st.runs.get(jid)
            if run is None or run.problem or not run.state.finished or run.state is RunState.LOST:
                continue
            if head is None or jid in self._ansible_seen or len(content) > SEEN_FILE_MAX:
                continue
            if len(self._ansible_seen) >= SEEN_MAX:
                break
            self._ansible_seen[jid] = (*head, content)

    def cancel(self, jids: list[str], grace: int = defaults.GRACE) -> dict[str, Outcome]:
        """TERM, grace, KILL to each run's process group. Returns jid -> ok|finished|missing.

        An Ansible job (its jid Ansible's) is ended the same way, its watcher too, and
        its file then says it finished, failed: `cancelled by jobtui`, rc 143."""
        token = protocol.new_token()
        script = protocol.cancel_script(
            self.host.jobtui_dir, jids, token, grace, async_dir=self.host.ansible_async_dir
        )
        out = self.run(script, token, grace + defaults.ROUND_TRIP_TIMEOUT)
        with _readable():
            return _outcomes(out, token, "cancel")

    def cleanup(self, jids: list[str]) -> dict[str, Outcome]:
        """Remove finished runs' job dirs (an Ansible job's file). Returns jid ->
        ok|running|missing|error."""
        token = protocol.new_token()
        script = protocol.cleanup_script(
            self.host.jobtui_dir, jids, token, async_dir=self.host.ansible_async_dir
        )
        out = self.run(script, token)
        with _readable():
            return _outcomes(out, token, "cleanup")

    def read_output(self, jid: str, stream: str, offset: int, size: int) -> Chunk | None:
        """Bytes `offset`..`offset+size` of a jobtui run's stdout or stderr (None: no
        such run here). One round trip."""
        token = protocol.new_token()
        script = protocol.read_script(self.host.jobtui_dir, jid, stream, offset, size, token)
        out = self.run_raw(script, token)
        with _readable():
            return parse_chunk(out, token, jid)


@dataclass
class Chunk:
    """Part of a run's output, and whether the run has ended (no more will come)."""

    data: bytes
    done: bool
    total: int | None = None
    """The stream's whole size when it was read, if the host said (it only grows)."""


def parse_chunk(out: bytes, token: str, jid: str) -> Chunk | None:
    records = parse.split_records(out, token)
    parse.parse_hello(records)
    for r in records:
        if r.kind == "read" and r.args[:1] == [jid] and len(r.args) in (2, 3):
            if r.args[1] == "missing":
                return None
            size = r.args[2] if len(r.args) == 3 else ""
            total = int(size) if size.isascii() and size.isdigit() and len(size) <= 18 else None
            return Chunk(r.body, r.args[1] == "done", total)
    raise parse.ProtocolError("no answer to the read")


@contextlib.contextmanager
def _readable() -> Iterator[None]:
    """An answer the console cannot read is a failure of that host, like a lost
    connection (and the request may have been carried out)."""
    try:
        yield
    except parse.ProtocolError as e:
        err = TransportError(f"unreadable answer: {e}")
        err.maybe_delivered = True
        raise err from e


def _outcomes(out: bytes, token: str, kind: str) -> dict[str, Outcome]:
    records = parse.split_records(out, token)
    parse.parse_hello(records)
    outcomes = {}
    for r in records:
        if r.kind == kind and len(r.args) == 2:
            try:
                outcomes[r.args[0]] = Outcome(r.args[1])
            except ValueError:
                outcomes[r.args[0]] = Outcome.ERROR  # a word this console does not know
    return outcomes
