"""`jobtui watch` over real sshd hosts: it sees every job, and it can only read."""

from __future__ import annotations

import asyncio
import re
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

from jobtui.cli import main
from jobtui.config import load_inventory
from jobtui.events import Event, RunChanged
from jobtui.fleet import DiscoveryPoller, transports_for
from jobtui.transport import Transport
from jobtui.ui.app import make_app
from tests.helpers import wait_until
from tests.test_lifecycle import tree_digest

WRITING_CALLS = re.compile(rb"\bjt_(launch|a?cancel|a?cleanup|install|watch)\b")


def record_scripts(transports: list[Transport]) -> list[bytes]:
    sent: list[bytes] = []
    for t in transports:
        real = t.run

        def spy(
            script: bytes, token: str, timeout: float = 60.0, real: Callable[..., bytes] = real
        ) -> bytes:
            sent.append(script)
            return real(script, token, timeout)

        t.run = spy  # type: ignore[method-assign]
    return sent


def test_watch_sees_every_job_sends_only_reads_and_changes_nothing(
    fleet_inventory: Path, fleet_jobtui_dirs: dict[str, Path], tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(
        textwrap.dedent(
            """
            jobs:
              - name: sleeper
                hosts: fleet
                shell: echo 10 > "$JOBTUI_PROGRESS"; sleep 20
                poll: 0
            """
        )
    )
    state = str(tmp_path / "state")
    assert (
        main(["run", str(jobs), "-i", str(fleet_inventory), "--headless", "--state-dir", state])
        == 0
    )

    def settled() -> bool:  # the jobs wrote all they will write for 20 s
        return all(
            len(list(d.glob("jobs/*/progress"))) == 1 and len(list(d.glob("jobs/*/pid"))) == 1
            for d in fleet_jobtui_dirs.values()
        )

    assert wait_until(settled, 20)
    before = {h: tree_digest(d) for h, d in fleet_jobtui_dirs.items()}

    transports = transports_for(load_inventory(str(fleet_inventory)).hosts.values())
    sent = record_scripts(transports)
    poller = DiscoveryPoller(transports, interval=0.2)
    app = make_app(source=poller, title="jobtui watch", read_only=True)
    seen: list[Event] = []

    async def drive() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(100):
                await pilot.pause(0.1)
                if len(app.board.runs) == 3:
                    break
            # Every action key an operator would try; none may do anything.
            await pilot.press("c", "x", "r", "space", "enter", "y", "escape")
            await pilot.pause(0.5)
            seen.extend(RunChanged(v, v.state) for v in app.board.runs.values())
            await pilot.press("q")

    asyncio.run(drive())
    assert len(seen) == 3
    assert {v.run.host for v in seen if isinstance(v, RunChanged)} == {"host1", "host2", "host3"}
    assert sent and not [s for s in sent if WRITING_CALLS.search(s)]
    assert {h: tree_digest(d) for h, d in fleet_jobtui_dirs.items()} == before
    assert not [t for t in threading.enumerate() if t.name.startswith("jobtui-engine")]
    main(["cancel", "-i", str(fleet_inventory), "--job", "sleeper", "--state-dir", state])
