"""The pager in the operator console on a real engine over SSH (the sshd fleet): a
run's multi-MB output, its last line shown, a fraction of it read; and the pager's
reads on the engine's own transport while the engine polls the same host."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from jobtui.cli import load_plan
from jobtui.engine import Engine
from jobtui.model import RunState
from jobtui.transport import make_transport
from jobtui.ui.app import ConsoleApp, make_app
from jobtui.ui.screens.detail import DetailScreen
from jobtui.ui.screens.pager import PagerScreen
from tests.test_pager_ui import idle, shown
from tests.uitools import sync

LINES = 500_000
"""`seq 500000`: 3.4 MB of output."""


async def until(pilot: Pilot[int], condition: Callable[[], bool]) -> None:
    """Let the app run until `condition` holds (the test's own timeout bounds it)."""
    while not condition():
        await pilot.pause(0.05)


@sync
async def test_the_pager_shows_the_last_line_of_a_multi_mb_output_on_an_ssh_host(
    fleet_inventory: Path, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(
        textwrap.dedent(
            f"""\
            jobs:
              - name: big
                hosts: host1
                shell: seq {LINES}; printf 'done at the end\\n' >&2
                timeout: 240
                poll: 0.5
            """
        )
    )
    plan = load_plan(str(jobs), str(fleet_inventory), None)
    transports = {h.name: make_transport(h) for h in plan.hosts()}
    engine = Engine(plan.runs, transports, batch="pager-batch")
    app: ConsoleApp = make_app(engine, batch="pager-batch", bell=False, ansible=False)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.main.table.row_count == 1)
            (key,) = app.board.runs
            await until(pilot, lambda: app.board.runs[key].state.finished)
            assert app.board.runs[key].state is RunState.SUCCEEDED
            app.open_detail(key)  # as enter on its row
            await until(pilot, lambda: isinstance(app.screen, DetailScreen))
            await pilot.press("o")
            screen = app.screen
            assert isinstance(screen, PagerScreen)
            await idle(screen, pilot)
            assert shown(screen)[-1] == str(LINES)
            store = screen._pagers["stdout"].store
            assert store.size == len(b"".join(b"%d\n" % i for i in range(1, LINES + 1)))
            assert store.done
            assert store.bytes_read < store.size / 10
            await pilot.press("g")
            await idle(screen, pilot)
            assert shown(screen)[0] == "1"
            await pilot.press("slash", *"250000", "enter")
            await idle(screen, pilot)
            assert shown(screen)[0] == "250000"
            await pilot.press("e")
            await idle(screen, pilot)
            assert shown(screen)[0] == "done at the end"
            app.leave(0)
    finally:
        for t in transports.values():
            t.close()


@sync
async def test_the_pager_follows_a_running_output_read_between_the_engines_polls(
    fleet_inventory: Path, tmp_path: Path
) -> None:
    go_on = tmp_path / "go-on"  # the hosts share this machine's file system
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(
        textwrap.dedent(
            f"""\
            jobs:
              - name: growing
                hosts: host2
                shell: seq 200000; until [ -e {go_on} ]; do sleep 0.1; done; echo tail-line
                timeout: 240
                poll: 0.2
            """
        )
    )
    plan = load_plan(str(jobs), str(fleet_inventory), None)
    transports = {h.name: make_transport(h) for h in plan.hosts()}
    engine = Engine(plan.runs, transports, batch="pager-batch")
    app: ConsoleApp = make_app(engine, batch="pager-batch", bell=False, ansible=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.main.table.row_count == 1)
            (key,) = app.board.runs
            await until(pilot, lambda: app.board.runs[key].state is not RunState.PENDING)
            assert app.board.runs[key].state is RunState.RUNNING
            app.open_detail(key)
            await until(pilot, lambda: isinstance(app.screen, DetailScreen))
            await pilot.press("o")
            screen = app.screen
            assert isinstance(screen, PagerScreen)
            await until(pilot, lambda: shown(screen)[-1] == "200000")  # at the end: it follows
            assert screen.page is not None and not screen.page.done
            go_on.touch()
            await until(pilot, lambda: shown(screen)[-1] == "tail-line")
            await until(pilot, lambda: screen.page is not None and screen.page.done)
            await until(pilot, lambda: app.board.runs[key].state.finished)
            assert app.board.runs[key].state is RunState.SUCCEEDED
            app.leave(0)
    finally:
        go_on.touch()  # the job ends even if the test failed
        for t in transports.values():
            t.close()
