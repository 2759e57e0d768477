"""The operator console on a real engine with local transports (no SSH): the demo,
a cancel that really kills, a cleanup the engine refuses."""

from __future__ import annotations

import argparse
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot

from jobtui.cli import demo_plan, load_plan
from jobtui.engine import Engine
from jobtui.model import RunState
from jobtui.plan import Plan
from jobtui.transport import make_transport
from jobtui.ui.app import ConsoleApp, make_app
from jobtui.ui.screens.confirm import ConfirmScreen
from jobtui.ui.screens.help import HelpScreen
from tests.uitools import record_toasts, sync

SLEEPER = """\
jobs:
  - name: sleeper
    hosts: all
    shell: sleep 30
    timeout: 120
    poll: 0.5
"""


@contextmanager
def console(plan: Plan) -> Iterator[tuple[ConsoleApp, Engine]]:
    """An operator console on the plan, like the CLI builds it; transports closed after."""
    transports = {h.name: make_transport(h) for h in plan.hosts()}
    engine = Engine(plan.runs, transports, batch="test-batch")
    try:
        yield make_app(engine, batch="test-batch", title="jobtui test", bell=False), engine
    finally:
        for t in transports.values():
            t.close()


def sleeper_plan(tmp_path: Path) -> Plan:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        f"all:\n  hosts:\n    local1:\n      ansible_connection: local\n"
        f"      jobtui_dir: {tmp_path / 'jobs'}\n"
    )
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(SLEEPER)
    return load_plan(str(jobs), str(inventory), None)


async def until(pilot: Pilot[int], condition: Callable[[], bool]) -> None:
    """Let the app run until `condition` holds (the test's own timeout bounds it)."""
    while not condition():
        await pilot.pause(0.05)


def state(app: ConsoleApp) -> RunState:
    (view,) = app.board.runs.values()
    return view.state


@sync
async def test_the_demo_shows_a_row_per_run(tmp_path: Path) -> None:
    args = argparse.Namespace(limit=None, state_dir=str(tmp_path))
    plan = demo_plan(args)
    with console(plan) as (app, _):
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.main.table.row_count == len(plan.runs))
            assert {k[1] for k in app.main.table.shown_keys()} == {h.name for h in plan.hosts()}
            app.leave(app.board.exit_code())


@sync
async def test_cancel_asks_then_kills_the_run(tmp_path: Path) -> None:
    with console(sleeper_plan(tmp_path)) as (app, _):
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: bool(app.board.runs) and state(app) is RunState.RUNNING)
            await pilot.press("c")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await until(pilot, lambda: state(app) is RunState.CANCELLED)
            await pilot.press("q")
        assert app.return_value == 1


@sync
async def test_cleanup_of_a_running_run_is_refused_with_a_notice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with console(sleeper_plan(tmp_path)) as (app, _):
        toasts = record_toasts(app, monkeypatch)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: bool(app.board.runs) and state(app) is RunState.RUNNING)
            await pilot.press("x")  # refused by the console at once: no dialog to answer
            await until(pilot, lambda: any("has not ended" in t for t in toasts))
            assert state(app) is RunState.RUNNING
            await pilot.press("c", "y")  # do not leave `sleep 30` behind
            await until(pilot, lambda: state(app) is RunState.CANCELLED)
            app.leave(app.board.exit_code())


@sync
async def test_keys_are_handled_while_a_host_hangs_on_connect(tmp_path: Path) -> None:
    """A host that accepts TCP and never answers SSH blocks a worker, never the screen."""
    silent = socket.socket()
    silent.bind(("127.0.0.41", 0))
    silent.listen(4)  # accepts into the backlog, never speaks
    addr, port = silent.getsockname()
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "all:\n  hosts:\n"
        f"    local1: {{ansible_connection: local, jobtui_dir: {tmp_path / 'jobs'}}}\n"
        f"    silent: {{ansible_host: {addr}, ansible_port: {port}, ansible_ssh_timeout: 60}}\n"
    )
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(SLEEPER.replace("sleep 30", "sleep 0"))
    plan = load_plan(str(jobs), str(inventory), None)
    try:
        with console(plan) as (app, engine):
            async with app.run_test(size=(100, 30)) as pilot:
                await until(
                    pilot,
                    lambda: any(
                        v.host == "local1" and v.state is RunState.SUCCEEDED
                        for v in app.board.runs.values()
                    ),
                )
                silent_run = next(v for v in app.board.runs.values() if v.host == "silent")
                assert silent_run.state is RunState.PENDING  # its connect is still hanging
                await pilot.press("question_mark")
                assert isinstance(app.screen, HelpScreen)
                await pilot.press("escape", "slash", "l", "o", "c", "enter")
                assert [k[1] for k in app.main.table.shown_keys()] == ["local1"]
                engine.stop()
                app.leave(app.board.exit_code())
    finally:
        silent.close()
