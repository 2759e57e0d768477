"""The detail screen of one run: its fields, command and live output tails."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from jobtui.events import RunView
from jobtui.model import RunKey
from jobtui.text import duration, iso, one_line
from jobtui.ui.keys import Scope, bindings
from jobtui.ui.render import (
    as_user,
    elapsed_text,
    output_text,
    progress_text,
    state_text,
)

_PARTS = ("detail-title", "detail-fields", "detail-command", "stdout", "stderr")


def title_text(view: RunView) -> Text:
    """`✘ failed  web02 as root · rotate-logs [item]`: the state, where, who and what."""
    text = state_text(view.state)
    text.append("  ")
    text.append(one_line(view.host), style="bold")
    text.append(as_user(view), style="grey62")
    text.append(" · ")
    text.append(one_line(view.job), style="bold")
    if view.item:
        text.append(" [")
        text.append(one_line(view.item), style="italic")
        text.append("]")
    return text


def fields(view: RunView, now: float, width: int = 40) -> Table:
    """The run's fields as a two-column grid (label, value)."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="grey62", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("jid", Text(view.jid or "—"))
    attempt = Text(str(view.attempt))
    if view.rc is not None:
        attempt.append(f"   rc {view.rc}", style="green3" if view.rc == 0 else "bold red1")
    grid.add_row("attempt", attempt)
    grid.add_row("started", Text(iso(view.started) or "—"))
    grid.add_row("finished", Text(iso(view.finished) or "—"))
    grid.add_row("elapsed", elapsed_text(view, now))
    grid.add_row("progress", progress_text(view, width))
    if view.eta is not None and not view.state.finished:
        grid.add_row("eta", Text(f"~{duration(view.eta)} left, at the rate so far", style="grey70"))
    if view.reason:
        grid.add_row("reason", output_text(view.reason, "orange_red1"))
    if view.cleaned:
        grid.add_row("cleaned", Text("job directory removed from the host", style="grey62"))
    return grid


class DetailScreen(Screen[None]):
    """One run, following its updates (the app calls `show` when it changes)."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(Scope.DETAIL)

    def action_close(self) -> None:
        """Back to the list (dismiss, so the app hears the detail closed)."""
        self.dismiss(None)

    def __init__(self, view: RunView, clock: Callable[[], float]) -> None:
        super().__init__()
        self.view = view
        self.clock = clock
        self._ready = False
        # Held, not queried: the clock's tick may fire while the app tears down.
        self.parts = {name: Static(id=name) for name in _PARTS}
        self.boxes = {name: VerticalScroll(id=f"{name}-box") for name in ("stdout", "stderr")}

    @property
    def key(self) -> RunKey:
        return self.view.key

    def compose(self) -> ComposeResult:
        yield self.parts["detail-title"]
        yield self.parts["detail-fields"]
        yield self.parts["detail-command"]
        for name, title in (("stdout", "stdout (tail, live)"), ("stderr", "stderr (tail)")):
            with self.boxes[name] as box:
                box.border_title = title
                yield self.parts[name]
        yield Footer()

    def on_mount(self) -> None:
        self._ready = True
        self.show(self.view)

    def on_resize(self) -> None:
        self.tick()

    def show(self, view: RunView) -> None:
        """Show this version of the run; keep following the output's end."""
        self.view = view
        if not self._ready:  # pushed but not composed yet: on_mount shows it
            return
        self.parts["detail-title"].update(title_text(view))
        self.tick()
        command = Text("$ ", style="bold grey62")
        command.append_text(output_text(view.command.rstrip("\n")))
        self.parts["detail-command"].update(command)
        for name, tail, style in (
            ("stdout", view.tail, ""),
            ("stderr", view.stderr_tail, "red1"),
        ):
            box = self.boxes[name]
            following = box.scroll_y >= box.max_scroll_y
            empty = Text("(nothing yet)", style="italic grey50")
            self.parts[name].update(output_text(tail, style) if tail else empty)
            box.set_class(not tail, "-empty")
            if following:
                box.call_after_refresh(box.scroll_end, animate=False)

    def tick(self) -> None:
        """Refresh the fields that move with time (elapsed)."""
        if not self._ready:
            return
        width = max(20, self.size.width - 14)
        self.parts["detail-fields"].update(
            Group(fields(self.view, self.clock(), width=min(width, 60)))
        )
