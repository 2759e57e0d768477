"""Engine behaviours that need a fault injected at an exact point: a transport that
delivers a launch and then loses the answer (a connection that drops mid-launch)."""

from __future__ import annotations

from pathlib import Path

from jobtui.engine import Engine
from jobtui.model import Host, JobSpec, RunSpec, RunState
from jobtui.remote.protocol import LaunchRequest, LaunchResult
from jobtui.transport.base import TransportError
from jobtui.transport.local import LocalTransport


class LosesLaunchAnswers(LocalTransport):
    """Real local transport; the first 3 launches reach the host, their answers are lost
    (as many as the engine once allowed before giving a run up as unreachable)."""

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.launches = 0

    def launch(self, requests: list[LaunchRequest]) -> dict[str, LaunchResult]:
        self.launches += 1
        result = super().launch(requests)
        if self.launches <= 3:
            err = TransportError("connection lost: reset by peer")
            err.maybe_delivered = True
            raise err
        return result


def test_a_launch_whose_answer_was_lost_is_resent_and_runs_exactly_once(tmp_path: Path) -> None:
    count = tmp_path / "count"
    host = Host(name="h", address="h", connection="local", jobtui_dir=str(tmp_path / "jobs"))
    script = f"echo x >> {count}"
    job = JobSpec(name="once", hosts="all", shell=script, poll=0.2, timeout=30)
    transport = LosesLaunchAnswers(host)
    engine = Engine([RunSpec(job, host, None, 0, script)], {"h": transport}, batch="b")
    (view,) = engine.run().runs
    transport.close()
    assert view.state is RunState.SUCCEEDED
    assert transport.launches == 4  # resent with the same jid: the host said `exists`
    assert count.read_text() == "x\n"
