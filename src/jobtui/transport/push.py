"""Push: one thread that listens to every host's end watcher (`jt_watch`).

Each watcher is a second `sh -s` on the host's existing connection that prints a
record when a run ends. The thread select()s over all of them and calls
`on_end(host)`, so the engine polls that host at once instead of at its next poll
time. Losing a watcher costs nothing but latency: polling goes on regardless.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from jobtui import defaults
from jobtui.transport.base import Session, Transport, TransportError


@dataclass
class _Watch:
    session: Session
    marker: bytes
    buf: bytes = b""


@dataclass
class PushHub:
    transports: Mapping[str, Transport]
    on_end: Callable[[str], None]
    _stop: threading.Event = field(default_factory=threading.Event)
    _watches: dict[str, _Watch] = field(default_factory=dict)
    _retry_at: dict[str, float] = field(default_factory=dict)
    _thread: threading.Thread | None = None
    _wake: tuple[int, int] | None = None
    """A pipe whose write end `stop` writes to: the loop's select() wakes at once (the
    console's exit waited up to a select timeout for it)."""

    def start(self) -> None:
        self._wake = os.pipe()
        self._thread = threading.Thread(target=self._loop, name="jobtui-push", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._wake is not None:
            with contextlib.suppress(OSError):
                os.write(self._wake[1], b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._wake is not None and not (self._thread and self._thread.is_alive()):
            for fd in self._wake:
                os.close(fd)
            self._wake = None
        for w in self._watches.values():
            w.session.close()
        self._watches.clear()

    def _open_missing(self) -> None:
        now = time.monotonic()
        for name, t in self.transports.items():
            if name in self._watches or self._retry_at.get(name, 0.0) > now:
                continue
            try:
                session, token = t.open_watch()
            except TransportError:
                self._retry_at[name] = now + 1.0  # not connected yet: look again soon
                continue
            self._watches[name] = _Watch(session, f"\n{token} ended".encode())

    def _loop(self) -> None:
        last_open = 0.0
        while not self._stop.is_set():
            if time.monotonic() - last_open > 1.0:
                self._open_missing()
                last_open = time.monotonic()
            by_fd = {w.session.fileno(): name for name, w in self._watches.items()}
            wake = [self._wake[0]] if self._wake is not None else []
            ready, _, _ = select.select([*by_fd, *wake], [], [], 0.2 if by_fd else 0.5)
            for fd in ready:
                if fd in by_fd and not self._stop.is_set():
                    self._read(by_fd[fd])

    def _read(self, name: str) -> None:
        w = self._watches[name]
        try:
            data = w.session.recv(0.1)
        except TransportError:
            data = b""
        if not data:
            w.session.close()
            del self._watches[name]
            self._retry_at[name] = time.monotonic() + defaults.REOPEN_WATCH
            return
        buf = w.buf + data
        hits = buf.count(w.marker)
        # Keep a tail as long as the marker, so one split across reads is still found.
        w.buf = buf[-len(w.marker) :] if hits == 0 else buf[buf.rfind(w.marker) + len(w.marker) :]
        # The first record is the count when the watcher started: an end between
        # the last poll and then was not pushed, so it asks for a poll too.
        if hits:
            self.on_end(name)
