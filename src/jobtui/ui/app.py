"""The console apps and `make_app`, the one entry point the CLI uses.

`ConsoleApp` is the read-only console: it shows what an `EventSource` delivers and
holds nothing that can act. `OperatorApp` adds the actions (cancel, cleanup, retry,
marks), their key bindings and their command palette entries; it is the only class
given an `ActionSink`. Read-only is therefore a matter of which class is built, not
a flag checked in key handlers.

The operator console built by `make_app` also shows Ansible's own async jobs on the
batch's hosts: a second source (`AnsibleJobs`, over the engine's transports) merged
with the engine's events, and the second sink of the actions: a key's action on one
of Ansible's jobs goes to it, on one of the batch's runs to the engine.

Threads: the source runs in a thread worker and pushes events into an
`EventBuffer`; the buffer posts one `EventsPending` message per batch of changes;
the handler drains it at most `FLUSH_INTERVAL` apart and updates the widgets in
place. Quitting stops following; it never kills a job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import App
from textual.binding import BindingType
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from jobtui.defaults import EXIT_INTERRUPTED
from jobtui.events import Notice, RunView
from jobtui.model import NoticeLevel, RunKey
from jobtui.text import one_line
from jobtui.ui.ansible_jobs import RETRY_REFUSED, AnsibleJobs
from jobtui.ui.board import Board, Changes
from jobtui.ui.commands import ActionCommands, ViewCommands
from jobtui.ui.keys import Scope, bindings
from jobtui.ui.render import STATE_LOOK, finished_counts
from jobtui.ui.screens.confirm import ConfirmScreen
from jobtui.ui.screens.detail import DetailScreen
from jobtui.ui.screens.help import HelpScreen
from jobtui.ui.screens.main import MainScreen
from jobtui.ui.source import ActionSink, EngineSource, EventBuffer, EventSource, MergedSource

if TYPE_CHECKING:
    from jobtui.engine import Engine

FLUSH_INTERVAL = 0.1
"""At most ten UI updates a second, whatever the rate of events."""
MAX_TOASTS = 3
"""More alerts or notices than this in one update become a single toast."""
SEVERITY: dict[NoticeLevel, SeverityLevel] = {
    NoticeLevel.INFO: "information",
    NoticeLevel.WARNING: "warning",
    NoticeLevel.ERROR: "error",
}


class EventsPending(Message):
    """The source pushed events into the buffer (posted from the source's thread)."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EventsPending)


class ConsoleApp(App[int]):
    """The read-only console: shows runs, never acts on them."""

    CSS_PATH = "app.tcss"
    TITLE = "jobtui"
    BINDINGS: ClassVar[list[BindingType]] = [
        *bindings(Scope.APP),
        *bindings(Scope.APP, read_only=True),
    ]
    COMMANDS = App.COMMANDS | {ViewCommands}

    def __init__(
        self,
        source: EventSource,
        *,
        batch: str = "",
        title: str = "jobtui",
        clock: Callable[[], float] = time.time,
        bell: bool = True,
    ) -> None:
        super().__init__()
        self.source = source
        self.board = Board(batch)
        self.console_title = title
        self.clock = clock
        self.ring_bell = bell
        self.buffer = EventBuffer(self._signal)
        self._last_flush = 0.0
        self._flush_timer: Timer | None = None
        self._told_read_only = False
        self.main = MainScreen(
            self.board, clock, title=title, read_only=self.read_only, open_detail=self.open_detail
        )

    @property
    def read_only(self) -> bool:
        return True

    def _signal(self) -> None:
        """Called on the source's thread: `post_message` is thread-safe."""
        self.post_message(EventsPending())

    def get_default_screen(self) -> Screen[None]:
        return self.main

    def on_mount(self) -> None:
        self.title = self.console_title
        self.set_interval(1.0, self._tick)
        self._follow()

    @work(thread=True, exit_on_error=False, group="source", name="event source")
    def _follow(self) -> None:
        """Runs the source on a thread: it only pushes into the buffer."""
        self.source.run(self.buffer.push)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where a failed worker reaches the operator."""
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            self.notify(
                f"the event source stopped: {type(error).__name__}: {error}",
                title="No more updates",
                severity="error",
                timeout=30,
                markup=False,
            )

    def on_unmount(self) -> None:
        self.source.stop()

    # -- events to widgets -------------------------------------------------------

    def on_events_pending(self, _: EventsPending) -> None:
        wait = self._last_flush + FLUSH_INTERVAL - time.monotonic()
        if wait <= 0:
            self.flush_events()
        elif self._flush_timer is None:
            self._flush_timer = self.set_timer(wait, self.flush_events)

    def flush_events(self) -> None:
        """Apply everything the source sent since the last flush (UI thread)."""
        self._flush_timer = None
        if not self.main.ready:  # events may come before the screen is composed
            self._flush_timer = self.set_timer(FLUSH_INTERVAL, self.flush_events)
            return
        self._last_flush = time.monotonic()
        changes = self.board.apply(self.buffer.drain())
        if not changes:
            return
        self.main.apply(changes)
        screen = self.screen
        if isinstance(screen, DetailScreen) and screen.key in changes.runs:
            screen.show(self.board.runs[screen.key])
        self._announce(changes)

    def _announce(self, changes: Changes) -> None:
        """Toasts (and the bell) for failures, notices and the end of the batch."""
        alerts = changes.alerts
        for view in alerts[:MAX_TOASTS] if len(alerts) <= MAX_TOASTS else []:
            self.notify(_alert(view), severity="error", timeout=8, markup=False)
        if len(alerts) > MAX_TOASTS:
            self.notify(
                f"{len(alerts)} runs failed, timed out or were lost", severity="error", timeout=8
            )
        notices = changes.notices
        for notice in notices if len(notices) <= MAX_TOASTS else notices[:1]:
            self.notify(one_line(notice.text), severity=_severity(notice), markup=False)
        if len(notices) > MAX_TOASTS:
            self.notify(f"…and {len(notices) - 1} more messages", markup=False)
        if changes.finished is not None:
            code = self.board.exit_code()
            counts = finished_counts(changes.finished.counts)
            self.notify(
                f"batch {one_line(changes.finished.batch)}: {counts}",
                title="Batch finished",
                severity="information" if code == 0 else "warning",
                timeout=15,
                markup=False,
            )
            if hint := self.board.not_followed_hint():
                self.notify(
                    hint, title="Not followed", severity="warning", timeout=30, markup=False
                )
        if self.ring_bell and (alerts or changes.finished is not None):
            self.bell()

    def _tick(self) -> None:
        if not self.main.ready:
            return
        self.main.tick()
        if isinstance(self.screen, DetailScreen):
            self.screen.tick()

    # -- navigation --------------------------------------------------------------

    def open_detail(self, key: RunKey) -> None:
        self.push_screen(DetailScreen(self.board.runs[key], self.clock, self.board.hosts))

    def action_help(self) -> None:
        """The help overlay, from the bindings active where it was opened (so a
        remapped key shows as remapped): the console's keys first."""
        if isinstance(self.screen, HelpScreen):
            return
        sections: dict[str, dict[str, list[str]]] = {"Console": {}, "Navigation": {}}
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not binding.description or not active.enabled:
                continue
            ours = (binding.id or "").startswith("jobtui.")
            keys = sections["Console" if ours else "Navigation"].setdefault(binding.description, [])
            shown = self.get_key_display(binding)
            if shown not in keys:
                keys.append(shown)
        listed = [
            (title, [(" ".join(keys), description) for description, keys in entries.items()])
            for title, entries in sections.items()
        ]
        self.push_screen(HelpScreen(listed, self.read_only))

    async def action_interrupt(self) -> None:
        """Ctrl-C: quit as `q` does; at the quit dialog it is the answer."""
        if isinstance(self.screen, ConfirmScreen) and self.screen.question == QUIT_QUESTION:
            self.leave(EXIT_INTERRUPTED)
            return
        await self.action_quit()

    def action_read_only(self) -> None:
        """c, x or r in the read-only console: say why nothing happens (once)."""
        if self._told_read_only:
            return
        self._told_read_only = True
        self.notify(
            "read-only console: it cannot cancel, clean up or retry; the console that"
            " launched the batch can (or jobtui cancel|cleanup -i INVENTORY --jid JID)",
            severity="warning",
            markup=False,
        )

    async def action_quit(self) -> None:
        """Leave at once when nothing is going on; else ask (jobs are never killed)."""
        if self.read_only or not self.board.active:
            self.leave(self.board.exit_code())
            return
        running = sum(1 for v in self.board.batch_runs() if not v.state.finished)
        body = Text(
            f"{running} run{'s are' if running != 1 else ' is'} not finished. Quitting only "
            "stops following them: they are detached and go on on their hosts; nothing is "
            "killed. Follow them again with `jobtui attach "
            f"{self.board.batch or 'BATCH'}`."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.leave(EXIT_INTERRUPTED)

        self.push_screen(ConfirmScreen(QUIT_QUESTION, body, yes="Quit"), answered)

    def leave(self, code: int) -> None:
        """Stop following (the source's thread returns) and exit with `code`."""
        self.source.stop()
        self.exit(code)


class OperatorApp(ConsoleApp, inherit_bindings=False):  # not the read-only c, x, r
    """The operator console: the read-only console plus actions on runs."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *App.BINDINGS,
        *bindings(Scope.APP),
        *bindings(Scope.APP, operator=True),
    ]
    COMMANDS = ConsoleApp.COMMANDS | {ActionCommands}

    def __init__(
        self,
        source: EventSource,
        actions: ActionSink,
        *,
        ansible: ActionSink | None = None,
        **kwargs: object,
    ) -> None:
        """`actions` act on the batch's runs; `ansible` (if any) on Ansible's own jobs
        that `source` shows (`RunView.ansible`)."""
        super().__init__(source, **kwargs)  # type: ignore[arg-type]
        self._actions = actions
        self._ansible = ansible

    @property
    def read_only(self) -> bool:
        return False

    def open_detail(self, key: RunKey) -> None:
        # Output tails cost the host a process per poll: only for the run in view.
        self._actions.show_output([] if self.board.runs[key].ansible else [key])
        detail = DetailScreen(self.board.runs[key], self.clock, self.board.hosts)
        self.push_screen(detail, self._detail_closed)

    def _detail_closed(self, _result: None) -> None:
        self._actions.show_output([])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Actions only from the main and detail screens (not under a modal)."""
        if action in ("cancel", "cleanup", "retry"):
            return isinstance(self.screen, MainScreen | DetailScreen)
        if action in ("toggle_mark", "mark_all", "clear_marks"):
            return isinstance(self.screen, MainScreen)
        return True

    def _targets(self) -> list[RunKey]:
        screen = self.screen
        if isinstance(screen, DetailScreen):
            return [screen.key]
        return self.main.table.targets()

    def action_toggle_mark(self) -> None:
        key = self.main.table.cursor_key()
        if key is not None:
            self.main.table.toggle_mark(key)
            self.main.table.action_cursor_down()

    def action_mark_all(self) -> None:
        self.main.table.mark_shown()

    def action_clear_marks(self) -> None:
        self.main.table.clear_marks()

    def action_cancel(self) -> None:
        theirs = any(self.board.runs[k].ansible for k in self._targets())
        self._confirm(
            "cancel",
            "Kill each job on its host (TERM to its process group, KILL after the grace "
            "period). A run not launched yet is simply dropped; one that has ended is left "
            "as it is."
            + (
                " An Ansible job's file then says it failed, 'cancelled by jobtui' (rc 143):"
                " the playbook's async_status stops waiting."
                if theirs
                else ""
            ),
        )

    def action_cleanup(self) -> None:
        keys = self._targets()
        unfinished = [k for k in keys if not self.board.runs[k].state.finished]
        if keys and len(unfinished) == len(keys):  # refused at once, not after a dialog
            n = len(keys)
            self.notify(
                f"{n} run{'s have' if n != 1 else ' has'} not ended: nothing to clean up;"
                " cancel first (c)",
                severity="warning",
            )
            return
        left = len(unfinished)
        self._confirm(
            "cleanup",
            "Remove each run's job directory (an Ansible job's file) from its host, its"
            " output included."
            + (
                f" {left} of the selected runs {'have' if left != 1 else 'has'} not ended:"
                f" {'they are' if left != 1 else 'it is'} left alone (cancel first)."
                if left
                else ""
            ),
            [k for k in keys if k not in unfinished],
        )

    def action_retry(self) -> None:
        keys = self._targets()
        ours = [k for k in keys if not self.board.runs[k].ansible]
        if len(ours) < len(keys):
            self.notify(RETRY_REFUSED, severity="warning", markup=False)
        if ours:
            self._send("retry", ours)

    def _confirm(self, action: str, warning: str, keys: list[RunKey] | None = None) -> None:
        keys = self._targets() if keys is None else keys
        if not keys:
            self.notify("no run selected", severity="warning")
            return
        views = [self.board.runs[k] for k in keys]
        n = len(views)
        body = Text()
        for view in views[:6]:
            look = STATE_LOOK[view.state]
            body.append(f"{look.symbol} ", style=look.style)
            body.append(f"{one_line(view.label)} ({look.label})\n")
        if n > 6:
            body.append(f"…and {n - 6} more\n", style="italic")
        body.append("\n" + warning, style="grey70")
        verb = "Cancel" if action == "cancel" else "Clean up"
        title = f"{verb} {n} run{'s' if n != 1 else ''}?"

        def answered(yes: bool | None) -> None:
            if yes:
                self._send(action, keys)

        self.push_screen(ConfirmScreen(title, body, yes=verb), answered)

    def _send(self, action: str, keys: list[RunKey]) -> None:
        """Hand the request to the engine, or for Ansible's jobs to their source (a
        queue each: no I/O on this thread)."""
        theirs = [k for k in keys if self.board.runs[k].ansible]
        ours = [k for k in keys if not self.board.runs[k].ansible]
        if theirs:
            # Only a console built with their source shows them: `make_app`'s.
            assert self._ansible is not None, "Ansible's jobs shown without their source"
            self._ansible.request(action, theirs)
        if ours:
            self._actions.request(action, ours)
        self.notify(f"{action} requested for {len(keys)} run{'s' if len(keys) != 1 else ''}")
        if self.main.table.marks:
            self.action_clear_marks()


QUIT_QUESTION = "Quit the console?"


def _alert(view: RunView) -> str:
    text = f"{one_line(view.label)}: {STATE_LOOK[view.state].label}"
    if view.rc is not None:
        text += f" (rc {view.rc})"
    return text


def _severity(notice: Notice) -> SeverityLevel:
    return SEVERITY.get(notice.level, "information")


def make_app(
    engine: Engine | None = None,
    *,
    source: EventSource | None = None,
    batch: str = "",
    title: str = "jobtui",
    read_only: bool = False,
    clock: Callable[[], float] = time.time,
    bell: bool = True,
    ansible: bool = True,
) -> ConsoleApp:
    """The console for the CLI. `app.run()` returns the process exit code.

    Operator console: `make_app(engine, batch=..., title=...)`; the engine is both
    the source of events (it runs on a thread worker with `linger=True`) and the
    sink of actions. With `ansible` (the default), Ansible's own async jobs on the
    engine's hosts are shown too, and acted on (`AnsibleJobs`, over the engine's
    transports). Read-only console: `make_app(source=..., read_only=True)`; it
    takes no engine at all, so it cannot act.

    Raises:
        ValueError: a read-only console given an engine, or no source at all.
    """
    if read_only:
        if engine is not None:
            raise ValueError("a read-only console takes a source, never an engine")
        if source is None:
            raise ValueError("a read-only console needs a source of events")
        return ConsoleApp(source, batch=batch, title=title, clock=clock, bell=bell)
    if engine is None:
        raise ValueError("the operator console needs an engine")
    theirs = None
    source = source or EngineSource(engine)
    if ansible:
        theirs = AnsibleJobs((h.transport for h in engine.hosts.values()), gated=True)
        engine.add_listener(theirs.observe)  # before it runs: it hears every host's news
        source = MergedSource(source, theirs)
    return OperatorApp(
        source,
        engine,
        ansible=theirs,
        batch=batch or engine.batch,
        title=title,
        clock=clock,
        bell=bell,
    )
