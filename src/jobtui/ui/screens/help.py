"""The `?` overlay: every key active where it was opened, and the mouse."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from jobtui.ui.keys import Scope, bindings
from jobtui.ui.order import GRAMMAR

MOUSE = (
    ("click", "move the cursor; click the same row again to open its details"),
    ("click header", "sort by that column"),
    ("click host/job", "in the summaries: filter on it (again: clear)"),
)
FILTER = "The filter box (/):\n" + GRAMMAR


def keys_table(keys: list[tuple[str, str]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True, justify="right")
    grid.add_column()
    for key, description in keys:
        grid.add_row(key, description)
    return grid


class HelpScreen(ModalScreen[None]):
    """Lists the keys it is given (taken from the bindings, so remaps show)."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(Scope.HELP)

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]], read_only: bool) -> None:
        super().__init__()
        self.sections = sections
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help") as box:
            box.border_title = "Keys"
            box.border_subtitle = "escape to close"
            if self.read_only:
                yield Static(
                    Text("READ-ONLY: this console can look, not act.", style="bold yellow3")
                )
            for title, keys in self.sections:
                if keys:
                    yield Static(Text(title, style="bold"), classes="help-heading")
                    yield Static(keys_table(keys))
            yield Static(Text("Mouse", style="bold"), classes="help-heading")
            yield Static(keys_table(list(MOUSE)))
            yield Static(Text("Filter", style="bold"), classes="help-heading")
            yield Static(Text(FILTER))
