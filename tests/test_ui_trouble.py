"""The console at fleet scale: trouble first, `n`, and the batch's progress in the
header (Pilot, 80x24 and 160x48, 200 and 500 hosts, frozen clock)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from jobtui.events import BatchStarted, Event, RunChanged, RunView
from jobtui.model import RunKey, RunState
from jobtui.ui.app import ConsoleApp
from jobtui.ui.batch_progress import in_trouble, trouble_key
from jobtui.ui.fleet_sample import fleet_events, fleet_runs, host_name
from jobtui.ui.sample import SAMPLE_BATCH, SAMPLE_NOW, sample_app, settle
from jobtui.ui.widgets.summary import StatusLine

from .uitools import put_cursor, record_toasts, sync, table

SIZES = [(80, 24), (160, 48)]
HOSTS = [200, 500]
ITEMS = 4
S = RunState


def header(app: ConsoleApp) -> str:
    return str(app.query_one(StatusLine).content)


def first_host_row(app: ConsoleApp) -> str:
    summary = app.main.host_summary
    return str(summary.ordered_rows[0].key.value)


def middle(hosts: int) -> int:
    """The run number of a run on the host in the middle of the fleet."""
    return (hosts // 2) * ITEMS + 2


def fail(view: RunView) -> RunChanged:
    return RunChanged(replace(view, state=S.FAILED, rc=1, finished=SAMPLE_NOW), view.state)


@pytest.mark.parametrize("hosts", HOSTS)
@pytest.mark.parametrize("size", SIZES)
@sync
async def test_a_failed_host_in_the_middle_comes_first_in_both_panels(
    size: tuple[int, int], hosts: int
) -> None:
    n = middle(hosts)
    failed_host = host_name(n // ITEMS)
    app = sample_app(fleet_events(hosts, ITEMS, trouble={n: S.FAILED}))
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        t = table(app)
        assert t.sort_mode == "trouble"
        assert t.shown_keys()[0] == RunKey("backup", failed_host, n % ITEMS)
        assert (t.cursor_row, t.scroll_offset.y) == (0, 0)  # on screen, under the cursor
        assert failed_host in t.render_line(1).text
        assert first_host_row(app) == failed_host
        assert "⚠ 1" in header(app)


@pytest.mark.parametrize("hosts", HOSTS)
@pytest.mark.parametrize("size", SIZES)
@sync
async def test_n_walks_the_runs_in_trouble_and_wraps(size: tuple[int, int], hosts: int) -> None:
    app = sample_app(fleet_events(hosts, ITEMS, unreachable=[hosts // 4]))
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        runs = app.board.runs
        trouble = sorted(
            (k for k, v in runs.items() if in_trouble(v.state)), key=lambda k: trouble_key(runs[k])
        )
        assert len(trouble) == 8  # four spread over the fleet, one host's four
        t = table(app)
        assert t.cursor_key() == trouble[0]
        seen = []
        for _ in range(len(trouble)):
            await pilot.press("n")
            seen.append(t.cursor_key())
        assert seen == [*trouble[1:], trouble[0]]


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_n_in_the_host_order_walks_down_the_list_from_the_cursor(
    size: tuple[int, int],
) -> None:
    app = sample_app(fleet_events(200, ITEMS))
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        t = table(app)
        await pilot.press("s")  # after trouble: host
        assert t.sort_mode == "host"
        trouble = [k for k in t.shown_keys() if in_trouble(app.board.runs[k].state)]
        put_cursor(app, trouble[1])
        seen = []
        for _ in range(len(trouble)):
            await pilot.press("n")
            seen.append(t.cursor_key())
        assert seen == [*trouble[2:], *trouble[:2]]
        assert t.scroll_offset.y <= t.cursor_row  # the run it jumped to is on screen


@sync
async def test_n_with_no_run_in_trouble_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    app = sample_app(fleet_events(200, ITEMS, trouble={}))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        toasts = record_toasts(app, monkeypatch)
        await pilot.press("n")
        assert table(app).cursor_row == 0
        assert toasts == ["no run in trouble"]


@sync
async def test_n_says_when_the_runs_in_trouble_are_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    app = sample_app(fleet_events(200, ITEMS))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        toasts = record_toasts(app, monkeypatch)
        await pilot.press("f")  # the failed, timed out and lost runs are finished
        await pilot.press("n")
        assert toasts == ["no run in trouble shown (4 hidden: the filter, or f)"]


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_the_first_failure_switches_to_trouble_first_once(size: tuple[int, int]) -> None:
    runs = fleet_runs(200, ITEMS, trouble={})
    app = sample_app([BatchStarted(SAMPLE_BATCH, runs)])
    by_key = {v.key: v for v in runs}
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        t = table(app)
        assert t.sort_mode == "host" and "⚠" not in header(app)
        victim = RunKey("backup", host_name(120), 1)
        app.buffer.push(fail(by_key[victim]))
        app.flush_events()
        await pilot.pause()
        assert t.sort_mode == "trouble"
        assert t.shown_keys()[0] == victim and t.cursor_key() == victim
        assert first_host_row(app) == host_name(120)
        assert "⚠ 1" in header(app)
        await pilot.press("s")  # the operator's own choice: host
        second = RunKey("backup", host_name(150), 1)
        app.buffer.push(fail(by_key[second]))
        app.flush_events()
        await pilot.pause()
        assert t.sort_mode == "host"  # once: the console does not take it back
        assert first_host_row(app) == host_name(0)
        assert "⚠ 2" in header(app)  # but the header counts the new failure


@sync
async def test_a_sort_chosen_before_any_trouble_is_kept() -> None:
    runs = fleet_runs(200, ITEMS, trouble={})
    app = sample_app([BatchStarted(SAMPLE_BATCH, runs)])
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        await pilot.press("s")
        assert table(app).sort_mode == "job"
        app.buffer.push(fail(runs[400]))
        app.flush_events()
        await pilot.pause()
        assert table(app).sort_mode == "job"
        assert "⚠ 1" in header(app)


@sync
async def test_a_cursor_the_operator_moved_stays_on_its_run_at_the_switch() -> None:
    runs = fleet_runs(200, ITEMS, trouble={})
    app = sample_app([BatchStarted(SAMPLE_BATCH, runs)])
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        mine = runs[37].key
        put_cursor(app, mine)
        app.buffer.push(fail(runs[500]))
        app.flush_events()
        await pilot.pause()
        t = table(app)
        assert t.sort_mode == "trouble" and t.cursor_key() == mine


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_the_read_only_watch_sorts_by_trouble_and_has_n(size: tuple[int, int]) -> None:
    n = middle(500)
    app = sample_app(
        fleet_events(500, ITEMS, trouble={n: S.FAILED, n + 40: S.LOST}), read_only=True
    )
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        t = table(app)
        assert t.sort_mode == "trouble" and app.main.status.read_only
        assert app.board.runs[t.shown_keys()[0]].state is S.FAILED
        await pilot.press("n")
        assert t.cursor_key() == t.shown_keys()[1]
        assert app.board.runs[t.shown_keys()[1]].state is S.LOST
        assert "⚠ 2" in header(app)


# -- the header's progress ----------------------------------------------------------


def crafted(now: float) -> list[Event]:
    """Five runs, the first started 100 s ago: two finished, two running at 25%, one
    pending; 2.5 runs' worth done in 100 s, 2.5 left: ETA 100 s."""
    s = RunState

    def view(i: int, state: RunState, **fields: object) -> RunView:
        return RunView(
            RunKey("backup", f"db{i}", 0), "backup", f"db{i}", "", f"J{i}", state, 1,
            **fields,  # type: ignore[arg-type]
        )  # fmt: skip

    runs = [
        view(1, s.SUCCEEDED, started=now - 100, finished=now - 50, rc=0, progress=100.0),
        view(2, s.SUCCEEDED, started=now - 80, finished=now - 70, rc=0),
        view(3, s.RUNNING, started=now - 60, progress=25.0),
        view(4, s.RUNNING, started=now - 40, progress=25.0),
        view(5, s.PENDING),
    ]
    return [BatchStarted(SAMPLE_BATCH, runs)]


@sync
async def test_the_header_reads_the_progress_eta_and_elapsed_of_a_crafted_batch() -> None:
    now = [SAMPLE_NOW]
    app = sample_app(crafted(SAMPLE_NOW), clock=lambda: now[0])
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        text = header(app)
        for words in ("2/5 finished", "running 25%", "ETA 1m40s", "elapsed 1m40s"):
            assert words in text, (words, text)
        assert "⚠" not in text
        now[0] += 100  # the same work done in twice the time: twice the time left
        app.main.tick()
        await pilot.pause()
        assert "ETA 3m20s" in header(app) and "elapsed 3m20s" in header(app)


@sync
async def test_the_narrow_header_keeps_the_trouble_the_progress_and_the_eta() -> None:
    app = sample_app(fleet_events(500, ITEMS, unreachable=[3]))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        text = header(app)
        progress = app.main.status.progress
        assert f"{progress.finished}/2000" in text and "ETA " in text, text
        assert "⚠ 8 (n)" in text
        assert len(text) <= 80
