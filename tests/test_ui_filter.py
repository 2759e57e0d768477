"""The filter line with the sample batch: its language reaches the run list, and a
text it cannot read is an error on the line, never a silently empty list."""

from __future__ import annotations

from pathlib import Path

from jobtui.model import RunState
from jobtui.ui.app import ConsoleApp
from jobtui.ui.order import GRAMMAR
from jobtui.ui.sample import SAMPLE_BATCH, sample_app, sample_runs, settle
from tests.uitools import sync, table

SIZE = (120, 40)
ALL = len(sample_runs())


def info(app: ConsoleApp) -> str:
    return str(app.main.info.content)


def states(app: ConsoleApp) -> list[RunState]:
    return [app.board.runs[k].state for k in table(app).shown_keys()]


@sync
async def test_an_unknown_key_is_an_error_on_the_filter_line_with_a_did_you_mean() -> None:
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"status:running")
        assert info(app) == "✘ unknown key 'status:'; did you mean 'state:'?"
        assert "shown" not in info(app)


@sync
async def test_an_unknown_state_is_an_error_on_the_filter_line() -> None:
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"state:runing")
        assert info(app) == "✘ unknown state 'runing'; did you mean 'running'?"


@sync
async def test_a_bad_filter_keeps_the_last_good_one() -> None:
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"state:failed")
        good = table(app).shown_keys()
        assert states(app) == [RunState.FAILED]
        await pilot.press("comma")  # `state:failed,`: the list goes on
        assert info(app).startswith("✘ 'state:failed,' has an empty value")
        assert table(app).shown_keys() == good
        await pilot.press(*"timed_out")
        assert sorted(states(app), key=str) == [RunState.FAILED, RunState.TIMED_OUT]
        assert info(app).startswith("2/15 shown")


@sync
async def test_clearing_the_box_clears_the_error() -> None:
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"status:x")
        assert info(app).startswith("✘")
        await pilot.press("escape", "escape")  # leave the box, then clear it
        assert app.main.filter_box.value == ""
        assert info(app).startswith(f"{ALL}/{ALL} shown")
        assert table(app).row_count == ALL


@sync
async def test_a_long_error_leaves_the_box_room_at_80_columns() -> None:
    app = sample_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"state:xyz")
        assert info(app).startswith("✘ unknown state 'xyz'")
        assert info(app).endswith("…")
        assert app.main.filter_box.region.width >= 20


@sync
async def test_negation_shows_every_run_but_those() -> None:
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"state:!succeeded")
        assert RunState.SUCCEEDED not in states(app)
        assert table(app).row_count == ALL - 4
        await pilot.press("ctrl+u", *"host:!db01")
        assert {k.host for k in table(app).shown_keys()} == {"db02", "db03", "web01", "web02"}
        await pilot.press("ctrl+u", *"!db")
        assert {k.job for k in table(app).shown_keys()} == {"rotate-logs", "warm-cache", "reindex"}
        assert table(app).row_count == 5


@sync
async def test_a_state_list_shows_either_state() -> None:
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"state:failed,timed_out")
        assert sorted(states(app), key=str) == [RunState.FAILED, RunState.TIMED_OUT]


@sync
async def test_host_job_and_item_take_lists() -> None:
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"host:db02,web02 job:backup,reindex item:users,search")
        assert sorted(table(app).shown_keys()) == [
            ("backup", "db02", 0),
            ("reindex", "web02", 0),
        ]


@sync
async def test_batch_finds_the_consoles_own_batch() -> None:
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *f"batch:{SAMPLE_BATCH[:8]}")
        assert table(app).row_count == ALL
        await pilot.press("ctrl+u", *"batch:19990101")
        assert table(app).row_count == 0
        assert info(app).startswith(f"0/{ALL} shown")


def test_the_readme_shows_the_grammar_the_console_parses() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert GRAMMAR.strip() in readme
