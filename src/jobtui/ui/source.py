"""Where the console's events come from, and the one object that may act.

A console is given an `EventSource` (the engine for `run`/`demo`/`attach`, a
discovery poller for `watch`, a fixed list in the tests) and, only in the operator
console, an `ActionSink` (something with `request`). The read-only console gets no
sink at all, so no code path in it can cancel, clean up or retry anything.

`EventBuffer` sits between the source's thread and the UI: it collapses a flood of
`RunChanged` events into the latest view per run, and signals the UI once per
batch of changes. No Textual import here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from jobtui.events import Event, Notice, RunChanged, RunView
from jobtui.model import NoticeLevel, RunKey
from jobtui.pages import read_view
from jobtui.transport.base import Chunk

if TYPE_CHECKING:
    from jobtui.engine import Engine


class EventSource(Protocol):
    """Delivers events to `emit` from its own thread until `stop()`."""

    def run(self, emit: Callable[[Event], None]) -> None:
        """Block, calling `emit(event)` for each event, until `stop()` is called."""

    def stop(self) -> None:
        """Make `run` return soon. Thread-safe; never kills a job."""


class ActionSink(Protocol):
    """Something that can act on runs (the engine). Thread-safe."""

    def request(self, action: str, keys: Iterable[RunKey]) -> None:
        """Ask for `cancel`, `cleanup` or `retry` of the runs with these keys."""

    def show_output(self, keys: Iterable[RunKey]) -> None:
        """Follow these runs' output live (the detail view); replaces the last call."""


class EngineSource:
    """An `Engine` as an event source: it runs with `linger`, so the operator can
    still act on finished runs, until the console stops it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def run(self, emit: Callable[[Event], None]) -> None:
        # After the engine's own listeners (the store first: what is shown is saved).
        self._engine.add_listener(emit)
        self._engine.run(linger=True)

    def stop(self) -> None:
        self._engine.stop()

    def read_output(self, view: RunView, stream: str, offset: int, size: int) -> Chunk | None:
        """The pager's reads of a batch run, through its host's transport (from the
        pager's worker thread: the transport serialises it with the engine's round
        trips, one lock per shell)."""
        host = self._engine.hosts.get(view.host)
        if view.ansible or host is None:
            return None  # Ansible's jobs are `AnsibleJobs`'
        return read_view(host.transport, view, stream, offset, size)


class MergedSource:
    """Several sources as one: the first runs on the caller's thread, each other on a
    thread of its own, all emitting into the same `emit` (the operator console: the
    engine, and `AnsibleJobs` over the batch's hosts). `run` returns when the first
    does; the others are then stopped and waited for."""

    def __init__(self, first: EventSource, *others: EventSource) -> None:
        self.first = first
        self.others = others

    def run(self, emit: Callable[[Event], None]) -> None:
        threads = [
            threading.Thread(target=_run, args=(o, emit), name="jobtui-source", daemon=True)
            for o in self.others
        ]
        for thread in threads:
            thread.start()
        try:
            self.first.run(emit)
        finally:
            for o in self.others:
                o.stop()
            for thread in threads:
                thread.join()

    def stop(self) -> None:
        for source in (self.first, *self.others):
            source.stop()

    def read_output(self, view: RunView, stream: str, offset: int, size: int) -> Chunk | None:
        """The first source's answer that is not None (each reads only its own runs)."""
        for source in (self.first, *self.others):
            read = getattr(source, "read_output", None)
            got: Chunk | None = read(view, stream, offset, size) if read is not None else None
            if got is not None:
                return got
        return None


def _run(source: EventSource, emit: Callable[[Event], None]) -> None:
    """A second source's thread: should it fail, the operator is told why (the first
    source's failure reaches the app's worker handler instead)."""
    try:
        source.run(emit)
    except Exception as e:
        text = f"{type(source).__name__} stopped: {type(e).__name__}: {e}"
        emit(Notice(text, NoticeLevel.ERROR))


class ReplaySource:
    """A fixed list of events, then nothing until stopped (tests, screenshots)."""

    def __init__(
        self,
        events: Sequence[Event],
        outputs: Mapping[tuple[RunKey, str], bytes] | None = None,
    ) -> None:
        self.events = list(events)
        self.outputs = dict(outputs or {})
        """(run, "stdout"|"stderr") -> its whole output, for the pager."""
        self._stopped = threading.Event()

    def run(self, emit: Callable[[Event], None]) -> None:
        for event in self.events:
            emit(event)

    def stop(self) -> None:
        self._stopped.set()

    def read_output(self, view: RunView, stream: str, offset: int, size: int) -> Chunk | None:
        data = self.outputs.get((view.key, stream))
        if data is None:
            return None
        return Chunk(data[offset : offset + size], view.state.finished, len(data))


class EventBuffer:
    """Thread-safe inbox between a source's thread and the UI.

    `push` (source thread) keeps only the latest `RunChanged` per run, with the
    state the run had before the first change of the batch, and calls `on_ready`
    once per batch (when the inbox goes from empty to non-empty). `drain` (UI
    thread) takes everything, in the order it happened.
    """

    def __init__(self, on_ready: Callable[[], None] = lambda: None) -> None:
        self.on_ready = on_ready
        self._lock = threading.Lock()
        self._seq = 0
        self._runs: dict[RunKey, tuple[int, RunChanged]] = {}
        self._others: list[tuple[int, Event]] = []
        self._signalled = False

    def push(self, event: Event) -> None:
        with self._lock:
            self._seq += 1
            if isinstance(event, RunChanged):
                key = event.run.key
                earlier = self._runs.get(key)
                if earlier is not None:
                    event = RunChanged(event.run, earlier[1].previous)
                self._runs[key] = (self._seq, event)
            else:
                self._others.append((self._seq, event))
            signal = not self._signalled
            self._signalled = True
        if signal:
            self.on_ready()

    def drain(self) -> list[Event]:
        """Everything pushed since the last drain, oldest first (one event per run)."""
        with self._lock:
            runs, self._runs = self._runs, {}
            others, self._others = self._others, []
            self._signalled = False
        merged: list[tuple[int, Event]] = [*runs.values(), *others]
        merged.sort(key=lambda pair: pair[0])
        return [event for _, event in merged]
