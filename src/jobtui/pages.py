"""A run's whole stdout or stderr, served in pages for the console's pager, never
held whole: fixed chunks read from the host as they are needed, a bounded cache of
them, the display lines around any byte offset, and a search over the chunks.

Display lines: the output is cut after each newline and, in a line longer than
`FOLD` bytes, at the multiples of `FOLD` (a grid point starts a display line when
the `FOLD` bytes before it hold no newline). So the line around any offset is found
from at most `2 * FOLD` bytes around it, forward or backward, and a line of 100 MB
without a newline costs no more than a short one. A line shorter than `FOLD` is
never cut.

A `Pager` is the state of one pager (its top line, the screen's height, the last
match) over one stream's `ChunkStore`; its methods block on the host (call them on
a worker thread) and `screen()` is what the UI draws. No Textual import here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from jobtui.events import RunView
from jobtui.remote import ansible
from jobtui.transport.base import Chunk, Transport

CHUNK = 64 * 1024
"""Bytes per read of the host (one round trip each)."""
CACHE_CHUNKS = 32
"""Chunks kept per stream (2 MiB), the least recently used dropped first."""
FOLD = 2048
"""A display line is at most `2 * FOLD - 1` bytes (longer lines are cut)."""
SEARCH_BLOCK = 1 << 20
"""Bytes per read of a search (not cached: a search passes over the output once)."""
STREAMS = ("stdout", "stderr")

Reader = Callable[[int, int], Chunk | None]
"""`read(offset, size)`: bytes `offset`..`offset+size` of one stream, the stream's
size (`Chunk.total`) and whether the run has ended (None: the output is gone)."""


@runtime_checkable
class OutputSource(Protocol):
    """What a console's source offers its pager: any byte range of a run's output."""

    def read_output(self, view: RunView, stream: str, offset: int, size: int) -> Chunk | None:
        """Bytes `offset`..`offset+size` of the run's `stream` ("stdout"/"stderr"),
        blocking (a worker thread); None: not this source's run, or gone from its host.

        Raises:
            TransportError: the host could not be read.
        """


class OutputGone(Exception):
    """The run's output is no longer on its host (cleaned up), or was never found."""


def read_view(t: Transport, view: RunView, stream: str, offset: int, size: int) -> Chunk | None:
    """A range of a run's output through its host's transport: a jobtui run's file
    (one round trip), or one of Ansible's jobs' result, which holds its whole output
    once it has finished (nothing before; the transport keeps a finished job's file,
    so reading it again costs no transfer)."""
    if not view.jid:
        return None
    if not view.ansible:
        return t.read_output(view.jid, stream, offset, size)
    st = t.status([view.jid], {view.jid})
    run = st.runs.get(view.jid)
    if run is None:
        return None
    content = st.ansible_files.get(view.jid)
    text = None if content is None else ansible.output_of(content, stream)
    if text is None:
        return Chunk(b"", run.state.finished, 0)
    data = text.encode("utf-8", "surrogateescape")
    if data and not data.endswith(b"\n"):
        data += b"\n"  # Ansible strips the last newline of a command's output
    return Chunk(data[offset : offset + size], True, len(data))


class ChunkStore:
    """One stream of one run, read in chunks of `chunk` bytes, at most `cache` of
    them kept. Not thread-safe: one thread at a time (the pager's worker).

    Args:
        read: Reads a byte range of the stream from its host.
    """

    def __init__(self, read: Reader, chunk: int = CHUNK, cache: int = CACHE_CHUNKS) -> None:
        self._read = read
        self.chunk = chunk
        self.cache = cache
        self.size = 0
        """The stream's size as last heard from the host."""
        self.done = False
        """The run has ended: the size will not change."""
        self.bytes_read = 0
        """Bytes brought from the host so far (what the tests count)."""
        self._chunks: OrderedDict[int, bytes] = OrderedDict()

    def read(self, offset: int, size: int) -> bytes:
        """Bytes from the host, not cached (the size and the end noted)."""
        got = self._read(offset, size)
        if got is None:
            raise OutputGone("its output is no longer on its host (cleaned up?)")
        self.bytes_read += len(got.data)
        total = offset + len(got.data)
        if got.total is not None:
            total = max(total, got.total)
        self._grown(max(total, self.size))
        self.done = got.done
        return got.data

    def refresh(self) -> bool:
        """Ask the host the stream's size (no bytes read); whether it grew."""
        before = self.size
        self.read(self.size, 0)
        return self.size != before

    def _grown(self, size: int) -> None:
        if size != self.size:
            last = self.size // self.chunk
            if self.size % self.chunk:
                self._chunks.pop(last, None)  # a short last chunk is longer now
            self.size = size

    def _get(self, index: int) -> bytes:
        data = self._chunks.get(index)
        if data is not None:
            self._chunks.move_to_end(index)
            return data
        data = self.read(index * self.chunk, self.chunk)
        self._chunks[index] = data
        while len(self._chunks) > self.cache:
            self._chunks.popitem(last=False)
        return data

    def span(self, start: int, end: int) -> bytes:
        """Bytes `start`..`end` (cut at the size), from the cache or the host."""
        start, end = max(0, start), min(end, self.size)
        if start >= end:
            return b""
        parts = []
        for index in range(start // self.chunk, (end - 1) // self.chunk + 1):
            base = index * self.chunk
            parts.append(self._get(index)[max(0, start - base) : end - base])
        return b"".join(parts)

    @property
    def cached(self) -> int:
        """Bytes held in memory."""
        return sum(len(c) for c in self._chunks.values())


def line_start(store: ChunkStore, pos: int, fold: int = FOLD) -> int:
    """The start of the display line holding byte `pos`."""
    pos = max(0, min(pos, store.size))
    grid = pos - pos % fold
    window = store.span(max(0, grid - fold), pos)
    base = max(0, grid - fold)
    starts = []
    nl = window.rfind(b"\n")
    if nl >= 0:
        starts.append(base + nl + 1)
    if grid == 0 or b"\n" not in window[: grid - base]:
        starts.append(grid)
    return max(starts)


def next_start(store: ChunkStore, start: int, fold: int = FOLD) -> int | None:
    """The start of the display line after the one at `start` (None: it is the last)."""
    grid = start - start % fold + 2 * fold if start % fold else start + fold
    nl = store.span(start, grid).find(b"\n")
    after = start + nl + 1 if nl >= 0 else grid
    return after if after < store.size else None


def prev_start(store: ChunkStore, start: int, fold: int = FOLD) -> int | None:
    """The start of the display line before the one at `start` (None: it is the first)."""
    return line_start(store, start - 1, fold) if start > 0 else None


@dataclass(frozen=True)
class Line:
    """A display line: where it starts in the stream, and its bytes (no newline)."""

    offset: int
    data: bytes


def lines_at(store: ChunkStore, start: int, count: int, fold: int = FOLD) -> list[Line]:
    """Up to `count` display lines from the one at `start`."""
    lines: list[Line] = []
    at: int | None = start if start < store.size else None
    while at is not None and len(lines) < count:
        after = next_start(store, at, fold)
        data = store.span(at, after if after is not None else store.size)
        lines.append(Line(at, data[:-1] if data.endswith(b"\n") else data))
        at = after
    return lines


def find(
    store: ChunkStore,
    pattern: bytes,
    start: int,
    forward: bool = True,
    cancelled: Callable[[], bool] = lambda: False,
    block: int = SEARCH_BLOCK,
) -> int | None:
    """The offset of the first match at or after `start` (`forward`), or of the last
    one before it; case-insensitive unless `pattern` has a capital (ASCII letters).
    Reads `block` bytes at a time and keeps only those: a match across two blocks
    is found (the blocks overlap by `len(pattern) - 1`). None: no match, or
    `cancelled()` became true."""
    if not pattern:
        return None
    fold = pattern == pattern.lower()
    if fold:
        pattern = pattern.lower()
    over = len(pattern) - 1
    if forward:
        pos = max(0, start)
        while pos < store.size and not cancelled():
            data = store.read(pos, block + over)
            at = (data.lower() if fold else data).find(pattern)
            if at >= 0:
                return pos + at
            if len(data) <= over:
                return None
            pos += block
        return None
    hi = min(store.size, start + over)
    while hi > 0 and not cancelled():
        lo = max(0, hi - block - over)
        data = store.read(lo, hi - lo)
        at = (data.lower() if fold else data).rfind(pattern)
        if at >= 0 and lo + at < start:
            return lo + at
        if lo == 0:
            return None
        hi = lo + over
    return None


@dataclass(frozen=True)
class Screen:
    """What the pager shows: the lines from its top, and where that is."""

    stream: str
    lines: list[Line]
    top: int
    size: int
    done: bool
    at_end: bool
    """The last line is on screen (the pager follows a growing output from here)."""
    match: tuple[int, int] | None = None
    """The current match: its offset and length."""
    pattern: bytes = b""
    message: str = ""


@dataclass
class Pager:
    """One stream in a pager: its top line, height and last match. Its moves read
    from the host as needed (call them on a worker thread, one at a time)."""

    store: ChunkStore
    stream: str = "stdout"
    height: int = 20
    top: int = 0
    match: tuple[int, int] | None = None
    pattern: bytes = b""
    message: str = ""
    following: bool = False
    """The last line is on screen: when the output grows, the end stays in view."""
    fold: int = FOLD

    def open(self) -> None:
        """Learn the stream's size (no bytes read: then `end` or `home`)."""
        self.store.refresh()

    def down(self, n: int = 1) -> None:
        for _ in range(n):
            after = next_start(self.store, self.top, self.fold)
            if after is None:
                break
            self.top = after
        self._settle()

    def up(self, n: int = 1) -> None:
        self._up(n)
        self._settle()

    def _up(self, n: int) -> None:
        for _ in range(n):
            before = prev_start(self.store, self.top, self.fold)
            if before is None:
                break
            self.top = before

    def home(self) -> None:
        self.top = 0
        self._settle()

    def end(self) -> None:
        """The last line at the bottom of the screen; only the last chunks are read."""
        self.message = ""
        self.top = line_start(self.store, self.store.size - 1, self.fold) if self.store.size else 0
        self._up(self.height - 1)
        self.following = True

    def goto(self, pos: int) -> None:
        """The line holding byte `pos` at the top (the scrollbar, a match)."""
        self.top = line_start(self.store, pos, self.fold)
        self._settle()

    def resize(self, height: int) -> None:
        self.height = max(1, height)
        if self.following:
            self.end()
        else:
            self._settle()

    def grow(self) -> bool:
        """Ask the host for more output; at the end, stay at the end. Whether it grew."""
        grew = self.store.refresh()
        if grew and self.following:
            self.end()
        return grew

    def search(
        self, pattern: bytes, forward: bool = True, cancelled: Callable[[], bool] = lambda: False
    ) -> bool:
        """The next match (`forward`) or the previous one, from the current match or
        else the screen's top, round the end if need be; its line brought to the top
        unless it is on screen."""
        if pattern != self.pattern:
            self.pattern, self.match = pattern, None
        if self.match is not None:
            start = self.match[0] + 1 if forward else self.match[0]
        else:
            start = self.top
        at = find(self.store, pattern, start, forward, cancelled)
        wrapped = ""
        if at is None and not cancelled():  # round the end, as vim does
            at = find(self.store, pattern, 0 if forward else self.store.size, forward, cancelled)
            wrapped = "search wrapped to the top" if forward else "search wrapped to the end"
        if at is None:
            self.message = "search cancelled" if cancelled() else "no match"
            return False
        self.match = (at, len(pattern))
        shown = lines_at(self.store, self.top, self.height, self.fold)
        if not shown or not shown[0].offset <= at <= shown[-1].offset + len(shown[-1].data):
            self.goto(at)
        self.message = wrapped
        return True

    def _settle(self) -> None:
        """No blank lines below the end while the output has more above; note
        whether the end is in view."""
        self.message = ""
        shown = lines_at(self.store, self.top, self.height, self.fold)
        if len(shown) < self.height and self.top > 0:
            self.end()
            return
        self.following = not shown or next_start(self.store, shown[-1].offset, self.fold) is None

    def screen(self) -> Screen:
        lines = lines_at(self.store, self.top, self.height, self.fold)
        at_end = not lines or next_start(self.store, lines[-1].offset, self.fold) is None
        return Screen(
            self.stream,
            lines,
            self.top,
            self.store.size,
            self.store.done,
            at_end,
            self.match,
            self.pattern,
            self.message,
        )
