"""The run table with many runs: what a change, a cursor move or the clock repaints
(counted `render_line` calls, no timings), and order, filter and keys kept right."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from textual.strip import Strip

from jobtui.events import BatchStarted, RunChanged, RunView
from jobtui.model import RunKey, RunState
from jobtui.ui.app import ConsoleApp
from jobtui.ui.sample import SAMPLE_NOW, sample_app, settle
from jobtui.ui.screens.detail import DetailScreen
from jobtui.ui.widgets.runs_table import RunsTable
from tests.uitools import line_of, sync, table

MANY = 5000
SIZE = (160, 48)


def run(i: int, **fields: Any) -> RunView:
    view = RunView(
        key=RunKey("job", f"host{i // 50:03d}", i),
        job="job",
        host=f"host{i // 50:03d}",
        item=f"item{i:04d}",
        jid=f"jid{i:08d}",
        state=RunState.RUNNING,
        attempt=1,
        started=SAMPLE_NOW - 60,
        progress=10.0,
        timeout=600,
    )
    return replace(view, **fields)


def many_runs() -> list[RunView]:
    return [run(i) for i in range(MANY)]


def change(app: ConsoleApp, views: list[RunView], **fields: Any) -> None:
    """The source reports these runs changed; the console applies it at once."""
    for view in views:
        app.buffer.push(RunChanged(replace(view, **fields), view.state))
    app.flush_events()


def count_lines(t: RunsTable, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The lines the table draws from now on (each `render_line` call)."""
    drawn: list[int] = []
    real: Callable[[int], Strip] = t.render_line

    def render_line(y: int) -> Strip:
        drawn.append(y)
        return real(y)

    monkeypatch.setattr(t, "render_line", render_line)
    return drawn


def on_screen(t: RunsTable) -> int:
    return t.scrollable_content_region.height - 1


@sync
async def test_changes_to_runs_off_screen_draw_no_line(monkeypatch: pytest.MonkeyPatch) -> None:
    views = many_runs()
    app = sample_app([BatchStarted("b", views)])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        drawn = count_lines(table(app), monkeypatch)
        change(app, views[100:], progress=50.0, message="off screen")
        await pilot.pause()
        await pilot.pause()
        assert drawn == []


@sync
async def test_a_change_on_screen_draws_only_its_line(monkeypatch: pytest.MonkeyPatch) -> None:
    views = many_runs()
    app = sample_app([BatchStarted("b", views)])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        t = table(app)
        drawn = count_lines(t, monkeypatch)
        change(app, [views[3]], progress=77.0)
        await pilot.pause()
        assert drawn == [4]  # the header is line 0
        assert "77%" in line_of(t, views[3].key)


@sync
async def test_moving_the_cursor_draws_two_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    app = sample_app([BatchStarted("b", many_runs())])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        t = table(app)
        drawn = count_lines(t, monkeypatch)
        await pilot.press("down")
        await pilot.pause()
        assert sorted(drawn) == [1, 2]
        assert t.cursor_row == 1


@sync
async def test_a_run_changed_off_screen_shows_its_new_values_once_in_view() -> None:
    views = many_runs()
    app = sample_app([BatchStarted("b", views)])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        change(app, [views[-1]], progress=50.0, message="came into view")
        await pilot.pause()
        t = table(app)
        t.move_cursor(row=t.row_count - 1)
        await pilot.pause()
        assert t.scroll_offset.y == MANY - on_screen(t)
        assert "came into view" in line_of(t, views[-1].key)


@sync
async def test_the_clock_redraws_only_the_lines_whose_elapsed_time_moved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [SAMPLE_NOW]
    app = sample_app(clock=lambda: now[0])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        t = table(app)
        key: RunKey = RunKey("backup", "db02", 1)
        assert "5m12s/1h" in line_of(t, key)
        drawn = count_lines(t, monkeypatch)
        now[0] += 60
        app.main.tick()
        await pilot.pause()
        moving = [
            k
            for k in t.shown_keys()
            if app.board.runs[k].started is not None and not app.board.runs[k].state.finished
        ]
        assert len(drawn) == len(moving) == 6  # 3 running, 3 unreachable
        assert "6m12s/1h" in line_of(t, key)


@sync
async def test_page_keys_and_home_end_move_the_cursor_and_the_view() -> None:
    app = sample_app([BatchStarted("b", many_runs())])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        t = table(app)
        page = on_screen(t)
        await pilot.press("pagedown")
        assert (t.cursor_row, t.scroll_offset.y) == (page, page)
        await pilot.press("end")
        assert t.cursor_row == MANY - 1
        assert t.scroll_offset.y == MANY - page
        await pilot.press("pageup", "up")
        assert t.cursor_row == MANY - 2 - page
        await pilot.press("home")
        assert (t.cursor_row, t.scroll_offset.y) == (0, 0)


@sync
async def test_sorting_by_progress_follows_the_changes() -> None:
    views = many_runs()
    app = sample_app([BatchStarted("b", views)])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        t = table(app)
        t.set_sort("progress")
        change(app, [views[4321]], progress=99.0)
        change(app, [views[7]], progress=0.0)
        assert t.shown_keys()[0] == views[4321].key
        assert t.shown_keys()[-1] == views[7].key
        assert t.shown_keys()[1:-1] == [v.key for v in views if v.key[2] not in (7, 4321)]


@sync
async def test_the_cursor_stays_on_its_run_when_the_order_changes() -> None:
    views = many_runs()
    app = sample_app([BatchStarted("b", views)])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        t = table(app)
        t.set_sort("progress")
        t.move_cursor(row=10)
        change(app, views[20:25], progress=90.0)  # five runs move above the cursor's
        assert t.cursor_key() == views[10].key
        assert t.cursor_row == 15


@sync
async def test_hidden_finished_runs_leave_and_come_back_as_their_state_changes() -> None:
    views = many_runs()
    app = sample_app([BatchStarted("b", views)])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        t = table(app)
        await pilot.press("f")
        change(app, views[10:20], state=RunState.SUCCEEDED, rc=0)
        assert t.row_count == MANY - 10
        assert views[10].key not in t.shown_keys()
        change(app, views[10:11], state=RunState.RUNNING)  # a retry
        assert t.shown_keys()[10] == views[10].key
        assert str(app.main.info.content).startswith("4991/5000 shown")
        await pilot.press("f")
        assert t.row_count == MANY


@sync
async def test_a_filter_on_state_keeps_up_with_the_runs() -> None:
    views = many_runs()
    app = sample_app([BatchStarted("b", views)])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        t = table(app)
        await pilot.press("slash", *"state:failed", "enter")
        assert t.row_count == 0
        assert t.cursor_key() is None
        change(app, [views[3], views[4000]], state=RunState.FAILED, rc=1)
        assert t.shown_keys() == [views[3].key, views[4000].key]
        assert t.cursor_key() == views[3].key


@sync
async def test_mark_shown_marks_the_rows_and_shows_it() -> None:
    app = sample_app([BatchStarted("b", many_runs())])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        t = table(app)
        await pilot.press("slash", *"host001", "enter", "a")
        assert len(t.marks) == 50
        assert all(line_of(t, k).startswith(" ●") for k in t.shown_keys()[: on_screen(t)])
        await pilot.press("u")
        assert not t.marks
        assert line_of(t, t.shown_keys()[0]).startswith("   host001")


@sync
async def test_a_click_moves_the_cursor_and_a_second_click_opens_the_run() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        t = table(app)
        await pilot.click("#runs", offset=(5, 4))
        assert t.cursor_row == 3
        assert not isinstance(app.screen, DetailScreen)
        await pilot.click("#runs", offset=(5, 4))
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.key == t.shown_keys()[3]


@sync
async def test_enter_opens_the_run_under_the_cursor() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("down", "down", "enter")
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.key == table(app).shown_keys()[2]


@sync
async def test_clicking_the_progress_header_sorts_by_progress() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        t = table(app)
        x = sum(t.widths[k] + 2 for k in ("host", "job", "item", "state")) + 3
        await pilot.click("#runs", offset=(x, 0))
        assert t.sort_mode == "progress"
        progress = [app.board.runs[k].progress for k in t.shown_keys()]
        assert progress[:3] == [100.0, 100.0, 100.0]
        assert progress[-1] is None


@sync
async def test_a_run_that_changes_its_sort_key_but_keeps_its_place_is_drawn_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    views = many_runs()
    app = sample_app([BatchStarted("b", views)])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        t = table(app)
        t.set_sort("progress")  # every run at 10%: host order
        await pilot.pause()
        drawn = count_lines(t, monkeypatch)
        change(app, [views[0]], progress=11.0)  # first still
        await pilot.pause()
        assert t.shown_keys()[0] == views[0].key
        assert drawn == [1]
