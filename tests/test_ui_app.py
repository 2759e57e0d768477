"""The console with a replayed batch (no engine): rows, filter, detail, help,
actions, read-only, quitting, toasts. Driven with Pilot; nothing waits on a clock."""

from __future__ import annotations

from typing import Any

import pytest
from textual.command import CommandList
from textual.widgets import Static

from jobtui.events import BatchFinished, BatchStarted, Event, Notice, RunChanged, RunView
from jobtui.model import NoticeLevel, RunKey, RunState
from jobtui.ui.app import OperatorApp, make_app
from jobtui.ui.commands import ActionCommands
from jobtui.ui.sample import SAMPLE_NOW, RecordingSink, sample_app, sample_runs, settle
from jobtui.ui.screens.confirm import ConfirmScreen
from jobtui.ui.screens.detail import DetailScreen
from jobtui.ui.screens.help import HelpScreen
from jobtui.ui.screens.main import MainScreen
from jobtui.ui.widgets.summary import StatusLine
from tests.uitools import line_of, put_cursor, record_toasts, sync, table

ACTION_KEYS = ("c", "x", "r", "space", "a", "u")
FAILED_ROTATE: RunKey = RunKey("rotate-logs", "web02", 0)


@sync
async def test_sample_rows_are_shown() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert table(app).row_count == len(sample_runs())


@sync
async def test_typing_in_the_filter_narrows_the_rows() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"db02")
        assert table(app).row_count == 3
        assert {k[1] for k in table(app).shown_keys()} == {"db02"}
        await pilot.press("space", *"state:running")
        assert table(app).shown_keys() == [("backup", "db02", 1)]


@sync
async def test_escape_leaves_then_clears_the_filter() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"web", "escape")
        assert table(app).has_focus
        await pilot.press("escape")
        assert table(app).row_count == len(sample_runs())


@sync
async def test_finished_runs_can_be_hidden() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("f")
        shown = {app.board.runs[k].state for k in table(app).shown_keys()}
        assert shown == {RunState.RUNNING, RunState.PENDING, RunState.UNREACHABLE}


@sync
async def test_sorting_by_state_puts_failures_first() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("s", "s", "s")  # the sample has failed: trouble, host, job, state
        assert table(app).sort_mode == "state"
        assert table(app).shown_keys()[0] == FAILED_ROTATE


@sync
async def test_rows_update_in_place() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("s")  # from trouble first (the sample has failed) to host
        order_before = table(app).shown_keys()
        running = app.board.runs[RunKey("backup", "db02", 1)]
        app.buffer.push(RunChanged(_with(running, progress=77.0), RunState.RUNNING))
        app.flush_events()
        await pilot.pause()
        assert table(app).shown_keys() == order_before
        assert "77%" in line_of(table(app), running.key)


@sync
async def test_enter_opens_the_detail_with_inert_output() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        put_cursor(app, FAILED_ROTATE)
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        stdout = str(app.screen.query_one("#stdout", Static).content)
        assert "\\x1b[31m[bold]not markup[/bold]" in stdout
        assert "No space left" in str(app.screen.query_one("#stderr", Static).content)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


@sync
async def test_the_detail_follows_the_run() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        key: RunKey = RunKey("backup", "db02", 1)
        put_cursor(app, key)
        await pilot.press("enter")
        view = app.board.runs[key]
        app.buffer.push(RunChanged(_with(view, tail="chunk 99 done\n"), RunState.RUNNING))
        app.flush_events()
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        assert "chunk 99 done" in str(app.screen.query_one("#stdout", Static).content)


@sync
async def test_question_mark_opens_the_help_listing_the_action_keys() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        listed = {d for _, keys in app.screen.sections for _, d in keys}
        assert {"Cancel", "Clean up", "Retry", "Mark", "Filter", "Details", "Quit"} <= listed
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


@sync
async def test_cancel_asks_first_and_sends_on_yes() -> None:
    sink = RecordingSink()
    app = sample_app(sink=sink)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        key: RunKey = RunKey("backup", "db02", 1)
        put_cursor(app, key)
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        assert sink.requests == []
        await pilot.press("y")
        assert sink.requests == [("cancel", [key])]


@sync
async def test_cancel_answered_no_sends_nothing() -> None:
    sink = RecordingSink()
    app = sample_app(sink=sink)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("c", "n")
        assert isinstance(app.screen, MainScreen)
        assert sink.requests == []


@sync
async def test_cleanup_asks_first_and_retry_does_not() -> None:
    sink = RecordingSink()
    app = sample_app(sink=sink)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        put_cursor(app, FAILED_ROTATE)
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y", "r")
        assert sink.requests == [("cleanup", [FAILED_ROTATE]), ("retry", [FAILED_ROTATE])]


@sync
async def test_actions_apply_to_the_marked_rows() -> None:
    sink = RecordingSink()
    app = sample_app(sink=sink)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        first, second = table(app).shown_keys()[:2]
        await pilot.press("space", "space")
        assert table(app).marks == {first, second}
        assert line_of(table(app), first).startswith(" ●")
        await pilot.press("r")
        assert sink.requests == [("retry", sorted([first, second]))]
        assert not table(app).marks


@sync
async def test_mark_shown_marks_every_run_matching_the_filter() -> None:
    sink = RecordingSink()
    app = sample_app(sink=sink)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"db03", "enter", "a", "c", "y")
        action, keys = sink.requests[0]
        assert action == "cancel"
        assert {k[1] for k in keys} == {"db03"}
        assert len(keys) == 3


@sync
async def test_actions_work_from_the_detail_screen() -> None:
    sink = RecordingSink()
    app = sample_app(sink=sink)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        put_cursor(app, FAILED_ROTATE)
        await pilot.press("enter", "r")
        assert sink.requests == [("retry", [FAILED_ROTATE])]


@sync
async def test_read_only_app_has_no_action_bindings_and_action_keys_do_nothing() -> None:
    app = sample_app(read_only=True)
    assert not isinstance(app, OperatorApp)
    assert not hasattr(app, "_actions")
    assert ActionCommands not in app.COMMANDS
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        actions = {b.binding.action for b in app.screen.active_bindings.values()}
        assert not actions & {"cancel", "cleanup", "retry", "toggle_mark", "mark_all"}
        await pilot.press(*ACTION_KEYS)
        assert isinstance(app.screen, MainScreen)
        assert not table(app).marks
        assert "READ-ONLY" in str(app.query_one(StatusLine).content)


@pytest.mark.parametrize("read_only", [True, False])
@sync
async def test_read_only_palette_has_no_action_entries(read_only: bool) -> None:
    """The operator console's palette finds "Cancel runs"; the read-only one does not.
    (This test once looked for `Option` widgets, which an OptionList does not have: it
    found none in either console and could not fail.)"""
    app = sample_app(read_only=read_only)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()  # the palette is composed before a search can run in it
        await pilot.press(*"cancel")
        # The palette searches in a worker: its results are in once it is done (and a
        # search still running as the app closes fails on the palette's gone widgets).
        await app.workers.wait_for_complete()
        await pilot.pause()
        found = app.screen.query_one(CommandList)
        prompts = [str(found.get_option_at_index(i).prompt) for i in range(found.option_count)]
        assert any("Cancel runs" in p for p in prompts) is not read_only


def test_make_app_refuses_an_engine_for_a_read_only_console() -> None:
    with pytest.raises(ValueError, match="read-only"):
        make_app(object(), read_only=True, source=None)  # type: ignore[arg-type]


@sync
async def test_quit_while_runs_are_active_asks_and_exits_130() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        assert "detached" in app.screen.body.plain
        assert "nothing is killed" in app.screen.body.plain
        await pilot.press("y")
    assert app.return_value == 130


@sync
async def test_quit_after_the_batch_ended_returns_its_exit_code() -> None:
    runs = [v for v in sample_runs() if v.state.finished]
    events: list[Event] = [BatchStarted("b", runs), BatchFinished("b", runs, {})]
    app = sample_app(events)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("q")
    assert app.return_value == 1


@sync
async def test_notices_failures_and_the_end_of_the_batch_become_toasts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        toasts = record_toasts(app, monkeypatch)
        running = app.board.runs[RunKey("backup", "db02", 1)]
        failed = _with(running, state=RunState.FAILED, rc=2)
        for event in (
            Notice("db01 backup[users_db] is running: cleanup refused", NoticeLevel.WARNING),
            RunChanged(failed, RunState.RUNNING),
            BatchFinished("b", [failed], {"failed": 1}),
        ):
            app.buffer.push(event)
        app.flush_events()
        await pilot.pause()
        assert any("cleanup refused" in t for t in toasts)
        assert any("db02 backup[orders_db]: failed (rc 2)" in t for t in toasts)
        assert any(t.startswith("batch b:") for t in toasts)


@sync
async def test_a_flood_of_failures_is_one_toast(monkeypatch: pytest.MonkeyPatch) -> None:
    views = [_view(i) for i in range(50)]
    app = sample_app([BatchStarted("b", views)])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        toasts = record_toasts(app, monkeypatch)
        for v in views:
            app.buffer.push(RunChanged(_with(v, state=RunState.FAILED, rc=1), RunState.RUNNING))
        app.flush_events()
        await pilot.pause()
        assert toasts == ["50 runs failed, timed out or were lost"]


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
@sync
async def test_layout_holds_at_small_and_wide_sizes(size: tuple[int, int]) -> None:
    app = sample_app()
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        assert app.main.has_class("-wide") == (size[0] >= 140)
        t = table(app)
        assert t.region.width <= size[0]
        assert t.virtual_size.width <= t.region.width
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)


def _view(i: int) -> RunView:
    return RunView(
        key=RunKey("job", f"host{i % 100:03d}", i),
        job="job",
        host=f"host{i % 100:03d}",
        item=f"item{i}",
        jid=f"jid{i:08d}",
        state=RunState.RUNNING,
        attempt=1,
        started=1_795_900_000.0 - 60,
        timeout=600,
    )


def _with(view: RunView, **changes: Any) -> RunView:
    from dataclasses import replace

    return replace(view, **changes)


@sync
async def test_clicking_a_column_header_sorts_by_it() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        t = table(app)
        x = 2 + sum(t.widths[k] + 2 for k in ("host", "job", "item"))
        await pilot.click("#runs", offset=(x, 0))
        assert t.sort_mode == "state"
        assert t.shown_keys()[0] == FAILED_ROTATE


@sync
async def test_elapsed_of_running_rows_moves_with_the_clock() -> None:
    now = [SAMPLE_NOW]
    app = sample_app(clock=lambda: now[0])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        key: RunKey = RunKey("backup", "db02", 1)
        assert "5m12s/1h" in line_of(table(app), key)
        now[0] += 60
        app.main.tick()
        assert "6m12s/1h" in line_of(table(app), key)


@sync
async def test_the_detail_asks_for_live_output_only_while_it_is_open() -> None:
    sink = RecordingSink()
    app = sample_app(sink=sink)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        put_cursor(app, FAILED_ROTATE)
        await pilot.press("enter")
        assert sink.shown == [[FAILED_ROTATE]]
        await pilot.press("escape")
        await pilot.pause()
        assert sink.shown == [[FAILED_ROTATE], []]


@sync
async def test_the_info_label_follows_the_table_settings() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("s", "s", "f", "space")  # trouble first (the sample failed), host, job
        assert str(app.main.info.content) == "7/15 shown · sort: job ▲ · finished hidden · 1 marked"
        await pilot.press("u", "slash", *"db02")
        assert str(app.main.info.content) == "2/15 shown · sort: job ▲ · finished hidden"


@sync
async def test_the_info_label_lays_out_the_screen_only_when_its_width_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        info = app.main.info
        layouts: list[bool] = []
        real = info.update

        def update(content: Any = "", *, layout: bool = True) -> None:
            layouts.append(layout)
            real(content, layout=layout)

        monkeypatch.setattr(info, "update", update)
        await pilot.press("space", "space")  # "· 1 marked", then "· 2 marked"
        assert layouts == [True, False]


@sync
async def test_names_with_escapes_are_inert_in_the_detail_title_and_the_confirmation() -> None:
    """A host, job or item name from an inventory, a job file or a host reaches the
    screen as text: the detail view's title once let ESC sequences through (Rich strips
    only BEL, BS, VT, FF and CR)."""
    evil = "\x1b]0;pwned\x07\x1b[2J"
    runs = [_with(v, host=f"db01{evil}", item=f"users{evil}\nforged") for v in sample_runs()[:1]]
    app = sample_app([BatchStarted("b", runs)])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        title = str(app.screen.query_one("#detail-title", Static).content)
        assert "\x1b" not in title and "\x07" not in title and "\n" not in title
        assert "db01\\x1b]0;pwned\\x07\\x1b[2J" in title and "\\x0aforged" in title
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        body = str(app.screen.query_one("#confirm-body", Static).content)
        assert "\x1b" not in body and "\\x1b[2J" in body
