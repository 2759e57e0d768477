"""Every key of the console in one registry (as harlequin's `HARLEQUIN_ACTIONS`).

An entry says what a key runs, where it is bound, what the footer and the help
overlay call it and, for the command palette, its name and help text. The
`BINDINGS` lists of the apps, screens and the run table, and the palette providers
(`ui.commands`), are built from `ACTIONS`; nothing repeats a description.

Operator entries (cancel, cleanup, retry, marks) are bound only by `OperatorApp` and
listed only by its palette provider: the read-only console never builds them.
Every id (`jobtui.cancel`, ...) is the binding's id, so a keymap can remap it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from textual.binding import Binding, BindingType


class Scope(Enum):
    """Where an entry's key is bound."""

    APP = "app"
    MAIN = "main"
    """The main screen (its palette entries run as `screen.<action>`)."""
    TABLE = "table"
    GRID = "grid"
    """The host grid (`widgets.host_grid`)."""
    DETAIL = "detail"
    HELP = "help"
    PROBLEMS = "problems"
    CONFIRM = "confirm"
    PAGER = "pager"
    """The whole-output pager's screen."""
    PAGER_VIEW = "pager_view"
    """The pager's lines (they hold the focus): its moves."""


@dataclass(frozen=True)
class KeyAction:
    """A key of the console and what it does."""

    id: str | None
    """The binding's id, for remapping (None: plain navigation, as in Textual's own
    widgets)."""
    keys: str
    """Textual key names, comma-separated."""
    action: str
    """The Textual action it runs (a method `action_<name>` in its scope)."""
    description: str
    """Short, for the footer and the help overlay."""
    scope: Scope
    show: bool = True
    """In the footer."""
    operator: bool = False
    """Acts on runs: only in the operator console."""
    read_only: bool = False
    """Only in the read-only console."""
    palette: str = ""
    """The command palette's name for it ("": not in the palette)."""
    palette_help: str = ""
    priority: bool = False
    """Before the focused widget's own binding of the key (Ctrl-C is the filter box's
    copy otherwise)."""

    def binding(self) -> Binding:
        return Binding(
            self.keys,
            self.action,
            self.description,
            show=self.show,
            id=self.id,
            priority=self.priority,
        )

    @property
    def palette_action(self) -> str:
        """The action as the palette runs it (from the app)."""
        return f"screen.{self.action}" if self.scope is Scope.MAIN else self.action


ACTIONS: tuple[KeyAction, ...] = (
    # The main screen.
    KeyAction(
        "jobtui.filter",
        "slash",
        "filter",
        "Filter",
        Scope.MAIN,
        palette="Filter runs",
        palette_help="focus the filter box",
    ),
    KeyAction(
        "jobtui.toggle_finished",
        "f",
        "toggle_finished",
        "Finished",
        Scope.MAIN,
        palette="Toggle finished runs",
        palette_help="show or hide the runs that have ended",
    ),
    KeyAction(
        "jobtui.sort",
        "s",
        "cycle_sort",
        "Sort",
        Scope.MAIN,
        palette="Sort runs: next order",
        palette_help="host, job, state, elapsed, progress",
    ),
    KeyAction(
        "jobtui.sort_reverse",
        "S",
        "reverse_sort",
        "Reverse",
        Scope.MAIN,
        show=False,
        palette="Sort runs: reverse the order",
        palette_help="the same order the other way round (▲/▼ beside the sort)",
    ),
    KeyAction(
        "jobtui.next_trouble",
        "n",
        "next_trouble",
        "Next trouble",
        Scope.MAIN,
        palette="Next run in trouble",
        palette_help="the next unreachable, failed, timed out or lost run (wraps round)",
    ),
    KeyAction("jobtui.escape", "escape", "escape", "Clear filter", Scope.MAIN, show=False),
    KeyAction(
        "jobtui.problems",
        "p",
        "problems",
        "Problems",
        Scope.MAIN,
        show=False,
        palette="Show problems",
        palette_help="the runs that did not succeed, grouped by their error",
    ),
    KeyAction(
        "jobtui.grid",
        "g",
        "toggle_grid",
        "Grid",
        Scope.MAIN,
        show=False,
        palette="Hosts: grid or list",
        palette_help="one cell per host by inventory group, or one row per host",
    ),
    # The run table.
    KeyAction("jobtui.details", "enter", "select_cursor", "Details", Scope.TABLE, show=False),
    KeyAction(None, "up", "cursor_up", "Cursor up", Scope.TABLE, show=False),
    KeyAction(None, "down", "cursor_down", "Cursor down", Scope.TABLE, show=False),
    KeyAction(None, "pageup", "page_up", "Page up", Scope.TABLE, show=False),
    KeyAction(None, "pagedown", "page_down", "Page down", Scope.TABLE, show=False),
    KeyAction(None, "home,ctrl+home", "cursor_top", "Top", Scope.TABLE, show=False),
    KeyAction(None, "end,ctrl+end", "cursor_bottom", "Bottom", Scope.TABLE, show=False),
    # The host grid.
    KeyAction("jobtui.grid.select", "enter", "select_cursor", "Filter", Scope.GRID, show=False),
    KeyAction(None, "up", "cursor_up", "Cursor up", Scope.GRID, show=False),
    KeyAction(None, "down", "cursor_down", "Cursor down", Scope.GRID, show=False),
    KeyAction(None, "left", "cursor_left", "Cursor left", Scope.GRID, show=False),
    KeyAction(None, "right", "cursor_right", "Cursor right", Scope.GRID, show=False),
    KeyAction(None, "pageup", "page_up", "Page up", Scope.GRID, show=False),
    KeyAction(None, "pagedown", "page_down", "Page down", Scope.GRID, show=False),
    KeyAction(None, "home,ctrl+home", "cursor_top", "Top", Scope.GRID, show=False),
    KeyAction(None, "end,ctrl+end", "cursor_bottom", "Bottom", Scope.GRID, show=False),
    # Every console.
    KeyAction("jobtui.quit", "q", "quit", "Quit", Scope.APP),
    # Ctrl-C quits too (Textual's own only says "press ctrl+q"), as in k9s or htop; a
    # second one at the quit dialog answers it.
    KeyAction(
        "jobtui.interrupt", "ctrl+c", "interrupt", "Quit", Scope.APP, show=False, priority=True
    ),
    # The read-only console says once what its missing actions are (the operator
    # console binds the same keys to them, and does not inherit this one).
    KeyAction(
        "jobtui.read_only", "c,x,r", "read_only", "Read-only", Scope.APP, show=False, read_only=True
    ),
    KeyAction(
        "jobtui.help",
        "question_mark",
        "help",
        "Keys",
        Scope.APP,
        palette="Show keys",
        palette_help="the help overlay",
    ),
    # The operator console only.
    KeyAction("jobtui.mark", "space", "toggle_mark", "Mark", Scope.APP, operator=True),
    KeyAction(
        "jobtui.mark_all",
        "a",
        "mark_all",
        "Mark shown",
        Scope.APP,
        show=False,
        operator=True,
        palette="Mark all shown runs",
        palette_help="mark every run that matches the filter",
    ),
    KeyAction(
        "jobtui.clear_marks",
        "u",
        "clear_marks",
        "Unmark all",
        Scope.APP,
        show=False,
        operator=True,
        palette="Clear marks",
        palette_help="unmark every run",
    ),
    KeyAction(
        "jobtui.cancel",
        "c",
        "cancel",
        "Cancel",
        Scope.APP,
        operator=True,
        palette="Cancel runs",
        palette_help="the marked runs, or the one under the cursor (asks first)",
    ),
    KeyAction(
        "jobtui.cleanup",
        "x",
        "cleanup",
        "Clean up",
        Scope.APP,
        operator=True,
        palette="Clean up runs",
        palette_help="remove the job directories of finished runs (asks first)",
    ),
    KeyAction(
        "jobtui.retry",
        "r",
        "retry",
        "Retry",
        Scope.APP,
        operator=True,
        palette="Retry runs",
        palette_help="launch the marked runs, or the one under the cursor, again",
    ),
    # The other screens.
    KeyAction("jobtui.back", "escape", "close", "Back", Scope.DETAIL),
    KeyAction("jobtui.back2", "backspace", "close", "Back", Scope.DETAIL, show=False),
    KeyAction("jobtui.whole_output", "o", "whole_output", "Output", Scope.DETAIL),
    # The whole-output pager (as less: / n N g G q).
    KeyAction("jobtui.pager.close", "escape,q", "close", "Back", Scope.PAGER),
    KeyAction("jobtui.pager.search", "slash", "search", "Search", Scope.PAGER),
    KeyAction("jobtui.pager.next", "n", "next_match", "Next", Scope.PAGER),
    KeyAction("jobtui.pager.previous", "N", "previous_match", "Previous", Scope.PAGER),
    KeyAction("jobtui.pager.stream", "e", "toggle_stream", "Other stream", Scope.PAGER),
    KeyAction("jobtui.pager.top", "home,g", "top", "Top", Scope.PAGER_VIEW),
    KeyAction("jobtui.pager.end", "end,G", "bottom", "End", Scope.PAGER_VIEW),
    KeyAction(None, "up,k", "line_up", "Line up", Scope.PAGER_VIEW, show=False),
    KeyAction(None, "down,j", "line_down", "Line down", Scope.PAGER_VIEW, show=False),
    KeyAction(None, "pageup,b", "page_up", "Page up", Scope.PAGER_VIEW, show=False),
    KeyAction(None, "pagedown,space", "page_down", "Page down", Scope.PAGER_VIEW, show=False),
    KeyAction("jobtui.help.close", "escape,question_mark,q", "app.pop_screen", "Close", Scope.HELP),
    # Before the table's own enter, so that the footer names it.
    KeyAction(
        "jobtui.problems.runs", "enter", "choose", "Show its runs", Scope.PROBLEMS, priority=True
    ),
    KeyAction("jobtui.problems.close", "escape,p", "close", "Back", Scope.PROBLEMS),
    KeyAction("jobtui.confirm.yes", "y", "answer(True)", "Yes", Scope.CONFIRM),
    KeyAction("jobtui.confirm.no", "n,escape", "answer(False)", "No", Scope.CONFIRM),
)


def bindings(scope: Scope, *, operator: bool = False, read_only: bool = False) -> list[BindingType]:
    """The key bindings of a scope: its operator entries, or its read-only ones, or all
    its others (those of every console)."""
    return [
        a.binding()
        for a in ACTIONS
        if a.scope is scope and a.operator is operator and a.read_only is read_only
    ]


def palette_entries(*, operator: bool) -> tuple[KeyAction, ...]:
    """The palette's entries: the operator's, or those of every console."""
    return tuple(a for a in ACTIONS if a.palette and a.operator is operator)
