"""The detail screen of one run: its fields, command and live output tails."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
from jobtui.model import RunKey, RunState
from jobtui.pages import OutputSource
from jobtui.text import duration, iso, one_line
from jobtui.ui.board import HostInfo
from jobtui.ui.keys import Scope, bindings
from jobtui.ui.render import (
    ANSIBLE_STYLE,
    ansible_module,
    as_user,
    elapsed_text,
    output_text,
    progress_text,
    state_text,
)
from jobtui.ui.screens.pager import PagerScreen

_PARTS = ("detail-title", "detail-fields", "detail-command", "stdout", "stderr")


ANSIBLE_MEANING: dict[RunState, str] = {
    RunState.RUNNING: "its async_wrapper still runs it; a cancel ends its process group"
    " (TERM, then KILL) and writes a failed result, 'cancelled by jobtui', so the"
    " playbook's async_status stops waiting",
    RunState.SUCCEEDED: "its result file says it finished with rc 0",
    RunState.FAILED: "its result file says it failed (its rc, or the module's msg)",
    RunState.TIMED_OUT: "Ansible's async_wrapper killed it at its async limit ('Timeout exceeded')",
    RunState.CANCELLED: "jobtui cancelled it: its file says failed, 'cancelled by jobtui', rc 143",
    RunState.LOST: "its file says running but no async_wrapper process is left"
    " (reboot? killed?), or the file cannot be read: async_status would wait in vain",
    RunState.UNREACHABLE: "its host cannot be reached: the job may still run there",
    RunState.PENDING: "not started",
}
"""What each state says of one of Ansible's own async jobs (the detail's `means`)."""


def title_text(view: RunView) -> Text:
    """`✘ failed  web02 as root · rotate-logs [item]`: the state, where, who and what
    (`· Ansible async job (shell)` for one of Ansible's own)."""
    text = state_text(view.state)
    text.append("  ")
    text.append(one_line(view.host), style="bold")
    text.append(as_user(view), style="grey62")
    text.append(" · ")
    if view.ansible:
        text.append("Ansible async job", style=ANSIBLE_STYLE)
        if ansible_module(view):
            text.append(f" ({one_line(view.job)})", style="grey62")
        return text
    text.append(one_line(view.job), style="bold")
    if view.item:
        text.append(" [")
        text.append(one_line(view.item), style="italic")
        text.append("]")
    return text


def fields(view: RunView, now: float, width: int = 40, host_reason: str = "") -> Table:
    """The run's fields as a two-column grid (label, value); `host_reason`: why its
    host cannot be reached, in full (the host summary cuts it)."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="grey62", no_wrap=True)
    grid.add_column(overflow="fold")
    rc_style = "green3" if view.rc == 0 else "bold red1"
    if view.ansible:
        grid.add_row("kind", Text("Ansible async job (its file in ansible_async_dir)"))
        grid.add_row("Ansible jid", Text(view.jid or "—"))
        grid.add_row("means", Text(ANSIBLE_MEANING[view.state], style="grey70"))
        if view.rc is not None:
            grid.add_row("rc", Text(str(view.rc), style=rc_style))
    else:
        grid.add_row("jid", Text(view.jid or "—"))
        attempt = Text(str(view.attempt))
        if view.rc is not None:
            attempt.append(f"   rc {view.rc}", style=rc_style)
        grid.add_row("attempt", attempt)
    grid.add_row("started", Text(iso(view.started) or "—"))
    grid.add_row("finished", Text(iso(view.finished) or "—"))
    grid.add_row("elapsed", elapsed_text(view, now))
    if not view.ansible:  # Ansible's jobs report no progress
        grid.add_row("progress", progress_text(view, width))
    if view.eta is not None and not view.state.finished:
        grid.add_row("eta", Text(f"~{duration(view.eta)} left, at the rate so far", style="grey70"))
    if view.reason:
        grid.add_row("reason", output_text(view.reason, "orange_red1"))
    if host_reason and host_reason != view.reason:
        grid.add_row("host", output_text(f"unreachable: {host_reason}", "orange_red1"))
    if view.cleaned:
        removed = "job file" if view.ansible else "job directory"
        grid.add_row("cleaned", Text(f"{removed} removed from the host", style="grey62"))
    return grid


class DetailScreen(Screen[None]):
    """One run, following its updates (the app calls `show` when it changes)."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(Scope.DETAIL)

    def action_close(self) -> None:
        """Back to the list (dismiss, so the app hears the detail closed)."""
        self.dismiss(None)

    def action_whole_output(self) -> None:
        """`o`: the run's whole output in a pager, read from its host as it is scrolled."""
        source = getattr(self.app, "source", None)
        if not isinstance(source, OutputSource):
            self.notify("this console cannot read outputs", severity="warning")
        elif not self.view.jid:
            self.notify("not started: no output yet", severity="warning")
        else:
            self.app.push_screen(PagerScreen(self.view, source))

    def __init__(
        self,
        view: RunView,
        clock: Callable[[], float],
        hosts: Mapping[str, HostInfo] | None = None,
    ) -> None:
        super().__init__()
        self.view = view
        self.clock = clock
        self.hosts = hosts or {}
        """The board's hosts (read live): why the run's host cannot be reached."""
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
        # Ansible writes a job's output into its file when the job ends, not before.
        live = "from its result, once finished" if self.view.ansible else "tail, live"
        for name, title in (("stdout", f"stdout ({live})"), ("stderr", "stderr (tail)")):
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
            ended = view.ansible and view.state.finished  # its output is all there
            empty = Text("(nothing)" if ended else "(nothing yet)", style="italic grey50")
            self.parts[name].update(output_text(tail, style) if tail else empty)
            box.set_class(not tail, "-empty")
            if following:
                box.call_after_refresh(box.scroll_end, animate=False)

    def tick(self) -> None:
        """Refresh the fields that move with time (elapsed)."""
        if not self._ready:
            return
        width = max(20, self.size.width - 14)
        host = self.hosts.get(self.view.host)
        reason = (host.reason or "no reason given") if host and host.reachable is False else ""
        self.parts["detail-fields"].update(
            Group(fields(self.view, self.clock(), width=min(width, 60), host_reason=reason))
        )
