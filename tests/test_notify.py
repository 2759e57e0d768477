"""The notify command (`notify.Notifier`): real `/bin/sh` processes, events made here."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import replace
from pathlib import Path

from jobtui.events import BatchFinished, RunChanged, RunView
from jobtui.model import RunKey, RunState
from jobtui.notify import Notifier
from jobtui.report import run_object, summary_object
from tests.helpers import processes_matching, wait_until


def view(host: str, state: RunState, idx: int = 0, attempt: int = 1) -> RunView:
    return RunView(RunKey("j", host, idx), "j", host, str(idx), f"jid{host}{idx}xx", state, attempt)


def notifier(
    command: str, told: list[str], ended: set[RunKey] | None = None, timeout: float = 5.0
) -> Notifier:
    """A notifier whose runs have all ended unless `ended` names those that have."""
    return Notifier(
        command,
        "b1",
        ended=lambda key: ended is None or key in ended,
        report=told.append,
        timeout=timeout,
        environ={"PATH": "/usr/bin:/bin", "ANSIBLE_BECOME_PASS": "hunter2", "KEEP": "kept"},
    )


def finished(*views: RunView, interrupted: bool = False) -> BatchFinished:
    counts: dict[str, int] = {}
    for v in views:
        counts[v.state.value] = counts.get(v.state.value, 0) + 1
    return BatchFinished("b1", list(views), counts, interrupted)


def test_every_run_that_ended_badly_then_the_summary_reach_the_command_in_order(
    tmp_path: Path,
) -> None:
    out, env = tmp_path / "events", tmp_path / "env"
    told: list[str] = []
    failed, lost = view("h1", RunState.FAILED), view("h2", RunState.LOST, 1)
    ok, retrying = view("h3", RunState.SUCCEEDED, 2), view("h4", RunState.FAILED, 3)
    n = notifier(
        f'cat >> {out}; echo "$JOBTUI_EVENT $JOBTUI_BATCH" >> {env}',
        told,
        ended={failed.key, lost.key, ok.key},  # h4 waits for its retry: not its end
    )
    for v in (failed, ok, retrying, lost):
        n(RunChanged(v, RunState.RUNNING))
    summary = finished(failed, lost, ok, retrying)
    n(summary)
    n.close()
    assert told == []
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert got == [run_object(failed), run_object(lost), summary_object(summary)]
    assert env.read_text().splitlines() == ["run b1", "run b1", "summary b1"]


def test_skipped_runs_are_told_in_the_summary_only(tmp_path: Path) -> None:
    out = tmp_path / "events"
    told: list[str] = []
    n = notifier(f"cat >> {out}", told)
    failed, skipped = view("h1", RunState.FAILED), view("h2", RunState.SKIPPED)
    for v in (failed, skipped):
        n(RunChanged(v, RunState.PENDING))
    summary = finished(failed, skipped)
    n(summary)
    n.close()
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert got == [run_object(failed), summary_object(summary)]
    assert got[-1]["counts"] == {"failed": 1, "skipped": 1}


def test_an_end_is_told_once_and_a_retry_s_end_again(tmp_path: Path) -> None:
    out = tmp_path / "events"
    told: list[str] = []
    n = notifier(f"cat >> {out}", told)
    v = view("h1", RunState.FAILED)
    n(RunChanged(v, RunState.RUNNING))
    n(RunChanged(replace(v, cleaned=True), RunState.FAILED))  # cleaned up: no new end
    again = replace(v, attempt=2, jid="jid2xxxxx")
    n(RunChanged(again, RunState.RUNNING))  # the operator's retry failed too
    n.close()
    assert [json.loads(line)["attempt"] for line in out.read_text().splitlines()] == [1, 2]


def test_a_failing_command_is_a_warning_with_its_last_stderr_line_and_no_output(
    tmp_path: Path,
) -> None:
    told: list[str] = []
    n = notifier("echo to-stdout; echo first >&2; echo 'last \x1b[31m' >&2; exit 3", told)
    n(finished(view("h1", RunState.SUCCEEDED)))
    n.close()
    assert told == [r"notify: the notify command exited 3: last \x1b[31m for the summary"]


def test_the_command_gets_the_console_s_environment_without_the_become_password(
    tmp_path: Path,
) -> None:
    env = tmp_path / "env"
    n = notifier(f"env > {env}", [])
    n(finished())
    n.close()
    lines = set(env.read_text().splitlines())
    assert {"KEEP=kept", "JOBTUI_EVENT=summary", "JOBTUI_BATCH=b1"} <= lines
    assert "hunter2" not in env.read_text()


def test_a_hanging_command_is_killed_with_its_process_group_and_said(tmp_path: Path) -> None:
    marker = f"600.{secrets.randbelow(10**6)}"
    told: list[str] = []
    started = tmp_path / "started"
    n = notifier(f"sleep {marker} & echo $! > {started}; sleep {marker}", told, timeout=0.5)
    n(RunChanged(view("h1", RunState.TIMED_OUT), RunState.RUNNING))
    assert wait_until(lambda: told != [], 20)
    assert started.read_text().strip().isdigit()  # the one in the background was started
    assert told == ["notify: the notify command was killed after 0.5s for run h1 j[0]"]
    assert processes_matching(f"sleep {marker}") == []  # the background one too
    n.close()


def test_at_the_end_a_backlog_is_dropped_but_the_summary_is_sent(tmp_path: Path) -> None:
    marker = f"600.{secrets.randbelow(10**6)}"
    told: list[str] = []
    n = notifier(f"sleep {marker}", told, timeout=0.5)
    for i in range(20):
        n(RunChanged(view("h1", RunState.FAILED, i), RunState.RUNNING))
    n(finished())
    t0 = time.monotonic()
    n.close()
    # Generous: 20 runs and a summary that each hang would take 10.5 s.
    assert time.monotonic() - t0 < 5
    assert told[-2] == "notify: the notify command was killed after 0.5s for the summary"
    assert told[-1].startswith("notify: ") and " run event(s) not sent" in told[-1]
    assert processes_matching(f"sleep {marker}") == []


def test_the_console_s_interrupted_end_is_sent_only_if_the_batch_never_ended(
    tmp_path: Path,
) -> None:
    out = tmp_path / "events"
    n = notifier(f"cat >> {out}", [])
    n(finished(view("h1", RunState.SUCCEEDED)))
    n(finished(view("h1", RunState.SUCCEEDED), interrupted=True))  # the console is left
    n.close()
    assert [json.loads(line)["interrupted"] for line in out.read_text().splitlines()] == [False]
