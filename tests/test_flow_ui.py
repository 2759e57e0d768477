"""The console's picture of flow control: waiting runs say why and are counted (per
job, in the status line), skipped runs are shown and counted. Replayed events, Pilot."""

from __future__ import annotations

from dataclasses import replace

from jobtui.events import BatchStarted, RunChanged, RunView
from jobtui.model import RunKey, RunState
from jobtui.ui.board import Board
from jobtui.ui.sample import sample_app, settle
from jobtui.ui.widgets.summary import JobSummary, StatusLine
from tests.uitools import line_of, sync, table


def run(idx: int, state: RunState = RunState.PENDING, reason: str = "") -> RunView:
    return RunView(
        RunKey("dump", "db01", idx), "dump", "db01", f"db{idx}", f"jid{idx:06d}", state, 1,
        reason=reason,
    )  # fmt: skip


WAITING = "waiting: per_host 1"
SKIPPED = "max_fail_percentage 20 passed (3 of 10 runs failed)"


def test_the_board_counts_waiting_runs_per_job_as_their_reasons_change() -> None:
    board = Board("b")
    board.apply([BatchStarted("b", [run(0), run(1), run(2)])])
    assert board.waiting["dump"] == 0
    board.apply(
        [
            RunChanged(run(1, reason=WAITING), RunState.PENDING),
            RunChanged(run(2, reason="waiting: throttle 2"), RunState.PENDING),
        ]
    )
    assert board.waiting["dump"] == 2
    board.apply([RunChanged(run(2, reason=WAITING), RunState.PENDING)])  # another limit
    assert board.waiting["dump"] == 2
    board.apply([RunChanged(run(1, RunState.RUNNING), RunState.PENDING)])  # launched
    board.apply([RunChanged(run(2, RunState.SKIPPED, SKIPPED), RunState.PENDING)])
    assert board.waiting["dump"] == 0
    assert board.totals[RunState.SKIPPED] == 1


@sync
async def test_waiting_and_skipped_runs_are_shown_and_counted() -> None:
    views = [run(0, RunState.RUNNING), run(1, reason=WAITING), run(2, reason=WAITING)]
    app = sample_app(
        [
            BatchStarted("b", views),
            RunChanged(run(2, RunState.SKIPPED, SKIPPED), RunState.PENDING),
        ]
    )
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        assert WAITING in line_of(table(app), RunKey("dump", "db01", 1))
        skipped = line_of(table(app), RunKey("dump", "db01", 2))
        assert "↷ skipped" in skipped and "max_fail_percentage 20 passed" in skipped
        status = str(app.query_one(StatusLine).content)
        assert "1 skipped" in status and "(1 waiting)" in status
        jobs = app.query_one(JobSummary)
        assert "(1 waiting)" in jobs.get_cell("dump", "counts").plain
        app.buffer.push(
            RunChanged(replace(views[1], state=RunState.RUNNING, reason=""), RunState.PENDING)
        )
        await settle(app, pilot)
        assert "waiting" not in str(app.query_one(StatusLine).content)
        assert "waiting" not in jobs.get_cell("dump", "counts").plain
