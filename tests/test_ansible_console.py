"""The operator console on a real engine (local transport) shows the real Ansible async
jobs of its hosts beside its batch's runs, and acts on them for real: `c` ends one
(its processes gone, its file says 'cancelled by jobtui'), `x` removes a finished one;
the batch's own run goes on untouched."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot

from jobtui.cli import load_plan
from jobtui.engine import Engine
from jobtui.events import RunView
from jobtui.model import RunKey, RunState
from jobtui.transport import make_transport
from jobtui.ui.app import ConsoleApp, make_app
from jobtui.ui.screens.confirm import ConfirmScreen
from tests.helpers import processes_matching, wait_until
from tests.test_ansible_files import launch as launch_ansible
from tests.uitools import put_cursor, sync

ANSIBLE = Path(sys.executable).parent / "ansible"
pytestmark = pytest.mark.skipif(not ANSIBLE.exists(), reason="ansible-core is not installed")

JOBS = """\
jobs:
  - name: sleeper
    hosts: all
    shell: sleep 30
    timeout: 120
    poll: 0.5
"""


def launch(tmp_path: Path, adir: Path, command: str, limit: int = 120) -> str:
    """A real Ansible async job of the `command` module (test_ansible_files' launch)."""
    return launch_ansible(tmp_path, adir, command, limit, module="command")


@contextmanager
def console(tmp_path: Path, adir: Path) -> Iterator[ConsoleApp]:
    """The operator console as the CLI builds it (make_app on an engine), on a host
    whose ansible_async_dir is `adir`; its transports closed after."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "all:\n  hosts:\n    local1:\n      ansible_connection: local\n"
        f"      jobtui_dir: {tmp_path / 'jobs'}\n      ansible_async_dir: {adir}\n"
    )
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(JOBS)
    plan = load_plan(str(jobs), str(inventory), None)
    transports = {h.name: make_transport(h) for h in plan.hosts()}
    engine = Engine(plan.runs, transports, batch="test-batch")
    try:
        yield make_app(engine, batch="test-batch", title="jobtui test", bell=False)
    finally:
        for t in transports.values():
            t.close()


async def until(pilot: Pilot[int], condition: Callable[[], bool]) -> None:
    while not condition():
        await pilot.pause(0.05)


def view(app: ConsoleApp, key: RunKey) -> RunView | None:
    return app.board.runs.get(key)


@pytest.fixture
def adir(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "async"
    d.mkdir()
    yield d
    for pid in processes_matching(str(tmp_path / "ahome")):  # nothing left behind
        os.kill(pid, 9)


@sync
async def test_c_in_the_operator_console_cancels_a_real_ansible_job(
    tmp_path: Path, adir: Path
) -> None:
    jid = launch(tmp_path, adir, "sleep 100")
    done = launch(tmp_path, adir, "true")
    assert wait_until(lambda: '"rc": 0' in (adir / done).read_text(), 30)
    key, finished = RunKey.discovered(jid, "local1"), RunKey.discovered(done, "local1")
    ours = RunKey("sleeper", "local1", 0)
    with console(tmp_path, adir) as app:
        async with app.run_test(size=(120, 30)) as pilot:

            def running(k: RunKey) -> bool:
                v = view(app, k)
                return v is not None and v.state is RunState.RUNNING

            await until(pilot, lambda: running(key) and running(ours))
            shown = app.board.runs[key]
            assert shown.ansible and shown.command == "sleep 100" and shown.timeout == 120
            assert app.board.runs[finished].state is RunState.SUCCEEDED
            put_cursor(app, key)
            await pilot.press("c")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await until(pilot, lambda: app.board.runs[key].state is RunState.CANCELLED)
            result = json.loads((adir / jid).read_text())
            assert result["msg"] == "cancelled by jobtui" and result["failed"]
            assert not processes_matching(jid.partition(".")[0])
            assert app.board.runs[ours].state is RunState.RUNNING  # the batch's: untouched

            put_cursor(app, finished)  # x removes a finished one's file
            await pilot.press("x", "y")
            await until(pilot, lambda: app.board.runs[finished].cleaned)
            assert not (adir / done).exists() and (adir / jid).exists()

            put_cursor(app, ours)  # do not leave the batch's `sleep 30` behind
            await pilot.press("c", "y")
            await until(pilot, lambda: app.board.runs[ours].state is RunState.CANCELLED)
            await pilot.press("q")
        assert app.return_value == 1  # the batch's run was cancelled; Ansible's count not
