"""The operator's first hour (issue 16), in the console: the words it uses, what it
says of runs it no longer follows, the batch column of watch, hosts' reasons, the
sort's direction."""

from __future__ import annotations

import dataclasses

import pytest

from jobtui.events import BatchFinished, BatchStarted, Event, HostChanged, RunChanged, RunView
from jobtui.model import Action, RunKey, RunState
from jobtui.ui.ansible_jobs import AnsibleJobs
from jobtui.ui.app import OperatorApp
from jobtui.ui.order import RunOrder
from jobtui.ui.render import finished_counts, sort_key
from jobtui.ui.sample import (
    SAMPLE_BATCH,
    SAMPLE_NOW,
    RecordingSink,
    sample_app,
    sample_events,
    sample_runs,
    settle,
)
from jobtui.ui.screens.detail import DetailScreen
from jobtui.ui.source import ReplaySource
from jobtui.ui.widgets.summary import StatusLine
from jobtui.ui.widths import column_widths, widen
from tests.test_ui_ansible import JID, fake_host, plain
from tests.uitools import line_of, record_toasts, sync, table


def test_the_end_of_the_batch_counts_in_the_headers_words() -> None:
    assert finished_counts({"succeeded": 9, "timed_out": 2, "failed": 1}) == (
        "1 failed, 2 timed out, 9 succeeded"
    )


@sync
async def test_the_batch_finished_toast_says_timed_out_as_the_header_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        toasts = record_toasts(app, monkeypatch)
        view = app.board.runs[RunKey("backup", "db02", 1)]
        app.buffer.push(BatchFinished(SAMPLE_BATCH, [view], {"timed_out": 1}))
        app.flush_events()
        await pilot.pause()
        assert any("1 timed out" in t for t in toasts)
        assert not any("timed_out" in t for t in toasts)


@sync
async def test_the_header_names_the_batch_once_when_the_title_does() -> None:
    app = OperatorApp(
        ReplaySource(sample_events()),
        RecordingSink(),
        title=f"jobtui attach {SAMPLE_BATCH}",
        batch=SAMPLE_BATCH,
        bell=False,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        header = str(app.query_one(StatusLine).content)
        assert header.count(SAMPLE_BATCH) == 1


def test_cancelling_an_ended_ansible_job_names_its_state_in_words() -> None:
    source = AnsibleJobs([fake_host()])
    view = RunView(
        RunKey.discovered(JID, "db01"), "shell", "db01", "", JID, RunState.TIMED_OUT, 1,
        ansible=True,
    )  # fmt: skip
    notice = source._act(Action.CANCEL, view)
    assert notice is not None
    assert "(timed out)" in notice.text


@sync
async def test_shift_s_reverses_the_sort_and_the_label_shows_its_direction() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("s")  # from trouble first (the sample has failed) to host
        before = table(app).shown_keys()
        assert "sort: host ▲" in str(app.main.info.content)
        await pilot.press("S")
        assert table(app).shown_keys() == before[::-1]
        assert "sort: host ▼" in str(app.main.info.content)
        await pilot.press("question_mark")
        listed = {d for _, keys in app.screen.sections for _, d in keys}  # type: ignore[attr-defined]
        assert "Reverse" in listed


def test_reversing_a_sort_keeps_it_reversed_as_runs_change() -> None:
    runs = {v.key: v for v in sample_runs()}
    order = RunOrder(runs)
    order.sort_mode, order.reverse = "job", True
    order.rebuild()
    first = order.keys[0]
    runs[first] = dataclasses.replace(runs[first], progress=12.0)
    order.apply([first])
    assert order.keys == sorted(runs, key=lambda k: sort_key(runs[k], "job"), reverse=True)


def test_an_80_column_table_shows_whole_item_names_before_spare_elapsed_cells() -> None:
    demo = [
        RunView(RunKey("backup", host, i), "backup", host, item, "j" * 8, RunState.RUNNING, 1,
                timeout=60)
        for host in ("db01", "web01") for i, item in enumerate(["users_db", "orders_db"])
    ] + [RunView(RunKey("rotate-logs", "web01", 0), "rotate-logs", "web01", "", None,
                 RunState.SUCCEEDED, 1, timeout=30)]  # fmt: skip
    longest: dict[str, int] = {}
    widen(longest, demo)
    widths = column_widths(79, longest)
    assert widths["item"] >= len("orders_db")
    assert widths["job"] >= len("rotate-logs")
    assert widths["elapsed"] == len("1m10s/1m")


def _backups(batches: int) -> list[RunView]:
    """What watch finds on db01: one `backup` run per batch (no item index of its
    own), batches a day apart."""
    return [
        RunView(RunKey.discovered(f"jid{n:05d}abcdef", "db01"), "backup", "db01", "",
                f"jid{n:05d}abcdef", RunState.SUCCEEDED, 1, rc=0, timeout=3600,
                batch=f"202611{20 + n:02d}-0300{n:02d}-a1b2c3")
        for n in range(batches)
    ]  # fmt: skip


@sync
async def test_watch_shows_which_batch_each_run_is_of_where_there_is_room() -> None:
    runs = _backups(7)
    app = sample_app([BatchStarted("", runs)], read_only=True)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        lines = [line_of(table(app), v.key) for v in runs]
        assert all(v.batch in line for v, line in zip(runs, lines, strict=True))
        assert "Batch" in table(app).render_line(0).text
        assert table(app).shown_keys() == [v.key for v in runs]  # oldest batch first


@sync
async def test_watch_at_80_columns_drops_the_batch_column_first() -> None:
    runs = _backups(2)
    app = sample_app([BatchStarted("", runs)], read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert table(app).widths["batch"] == 0
        assert "Batch" not in table(app).render_line(0).text


@sync
async def test_the_operator_console_has_no_batch_column() -> None:
    app = sample_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        assert table(app).widths["batch"] == 0


LONG_REASON = (
    "cannot connect to 10.0.0.7:22 through bastion.example.com: channel 3: open failed:"
    " connect failed: No route to host (ProxyJump bastion.example.com, tried 3 times)"
)


@sync
async def test_enter_on_an_unreachable_host_in_watch_says_its_whole_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = sample_app([HostChanged("db09", False, LONG_REASON)], read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        toasts = record_toasts(app, monkeypatch)
        app.main.host_summary.focus()
        await pilot.press("enter")
        assert toasts == [f"db09 is unreachable: {LONG_REASON}"]


@sync
async def test_the_detail_of_a_run_says_why_its_host_is_unreachable_in_full() -> None:
    runs = _backups(1)
    events: list[Event] = [BatchStarted("", runs), HostChanged("db01", False, LONG_REASON)]
    app = sample_app(events, read_only=True)
    async with app.run_test(size=(80, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        text = plain(app.screen.parts["detail-fields"].content)
        assert "unreachable: " + LONG_REASON in " ".join(text.split())


def _fire_and_forget(n: int, started: float | None) -> list[RunView]:
    return [
        RunView(RunKey("backup", f"db{i:02d}", 0), "backup", f"db{i:02d}", "users_db",
                f"jid{i:05d}abcdef", RunState.RUNNING, 1, started=started, timeout=3600)
        for i in range(n)
    ]  # fmt: skip


@sync
async def test_runs_left_running_when_the_batch_ends_are_said_to_be_not_followed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = _fire_and_forget(3, started=None)
    app = sample_app([BatchStarted(SAMPLE_BATCH, runs)])
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        toasts = record_toasts(app, monkeypatch)
        app.buffer.push(BatchFinished(SAMPLE_BATCH, runs, {"running": 3}))
        app.flush_events()
        await pilot.pause()
        header = str(app.query_one(StatusLine).content)
        assert "3 not followed" in header and "jobtui attach" in header
        assert any(f"jobtui attach {SAMPLE_BATCH}" in t and "jobtui status" in t for t in toasts)
        assert "not followed" in line_of(table(app), runs[0].key)


@sync
async def test_the_elapsed_time_of_a_run_not_followed_keeps_counting_from_its_start() -> None:
    now = [SAMPLE_NOW]
    runs = _fire_and_forget(1, started=SAMPLE_NOW - 30)
    app = sample_app([BatchStarted(SAMPLE_BATCH, runs)], clock=lambda: now[0])
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        app.buffer.push(BatchFinished(SAMPLE_BATCH, runs, {"running": 1}))
        app.flush_events()
        await pilot.pause()
        assert "30s/1h" in line_of(table(app), runs[0].key)
        now[0] += 60
        app.main.tick()
        await pilot.pause()
        assert "1m30s/1h" in line_of(table(app), runs[0].key)


@sync
async def test_a_run_followed_again_after_the_end_is_no_longer_not_followed() -> None:
    runs = _fire_and_forget(2, started=None)
    app = sample_app([BatchStarted(SAMPLE_BATCH, runs)])
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        app.buffer.push(BatchFinished(SAMPLE_BATCH, runs, {"running": 2}))
        app.flush_events()
        app.buffer.push(RunChanged(runs[0], RunState.RUNNING))  # a cancel watches it
        app.flush_events()
        await pilot.pause()
        assert app.board.unfollowed == {runs[1].key}
        assert "1 not followed" in str(app.query_one(StatusLine).content)
