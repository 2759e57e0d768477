"""Helpers for the console's tests (Pilot tests run without an async plugin).

The sample batch, `sample_app` and `settle` stay in `jobtui.ui.sample`: the
screenshots script (and bench/ui_load.py) use them too.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec

import pytest

from jobtui.model import RunKey
from jobtui.ui.app import ConsoleApp
from jobtui.ui.widgets.runs_table import RunsTable

P = ParamSpec("P")


def sync(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async Pilot test with `asyncio.run` (no pytest async plugin needed)."""

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


def table(app: ConsoleApp) -> RunsTable:
    return app.main.table


def put_cursor(app: ConsoleApp, key: RunKey) -> None:
    t = table(app)
    t.move_cursor(t.shown_keys().index(key))


def record_toasts(app: ConsoleApp, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the app says in toasts from now on (instead of showing them)."""
    toasts: list[str] = []

    def notify(message: str, **_: Any) -> None:
        toasts.append(message)

    monkeypatch.setattr(app, "notify", notify)
    return toasts


def line_of(t: RunsTable, key: RunKey) -> str:
    """The text of a run's line as the table draws it now (it must be on screen)."""
    y = t.shown_keys().index(key) - t.scroll_offset.y + 1
    assert 1 <= y < t.scrollable_content_region.height, "the run is not on screen"
    return t.render_line(y).text
