"""A yes/no modal for destructive actions (cancel, cleanup) and for quitting."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from jobtui.ui.keys import Scope, bindings


class ConfirmScreen(ModalScreen[bool]):
    """Asks a question; dismisses with True (yes) or False (no, escape)."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(Scope.CONFIRM)

    def __init__(self, title: str, body: Text, yes: str = "Yes") -> None:
        super().__init__()
        self.question = title
        self.body = body
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(Text(self.question, style="bold"), id="confirm-title")
            yield Static(self.body, id="confirm-body")
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")
