"""The console's problems view (`p`): one line per problem, enter shows its runs."""

from __future__ import annotations

import dataclasses

import pytest
from textual.pilot import Pilot

from jobtui.events import BatchStarted, RunChanged
from jobtui.model import RunKey, RunState
from jobtui.ui.app import ConsoleApp
from jobtui.ui.sample import (
    SAMPLE_BATCH,
    sample_app,
    sample_failures,
    sample_problem_events,
    sample_runs,
    settle,
)
from jobtui.ui.screens.main import MainScreen
from jobtui.ui.screens.problems import NONE, ProblemsScreen
from tests.uitools import sync, table

SIZES = [(80, 24), (120, 40)]
SYNC_HOSTS = ["app01", "app02", "app03", "app04", "app05"]


def rows(screen: ProblemsScreen) -> list[str]:
    """Each row of the problems table as its cells' text, joined by `|`."""
    t = screen.table
    return ["|".join(str(cell) for cell in t.get_row_at(y)) for y in range(t.row_count)]


async def open_problems(app: ConsoleApp, pilot: Pilot[int]) -> ProblemsScreen:
    await settle(app, pilot)
    await pilot.press("p")
    await pilot.pause()
    assert isinstance(app.screen, ProblemsScreen)
    return app.screen


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_one_line_per_problem_with_its_count_and_hosts(size: tuple[int, int]) -> None:
    app = sample_app(sample_problem_events())
    async with app.run_test(size=size) as pilot:
        screen = await open_problems(app, pilot)
        lines = rows(screen)
        # Five hosts, five addresses, one problem: the biggest, first.
        count, ended, error, hosts = lines[0].split("|")
        assert (count, ended) == ("5", "✘ failed rc=12")
        assert error.startswith("rsync: connection to <ip>")  # cut with … at 80 columns
        assert hosts.startswith("app01") and hosts.endswith(("app05", "more"))
        assert lines[1].startswith("3|↯ unreachable|connection refused (port 22)|db03")
        assert len(lines) == 7  # and the other five, one run each
        assert "13 runs that did not succeed, 7 causes" in str(screen.title_line.render())
        assert all(len(line) < size[0] for line in lines)


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_enter_shows_that_problems_runs_only_and_escape_shows_all(
    size: tuple[int, int],
) -> None:
    app = sample_app(sample_problem_events())
    async with app.run_test(size=size) as pilot:
        await open_problems(app, pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert table(app).shown_keys() == [RunKey("sync", h, 0) for h in SYNC_HOSTS]
        assert "problem: 5 runs" in str(app.main.info.render())
        await pilot.press("escape")
        await pilot.pause()
        assert table(app).row_count == len(app.board.runs)
        assert "problem" not in str(app.main.info.render())


@sync
async def test_the_cursors_problem_is_the_one_chosen() -> None:
    app = sample_app(sample_problem_events())
    async with app.run_test(size=(120, 40)) as pilot:
        await open_problems(app, pilot)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert table(app).shown_keys() == [RunKey("backup", "db03", i) for i in range(3)]
        await pilot.press("p", "down", "down", "enter")  # another one, straight away
        await pilot.pause()
        assert table(app).shown_keys() == [RunKey("rotate-logs", "web02", 0)]
        assert "problem: 1 run" in str(app.main.info.render())


@sync
async def test_escape_closes_the_view_and_filters_nothing() -> None:
    app = sample_app(sample_problem_events())
    async with app.run_test(size=(80, 24)) as pilot:
        await open_problems(app, pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert table(app).row_count == len(app.board.runs) and table(app).only is None


@sync
async def test_the_view_follows_runs_as_they_end_and_keeps_its_cursor() -> None:
    app = sample_app(sample_problem_events())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_problems(app, pilot)
        await pilot.press("down")  # db03's problem
        # app06 fails again, this time as the five did (another address, another time).
        (_, *_, app06) = sample_failures()
        again = dataclasses.replace(
            app06, rc=12, stderr_tail="rsync: connection to 10.0.3.99 timed out after 9s\n"
        )
        app.buffer.push(RunChanged(again, RunState.FAILED))
        app.flush_events()
        await pilot.pause()
        assert rows(screen)[0].startswith("6|✘ failed rc=12|rsync: connection to <ip>")
        assert len(rows(screen)) == 6  # app06's own problem is gone
        chosen = screen.chosen()
        assert chosen is not None and chosen.hosts == ["db03"]


@sync
async def test_the_read_only_console_has_the_view_too() -> None:
    app = sample_app(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_problems(app, pilot)
        assert rows(screen)[0].startswith("3|↯ unreachable|connection refused (port 22)")


@sync
async def test_a_batch_without_problems_says_so() -> None:
    ok = [v for v in sample_runs() if not v.state.failed]
    app = sample_app([BatchStarted(SAMPLE_BATCH, ok)])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_problems(app, pilot)
        assert screen.none.display and not screen.table.display
        assert str(screen.none.render()) == NONE
