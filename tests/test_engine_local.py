"""Engine behaviours on the local transport: a fault injected at an exact point (a
transport that delivers a launch and then loses the answer, a connection that drops
mid-launch), and timing between polls and retries."""

from __future__ import annotations

import threading
from pathlib import Path

from jobtui.engine import Engine
from jobtui.events import BatchFinished, Event, Notice, RunChanged
from jobtui.model import Host, JobSpec, RunSpec, RunState
from jobtui.remote.parse import LaunchResult
from jobtui.remote.protocol import LaunchRequest
from jobtui.transport.base import TransportError
from jobtui.transport.local import LocalTransport
from tests.helpers import wait_until


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
    engine = Engine([RunSpec(job, host, None, 0, script)], {"h": transport}, batch="b", backoff=0.1)
    (view,) = engine.run().runs
    transport.close()
    assert view.state is RunState.SUCCEEDED
    assert transport.launches == 4  # resent with the same jid: the host said `exists`
    assert count.read_text() == "x\n"


def test_a_retry_delay_longer_than_the_poll_interval_still_retries(tmp_path: Path) -> None:
    """The defaults are poll 5 s and retry_delay 10 s. Each poll of the failed attempt
    once ended it again and pushed its retry 10 s further: it was never retried."""
    count = tmp_path / "count"
    host = Host(name="h", address="h", connection="local", jobtui_dir=str(tmp_path / "jobs"))
    script = f"echo x >> {count}; exit 1"
    job = JobSpec(
        name="flaky", hosts="all", shell=script, poll=0.2, timeout=30, retries=1, retry_delay=1.0
    )
    transport = LocalTransport(host)
    engine = Engine([RunSpec(job, host, None, 0, script)], {"h": transport}, batch="b")
    done = threading.Event()
    result: list[BatchFinished] = []

    def follow() -> None:
        result.append(engine.run())
        done.set()

    thread = threading.Thread(target=follow)
    thread.start()
    finished = done.wait(30)
    engine.stop()
    thread.join(10)
    transport.close()
    assert finished, f"no retry within 30 s (attempt {engine.runs[0].view.attempt})"
    (view,) = result[0].runs
    assert (view.state, view.attempt) == (RunState.FAILED, 2)
    assert count.read_text() == "x\n" * 2


def test_a_retry_is_announced_and_cancel_calls_it_off(tmp_path: Path) -> None:
    """A failed attempt waiting for its retry says so; cancelling it then keeps it
    from ever starting (it was `has already ended`, and the retry came anyway)."""
    count = tmp_path / "count"
    host = Host(name="h", address="h", connection="local", jobtui_dir=str(tmp_path / "jobs"))
    script = f"echo x >> {count}; exit 1"
    job = JobSpec(
        name="flaky", hosts="all", shell=script, poll=0.2, timeout=30, retries=2, retry_delay=30
    )
    spec = RunSpec(job, host, None, 0, script)
    events: list[Event] = []
    failed = threading.Event()

    def on_event(e: Event) -> None:
        events.append(e)
        if isinstance(e, RunChanged) and e.run.state is RunState.FAILED:
            failed.set()

    transport = LocalTransport(host)
    engine = Engine([spec], {"h": transport}, batch="b", on_event=on_event)
    result: list[BatchFinished] = []
    thread = threading.Thread(target=lambda: result.append(engine.run()))
    thread.start()
    try:
        assert failed.wait(20)
        assert wait_until(
            lambda: any(
                isinstance(e, RunChanged) and e.run.reason == "retry 2 of 3 in 30s" for e in events
            ),
            5,
        )
        engine.request("cancel", [spec.key])
        thread.join(10)
        assert not thread.is_alive(), "the batch still waited for the cancelled retry"
    finally:
        engine.stop()
        thread.join(10)
        transport.close()
    (view,) = result[0].runs
    assert (view.state, view.attempt, view.reason) == (
        RunState.FAILED,
        1,
        "its retry was cancelled",
    )
    assert count.read_text() == "x\n"
    assert any(isinstance(e, Notice) and "retry cancelled" in e.text for e in events)
