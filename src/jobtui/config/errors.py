"""The one exception type for bad configuration: a message, where, and what to do."""

from __future__ import annotations

import difflib
from typing import Any

from jobtui.model import Location


class ConfigError(Exception):
    """Bad input in an inventory, a job file or a host pattern.

    `str(err)` reads `message (file:line:col); hint`, leaving out the parts that are
    None, e.g. ``unknown key 'tiemout' in job 'backup' (jobs.yml:7:5); did you mean
    'timeout'?``. The CLI prints it as is and exits with status 2.
    """

    def __init__(
        self, message: str, location: Location | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        if self.location is not None:
            text += f" ({self.location})"
        if self.hint:
            text += f"; {self.hint}"
        return text


def did_you_mean(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """A "did you mean 'x'?" hint for a misspelt `word`, or None if nothing is close."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def describe(value: Any) -> str:
    """How a wrong value is shown in an error: `'soon'`, `-5`, `a list`, `nothing`."""
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return repr(shown)
    return str(value)
