"""The whole-output pager of one run (`o` in its detail): its stdout or stderr, read
from the host in chunks as it is scrolled (`jobtui.pages`), searchable with `/`.

The screen never reads the host itself: each key becomes a move (`Op`), and the
moves are applied, in order, on one thread worker at a time, to the stream's
`pages.Pager`; the worker posts what to show (`Shown`) and the screen draws it. A
running run's output is asked for its size every `poll` seconds; at the end, the
pager follows it. Lines are the host's bytes made inert (`jobtui.text`): decoded
with replacement, control characters shown as `\\xNN`, tabs expanded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollTo
from textual.strip import Strip
from textual.widgets import Footer, Input, Static

from jobtui.events import RunView
from jobtui.pages import STREAMS, ChunkStore, Line, OutputGone, OutputSource, Pager
from jobtui.pages import Screen as Page
from jobtui.text import one_line, sanitize
from jobtui.transport import TransportError
from jobtui.transport.base import Chunk
from jobtui.ui.keys import Scope, bindings

POLL = 1.0
"""Seconds between two looks at a running run's output size."""
MATCH = Style(color="black", bgcolor="yellow", bold=True)
OTHER_MATCH = Style(color="black", bgcolor="dark_goldenrod")
ROW_BYTES = 80
"""Bytes per row of the scrollbar's scale until a screen of lines gives the average."""

Op = tuple[Any, ...]
"""A move of the pager: ("down", n), ("up", n), ("home",), ("end",), ("goto", byte),
("resize", rows), ("grow",), ("search", pattern, forward), ("stream", name)."""


def inert_line(line: Line, match: tuple[int, int] | None, pattern: bytes) -> Text:
    """A display line as text that cannot reach the terminal raw: the current match
    and the other matches of the pattern on it highlighted."""
    spans: list[tuple[int, int, Style]] = []
    if pattern:
        fold = pattern == pattern.lower()
        hay = line.data.lower() if fold else line.data
        at = hay.find(pattern)
        while at >= 0:
            spans.append((at, at + len(pattern), OTHER_MATCH))
            at = hay.find(pattern, at + len(pattern))
    if match is not None:
        start, end = match[0] - line.offset, match[0] + match[1] - line.offset
        if end > 0 and start < len(line.data):
            spans = [s for s in spans if s[1] <= start or s[0] >= end]
            spans.append((max(0, start), min(len(line.data), end), MATCH))
    spans.sort(key=lambda s: s[0])
    text = Text(no_wrap=True, end="")
    at = 0
    for start, end, style in spans:
        text.append(_inert(line.data[at:start]))
        text.append(_inert(line.data[start:end]), style)
        at = end
    text.append(_inert(line.data[at:]))
    text.expand_tabs(8)
    return text


def _inert(data: bytes) -> str:
    # one_line would show tabs as \x09: they are kept (and expanded), the rest made inert.
    return "\t".join(
        one_line(part) for part in sanitize(data.decode("utf-8", "replace")).split("\t")
    )


def human_size(n: int) -> str:
    """`812 B`, `64.0 KiB`, `20.3 MiB`."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # not reached


class OutputView(ScrollView, can_focus=True):
    """The lines on screen, as the last `Shown` said. Its vertical scrollbar is a
    scale of the output's bytes (its position set from the top line's offset):
    dragging it is a `goto`; keys, the wheel and the track move by lines (`move`)."""

    DEFAULT_CSS = """
    OutputView {
        background: $surface;
        height: 1fr;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = bindings(Scope.PAGER_VIEW)

    def __init__(self, move: Callable[[Op], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.move = move
        self.page: Page | None = None
        self._strips: list[Strip] = []
        self._rows = 1
        """The scale: rows of the scrollbar for the whole output."""
        self._row_bytes = 0

    def show(self, page: Page) -> None:
        self.page = page
        self._strips = []
        for line in page.lines:
            text = inert_line(line, page.match, page.pattern)
            self._strips.append(Strip(text.render(self.app.console), text.cell_len))
        if not self._row_bytes and len(page.lines) >= 2:
            sample = page.lines[-1].offset - page.lines[0].offset
            self._row_bytes = max(8, min(4096, sample // (len(page.lines) - 1)))
        height = self.scrollable_content_region.height
        self._rows = max(1, page.size // (self._row_bytes or ROW_BYTES))
        width = max((s.cell_length for s in self._strips), default=0) + 1
        self.virtual_size = Size(max(width, int(self.scroll_x) + 1), self._rows + height)
        y = self._rows if page.at_end else page.top * self._rows // max(1, page.size)
        self.set_scroll(None, y)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y >= len(self._strips):
            return Strip.blank(width)
        x = int(self.scroll_x)
        return self._strips[y].crop(x, x + width).extend_cell_length(width)

    def on_scroll_to(self, message: ScrollTo) -> None:
        """The scrollbar dragged: the line at that fraction of the bytes (other
        changes of `scroll_y`, a resize clamping it, are not moves)."""
        message.prevent_default()
        message.stop()
        if self.page is None or message.y is None:
            return
        row = round(message.y)
        if row >= self._rows:
            self.move(("end",))
        else:
            self.move(("goto", max(0, row) * self.page.size // self._rows))

    def on_resize(self, event: events.Resize) -> None:
        self.move(("resize", self.scrollable_content_region.height))

    # The wheel and the scrollbar's track move by lines, not by the scale's rows.
    def _scroll_down_for_pointer(self, **_: Any) -> bool:
        self.move(("down", 3))
        return True

    def _scroll_up_for_pointer(self, **_: Any) -> bool:
        self.move(("up", 3))
        return True

    def scroll_page_down(self, **_: Any) -> None:
        self.action_page_down()

    def scroll_page_up(self, **_: Any) -> None:
        self.action_page_up()

    def action_line_down(self) -> None:
        self.move(("down", 1))

    def action_line_up(self) -> None:
        self.move(("up", 1))

    def action_page_down(self) -> None:
        self.move(("down", max(1, self.scrollable_content_region.height - 1)))

    def action_page_up(self) -> None:
        self.move(("up", max(1, self.scrollable_content_region.height - 1)))

    def action_top(self) -> None:
        self.move(("home",))

    def action_bottom(self) -> None:
        self.move(("end",))


class PagerScreen(Screen[None]):
    """One run's whole stdout or stderr, as a pager.

    Args:
        view: The run (its host and jid say where the output is).
        source: Reads its output (the console's source).
        stream: The stream shown first.
        poll: Seconds between two looks at the size of a running run's output.
    """

    BINDINGS: ClassVar[list[BindingType]] = bindings(Scope.PAGER)
    DEFAULT_CSS = """
    PagerScreen {
        #pager-title { height: 1; background: $panel; text-style: bold; padding: 0 1; }
        #pager-status { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
        #pager-status.-error { color: $text-error; }
        #pager-search { display: none; height: 3; }
        #pager-search.-open { display: block; }
    }
    """

    class Shown(Message):
        """What to show now (posted by the worker)."""

        def __init__(self, page: Page) -> None:
            super().__init__()
            self.page = page

    class Said(Message):
        """A word for the status line: a failure, or what the worker is at."""

        def __init__(self, text: str, error: bool = False, final: bool = False) -> None:
            super().__init__()
            self.text = text
            self.error = error
            self.final = final
            """Nothing more to read: the output is gone from its host."""

    class Idle(Message):
        """The worker has applied its moves."""

    def __init__(
        self,
        view: RunView,
        source: OutputSource,
        *,
        stream: str = "stdout",
        poll: float = POLL,
    ) -> None:
        super().__init__()
        self.run_view = view
        self.source = source
        self.stream = stream
        self.poll = poll
        self.output = OutputView(self._move, id="pager-view")
        self.title_bar = Static(id="pager-title")
        self.status = Static(id="pager-status")
        self.search_box = Input(
            placeholder="search (Enter: find, escape: close)", id="pager-search"
        )
        self.page: Page | None = None
        self.pattern = b""
        self._ops: list[Op] = []
        self._busy = False
        self._growing = False
        self._pagers: dict[str, Pager] = {}
        """Per stream; touched only by the worker (one at a time)."""
        self._cancel = threading.Event()
        self._gone = False

    def compose(self) -> ComposeResult:
        yield self.title_bar
        yield self.output
        yield self.search_box
        yield self.status
        yield Footer()

    def on_mount(self) -> None:
        self._title()
        self.output.focus()
        self.set_interval(self.poll, self._poll)

    def on_unmount(self) -> None:
        self._cancel.set()

    def _title(self) -> None:
        v = self.run_view
        where = f"{one_line(v.host)} {one_line(v.job)}" + (
            f"[{one_line(v.item)}]" if v.item else ""
        )
        text = Text(f"{self.stream} ", style="bold")
        text.append(f"of {where}", style="")
        if self.page is not None:
            state = "ended" if self.page.done else "running"
            text.append(f" · {human_size(self.page.size)} · {state}", style="grey62")
        self.title_bar.update(text)

    # -- moves, applied on the worker -------------------------------------------------

    def _move(self, op: Op) -> None:
        self._ops.append(op)
        if not self._busy:
            self._start()

    def _start(self) -> None:
        ops, self._ops = _coalesce(self._ops), []
        self._busy = True
        if any(op[0] == "search" for op in ops):
            self.status.update(Text("searching…", style="italic"))
        self._apply(ops, self.stream)

    def _poll(self) -> None:
        """A running run's output grows; a host that did not answer is asked again."""
        ended = self.page is not None and self.page.done
        if not (ended or self._gone or self._busy):
            self._move(("grow",))

    @work(thread=True, exit_on_error=False, group="pager", name="pager")
    def _apply(self, ops: Sequence[Op], stream: str) -> None:
        try:
            for op in ops:
                if self._cancel.is_set():
                    return
                if op[0] == "stream":
                    stream = op[1]
                self._do(self._pager(stream), op)
            self.post_message(self.Shown(self._pager(stream).screen()))
        except OutputGone as e:
            self.post_message(self.Said(str(e), error=True, final=True))
        except TransportError as e:  # asked again at the next look
            self.post_message(self.Said(str(e), error=True))
        except Exception as e:  # a bug: said on screen rather than lost in a log
            self.post_message(self.Said(f"{type(e).__name__}: {e}", error=True))
        finally:
            self.post_message(self.Idle())

    def _pager(self, stream: str) -> Pager:
        pager = self._pagers.get(stream)
        if pager is None:
            view, source = self.run_view, self.source

            def read(offset: int, size: int) -> Chunk | None:
                return source.read_output(view, stream, offset, size)

            height = next(iter(self._pagers.values())).height if self._pagers else 20
            pager = Pager(ChunkStore(read), stream, height)
            pager.open()
            pager.end()  # where a log's news is; `g` for its start
            self._pagers[stream] = pager
        return pager

    def _do(self, pager: Pager, op: Op) -> None:
        kind = op[0]
        if kind == "down":
            pager.down(op[1])
        elif kind == "up":
            pager.up(op[1])
        elif kind == "home":
            pager.home()
        elif kind == "end":
            pager.end()
        elif kind == "goto":
            pager.goto(op[1])
        elif kind == "resize":
            for each in self._pagers.values():
                each.resize(op[1])
        elif kind == "grow":
            pager.grow()
        elif kind == "search":
            pager.search(op[1], op[2], self._cancel.is_set)

    # -- what the worker says ---------------------------------------------------------

    def on_pager_screen_shown(self, message: Shown) -> None:
        page = message.page
        self.page = page
        self.stream = page.stream
        self.output.show(page)
        self._title()
        self._status(page)

    def on_pager_screen_said(self, message: Said) -> None:
        self._gone = self._gone or message.final
        self.status.set_class(message.error, "-error")
        self.status.update(Text(message.text))

    def on_pager_screen_idle(self, _: Idle) -> None:
        self._busy = False
        if self._ops:
            self._start()

    def _status(self, page: Page) -> None:
        self.status.set_class(False, "-error")
        where = 100 if page.at_end else page.top * 100 // max(1, page.size)
        text = Text(f"byte {page.top:,} of {page.size:,} ({where}%)")
        if page.at_end and not page.done:
            text.append(" · following the end", style="green3")
        if page.pattern:
            text.append(f" · /{_inert(page.pattern)}")
        if page.message:
            text.append(f" · {page.message}", style="orange1")
        if not page.lines:
            text.append(" · (nothing yet)" if not page.done else " · (empty)", style="italic")
        self.status.update(text)

    # -- keys -------------------------------------------------------------------------

    def action_close(self) -> None:
        """Escape: closes the search box if open, else the pager."""
        if self.search_box.has_class("-open"):
            self.search_box.remove_class("-open")
            self.output.focus()
            return
        self._cancel.set()
        self.dismiss(None)

    def action_search(self) -> None:
        self.search_box.add_class("-open")
        self.search_box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.search_box.remove_class("-open")
        self.output.focus()
        if event.value:
            self.pattern = event.value.encode()
            self._move(("search", self.pattern, True))

    def action_next_match(self) -> None:
        if self.pattern:
            self._move(("search", self.pattern, True))

    def action_previous_match(self) -> None:
        if self.pattern:
            self._move(("search", self.pattern, False))

    def action_toggle_stream(self) -> None:
        other = STREAMS[1 - STREAMS.index(self.stream)]
        self._move(("stream", other))


def _coalesce(ops: list[Op]) -> list[Op]:
    """Of a run of scrollbar drags (or resizes), only the last is applied."""
    out: list[Op] = []
    for op in ops:
        if out and op[0] in ("goto", "resize", "grow") and out[-1][0] == op[0]:
            out[-1] = op
        else:
            out.append(op)
    return out
