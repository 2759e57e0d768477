"""Keys an operator reaches for first: Ctrl-C quits, the read-only console says why c/x/r
do nothing, and cleanup refuses runs that have not ended before it asks anything."""

from __future__ import annotations

import pytest

from jobtui.events import BatchFinished, BatchStarted, Event
from jobtui.model import RunKey
from jobtui.ui.app import QUIT_QUESTION
from jobtui.ui.sample import RecordingSink, sample_app, sample_runs, settle
from jobtui.ui.screens.confirm import ConfirmScreen
from jobtui.ui.screens.main import MainScreen
from tests.uitools import put_cursor, record_toasts, sync

RUNNING: RunKey = RunKey("backup", "db01", 2)
SUCCEEDED: RunKey = RunKey("backup", "db01", 0)


@sync
async def test_ctrl_c_asks_like_q_and_a_second_ctrl_c_quits() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+c")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question == QUIT_QUESTION
        await pilot.press("ctrl+c")
    assert app.return_value == 130


@sync
async def test_ctrl_c_in_the_filter_box_quits_too() -> None:
    """The filter box binds Ctrl-C to copy: the console's binding comes first."""
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"db", "ctrl+c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert isinstance(app.screen, MainScreen)


@sync
async def test_ctrl_c_after_the_batch_ended_leaves_at_once() -> None:
    runs = [v for v in sample_runs() if v.state.finished]
    events: list[Event] = [BatchStarted("b", runs), BatchFinished("b", runs, {})]
    app = sample_app(events)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+c")
    assert app.return_value == 1


@sync
async def test_the_read_only_console_says_once_why_c_x_r_do_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = sample_app(read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        said = record_toasts(app, monkeypatch)
        await pilot.press("c", "x", "r", "c")
        assert len(said) == 1 and said[0].startswith("read-only console")
        assert isinstance(app.screen, MainScreen)


@sync
async def test_cleanup_of_a_run_that_has_not_ended_is_refused_before_any_dialog(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink = RecordingSink()
    app = sample_app(sink=sink)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        said = record_toasts(app, monkeypatch)
        put_cursor(app, RUNNING)
        await pilot.press("x")
        assert isinstance(app.screen, MainScreen)  # no "Clean up 1 run?" first
        assert said == ["1 run has not ended: nothing to clean up; cancel first (c)"]
        assert sink.requests == []


@sync
async def test_cleanup_of_mixed_marks_asks_only_for_the_finished_ones() -> None:
    sink = RecordingSink()
    app = sample_app(sink=sink)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        put_cursor(app, SUCCEEDED)
        await pilot.press("space")  # marks it, the cursor goes to the next: db01 item 1
        put_cursor(app, RUNNING)
        await pilot.press("space", "x")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question == "Clean up 1 run?"
        assert "1 of the selected runs has not ended" in app.screen.body.plain
        await pilot.press("y")
        assert sink.requests == [("cleanup", [SUCCEEDED])]
