"""Ansible's own async jobs in the consoles: marked as Ansible's in the run table, the
detail, the JSON, `jobtui status`'s table and the filter; the operator console's
actions on them go to their own source (cancel, cleanup; retry refused), and watch
stays read-only."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot

from jobtui.events import Event, HostChanged, Notice, RunChanged, RunView
from jobtui.lifecycle import render_status
from jobtui.model import Host, Outcome, RemoteStatus, RunKey, RunState
from jobtui.remote.parse import Hello, HostStatus
from jobtui.transport.base import Session, Transport, TransportError
from jobtui.ui.ansible_jobs import RETRY_REFUSED, AnsibleJobs
from jobtui.ui.app import ConsoleApp
from jobtui.ui.board import ANSIBLE_JOBS, Board
from jobtui.ui.order import parse_filter
from jobtui.ui.render import elapsed_pieces, job_pieces, job_value
from jobtui.ui.sample import (
    RecordingSink,
    sample_ansible_events,
    sample_app,
    sample_events,
    sample_runs,
    settle,
)
from jobtui.ui.screens.confirm import ConfirmScreen
from jobtui.ui.screens.detail import DetailScreen, fields, title_text
from tests.helpers import wait_until
from tests.uitools import line_of, put_cursor, record_toasts, sync

DUMP = RunKey.discovered("j480213977351.31337", "db01")
"""The sample's running Ansible job (pg_dumpall on db01)."""
UPGRADE = RunKey.discovered("j129944021887.4242", "web01")
"""The sample's finished one (apt-get upgrade on web01, as root)."""


def ansible_view(**changes: Any) -> RunView:
    view = RunView(
        key=RunKey.discovered("j123456789012.4242", "db01"),
        job="shell",
        host="db01",
        item="",
        jid="j123456789012.4242",
        state=RunState.RUNNING,
        attempt=1,
        command="/bin/sh -c 'pg_dump app > /backup/app.sql'",
        ansible=True,
    )
    return dataclasses.replace(view, **changes)


def plain(renderable: object) -> str:
    console = Console(width=120, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


# -- marking, pure ------------------------------------------------------------------


def test_the_job_cell_of_an_ansible_job_says_ansible_and_what_it_runs() -> None:
    view = ansible_view()
    assert job_value(view) == "ansible: /bin/sh -c 'pg_dump app > /backup/app.sql'"
    assert "".join(p for p, _ in job_pieces(view, 24)) == "ansible: /bin/sh -c 'pg…"
    assert "".join(p for p, _ in job_pieces(view, 14)) == "ansible shell"
    assert job_value(ansible_view(command="")) == "ansible: shell"
    unknown = ansible_view(command="", job="ansible")  # a cancelled one's result says neither
    assert job_value(unknown) == "ansible"
    assert "".join(p for p, _ in job_pieces(unknown, 24)) == "ansible"
    assert render_status([unknown]).splitlines()[1].split()[:2] == ["db01", "ansible"]


def test_the_job_cell_of_a_jobtui_run_is_its_name_alone() -> None:
    view = sample_runs()[0]
    assert job_value(view) == "backup"
    assert job_pieces(view, 24) == [("backup", "")]


def test_the_json_summary_says_which_runs_are_ansibles() -> None:
    assert ansible_view().summary()["ansible"] is True
    assert sample_runs()[0].summary()["ansible"] is False


def test_status_table_shows_ansible_jobs_by_command_and_become_users() -> None:
    jobtui = dataclasses.replace(sample_runs()[0], user="root")
    text = render_status([jobtui, ansible_view(command="sleep 90")])
    _, ours, theirs = text.splitlines()
    assert ours.startswith("db01 as root  backup")
    assert theirs.split()[:4] == ["db01", "ansible:", "sleep", "90"]
    assert "j123456789012.4242" in theirs


def test_an_ansible_job_whose_limit_is_unknown_shows_no_limit() -> None:
    done = ansible_view(state=RunState.SUCCEEDED, started=100.0, finished=190.0, timeout=0)
    assert "".join(p for p, _ in elapsed_pieces(done, 200.0)) == "1m30s"
    assert "1m30s " in render_status([done]) and "∞" not in render_status([done])
    limited = dataclasses.replace(done, timeout=3600)
    assert "".join(p for p, _ in elapsed_pieces(limited, 200.0)) == "1m30s/1h"


def test_status_table_cuts_a_long_ansible_command() -> None:
    text = render_status([ansible_view(command="x" * 200)])
    assert "ansible: " + "x" * 31 + "…" in text
    assert "x" * 33 not in text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("kind:ansible", {"ansible"}),
        ("kind:jobtui", {"jobtui"}),
        ("kind:!ansible", {"jobtui"}),
        ("ansible", {"ansible"}),
        ("pg_dump", {"ansible"}),
        ("db01", {"ansible", "jobtui"}),
    ],
)
def test_the_filter_finds_ansible_jobs_by_kind_or_as_a_word(text: str, shown: set[str]) -> None:
    views = {"ansible": ansible_view(), "jobtui": sample_runs()[0]}
    run_filter = parse_filter(text)
    assert {name for name, v in views.items() if run_filter.matches(v)} == shown


def test_ansible_jobs_are_no_part_of_the_batch_on_the_board() -> None:
    board = Board("b")
    finished = dataclasses.replace(sample_runs()[0])  # succeeded
    assert finished.state is RunState.SUCCEEDED
    board.apply(
        [
            RunChanged(finished, finished.state),
            RunChanged(ansible_view(), RunState.RUNNING),
            RunChanged(ansible_view(key=UPGRADE, state=RunState.FAILED, rc=2), RunState.FAILED),
        ]
    )
    assert not board.active  # a running Ansible job does not keep the console busy
    assert board.exit_code() == 0  # nor does a failed one fail the batch
    assert board.totals[RunState.RUNNING] == 0
    assert board.jobs[ANSIBLE_JOBS] == {RunState.RUNNING: 1, RunState.FAILED: 1}
    assert "shell" not in board.jobs
    assert board.hosts["db01"].counts[RunState.RUNNING] == 1


def test_the_detail_of_an_ansible_job_names_it_and_what_its_state_means() -> None:
    view = ansible_view()
    assert "db01 · Ansible async job (shell)" in title_text(view).plain
    text = plain(fields(view, 0.0))
    assert "Ansible jid j123456789012.4242" in text
    assert "Ansible async job (its file in ansible_async_dir)" in text
    assert "cancelled by jobtui" in text and "async_status" in text
    assert "attempt" not in text and "progress" not in text
    timed_out = plain(fields(ansible_view(state=RunState.TIMED_OUT), 0.0))
    assert "Timeout exceeded" in timed_out


# -- the consoles ------------------------------------------------------------------


def ansible_console(
    sink: RecordingSink | None = None, theirs: RecordingSink | None = None
) -> tuple[ConsoleApp, RecordingSink, RecordingSink]:
    sink, theirs = sink or RecordingSink(), theirs or RecordingSink()
    return sample_app(sample_ansible_events(), sink=sink, ansible=theirs), sink, theirs


@sync
async def test_the_run_table_marks_ansible_jobs_and_keeps_80x24_usable() -> None:
    app = sample_app(sample_ansible_events(), sink=RecordingSink(), ansible=RecordingSink())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        table = app.main.table
        assert table.row_count == len(sample_runs()) + 4
        put_cursor(app, DUMP)
        await pilot.pause()
        line = line_of(table, DUMP)
        assert "db01" in line and "ansible" in line and "running" in line
        put_cursor(app, RunKey("backup", "db01", 0))
        await pilot.pause()
        assert "backup" in line_of(table, RunKey("backup", "db01", 0))


@sync
async def test_the_table_of_a_batch_without_ansible_jobs_has_no_ansible_column() -> None:
    app = sample_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert ANSIBLE_JOBS not in app.board.jobs
        assert "Ansible" not in str(app.main.status.render())


@sync
async def test_the_detail_screen_of_an_ansible_job() -> None:
    app, _, _ = ansible_console()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        put_cursor(app, UPGRADE)
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        title = str(screen.parts["detail-title"].render())
        assert "web01 as root · Ansible async job (command)" in title
        assert "apt-get -y upgrade" in str(screen.parts["detail-command"].render())
        assert screen.boxes["stdout"].border_title == "stdout (from its result, once finished)"


@sync
async def test_c_on_an_ansible_job_asks_then_goes_to_its_source_not_the_engine() -> None:
    app, sink, theirs = ansible_console()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        put_cursor(app, DUMP)
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        assert "cancelled by jobtui" in str(app.screen.body)
        await pilot.press("y")
        await pilot.pause()
    assert theirs.requests == [("cancel", [DUMP])]
    assert sink.requests == []


@sync
async def test_marked_runs_of_both_kinds_each_go_to_their_own_sink() -> None:
    app, sink, theirs = ansible_console()
    ours = RunKey("reindex", "web02", 0)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        for key in (DUMP, ours):
            put_cursor(app, key)
            await pilot.press("space")
        await pilot.press("c", "y")
        await pilot.pause()
    assert theirs.requests == [("cancel", [DUMP])]
    assert sink.requests == [("cancel", [ours])]


@sync
async def test_x_on_a_running_ansible_job_is_refused_and_on_a_finished_one_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, sink, theirs = ansible_console()
    toasts = record_toasts(app, monkeypatch)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        put_cursor(app, DUMP)
        await pilot.press("x")
        assert any("has not ended" in t for t in toasts)
        assert not isinstance(app.screen, ConfirmScreen)
        put_cursor(app, UPGRADE)
        await pilot.press("x", "y")
        await pilot.pause()
    assert theirs.requests == [("cleanup", [UPGRADE])]
    assert sink.requests == []


@sync
async def test_r_on_an_ansible_job_says_it_cannot_be_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, sink, theirs = ansible_console()
    toasts = record_toasts(app, monkeypatch)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        put_cursor(app, UPGRADE)
        await pilot.press("r")
        await pilot.pause()
    assert any("cannot be retried" in t and "playbook" in t for t in toasts)
    assert sink.requests == [] and theirs.requests == []


@sync
async def test_watch_refuses_c_x_r_on_an_ansible_job_as_read_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = sample_app(sample_ansible_events(), read_only=True)
    toasts = record_toasts(app, monkeypatch)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        put_cursor(app, DUMP)
        await pilot.press("c", "x", "r")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
    assert len(toasts) == 1 and toasts[0].startswith("read-only console")
    assert not hasattr(app, "_ansible") and not hasattr(app, "_actions")


@sync
async def test_the_filter_box_takes_kind_ansible() -> None:
    app, _, _ = ansible_console()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        app.main.filter_box.value = "kind:ansible"
        await pilot.pause()
        keys = app.main.table.shown_keys()
    assert len(keys) == 4 and DUMP in keys and UPGRADE in keys


def test_the_sample_ansible_events_are_the_sample_batch_and_four_ansible_jobs() -> None:
    events = sample_ansible_events()
    assert events[: len(sample_events())] == sample_events()
    views = [e.run for e in events if isinstance(e, RunChanged)]
    assert len(views) == 4 and all(v.ansible for v in views)


SnapCompare = Callable[..., bool]


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_snapshot_of_the_operator_console_with_ansible_jobs(
    snap_compare: SnapCompare, size: tuple[int, int]
) -> None:
    pytest.importorskip("pytest_textual_snapshot")

    async def settled(pilot: Pilot[int]) -> None:
        await settle(pilot.app, pilot)  # type: ignore[arg-type]

    app = sample_app(sample_ansible_events(), ansible=RecordingSink())
    assert snap_compare(app, terminal_size=size, run_before=settled)


# -- the operator console's Ansible source, on a host that answers from fixed data ---


class FakeHost(Transport):
    """A host whose status round trip reports `runs` (or fails), and which records
    each cancel and cleanup it is sent."""

    def __init__(self, runs: list[RemoteStatus], down: str = "") -> None:
        super().__init__(Host("db01", "db01"))
        self.runs = runs
        self.down = down
        self.reads = 0
        self.sent: list[tuple[str, list[str]]] = []
        self.on_read: Callable[[int], None] = lambda n: None

    def _open(self) -> Session:
        raise TransportError("a fake host has no shell")

    def status(
        self, jids: list[str] | None = None, full: frozenset[str] | set[str] = frozenset()
    ) -> HostStatus:
        assert jids is None  # every job on the host, as status and watch read it
        self.reads += 1
        self.on_read(self.reads)
        if self.down:
            raise TransportError(self.down)
        return HostStatus(Hello(1000.0, "boot"), {r.jid: r for r in self.runs}, [])

    def cancel(self, jids: list[str], grace: int = 0) -> dict[str, Outcome]:
        self.sent.append(("cancel", jids))
        for r in self.runs:
            if r.jid in jids:
                r.state = RunState.CANCELLED
        return dict.fromkeys(jids, Outcome.OK)

    def cleanup(self, jids: list[str]) -> dict[str, Outcome]:
        self.sent.append(("cleanup", jids))
        self.runs = [r for r in self.runs if r.jid not in jids]
        return dict.fromkeys(jids, Outcome.OK)


JID, DONE = "j123456789012.4242", "j123456789012.5151"


def fake_host() -> FakeHost:
    return FakeHost(
        [
            RemoteStatus(JID, RunState.RUNNING, ansible=True, meta={"job": "shell"}),
            RemoteStatus(DONE, RunState.SUCCEEDED, rc=0, ansible=True),
            RemoteStatus("abcdefgh12345678", RunState.RUNNING, meta={"job": "ours"}),
        ]
    )


def follow(
    host: FakeHost, reads: int, then: Callable[[AnsibleJobs], None] = lambda s: None
) -> list[Event]:
    """The events of an AnsibleJobs over `host` until its `reads`-th read; `then` is
    called after the first one (a request of the operator's)."""
    source = AnsibleJobs([host], interval=0.01, backoff=0.01)
    events: list[Event] = []

    def on_read(n: int) -> None:
        if n == 2:
            then(source)
        if n >= reads:
            source.stop()

    host.on_read = on_read
    source.run(events.append)
    return events


def told(events: list[Event]) -> dict[str, RunView]:
    return {e.run.jid or "": e.run for e in events if isinstance(e, RunChanged)}


def test_the_ansible_source_tells_only_ansibles_jobs_under_discovered_keys() -> None:
    views = told(follow(fake_host(), 1))
    assert set(views) == {JID, DONE}
    assert views[JID].key == RunKey.discovered(JID, "db01") and views[JID].ansible


def test_the_ansible_source_cancels_through_the_hosts_transport() -> None:
    host = fake_host()
    key = RunKey.discovered(JID, "db01")
    events = follow(host, 3, lambda s: s.request("cancel", [key]))
    assert host.sent == [("cancel", [JID])]
    assert told(events)[JID].state is RunState.CANCELLED
    assert any(isinstance(e, Notice) and "cancelled by jobtui" in e.text for e in events)


def test_the_ansible_source_cleans_up_a_finished_job_and_tells_it_cleaned() -> None:
    host = fake_host()
    events = follow(host, 3, lambda s: s.request("cleanup", [RunKey.discovered(DONE, "db01")]))
    assert host.sent == [("cleanup", [DONE])]
    assert told(events)[DONE].cleaned


def test_the_ansible_source_refuses_retry_and_a_cleanup_of_a_running_job() -> None:
    host = fake_host()
    key = RunKey.discovered(JID, "db01")

    def ask(source: AnsibleJobs) -> None:
        source.request("retry", [key])
        source.request("cleanup", [key])

    events = follow(host, 3, ask)
    assert host.sent == []
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert notices == [
        RETRY_REFUSED,
        f"db01 Ansible job {JID} is running: cleanup refused, cancel it first",
    ]


def test_the_ansible_source_backs_off_a_host_that_does_not_answer() -> None:
    host = FakeHost([], down="connection refused")
    source = AnsibleJobs([host], interval=0.01, backoff=0.5)
    thread = threading.Thread(target=source.run, args=(lambda e: None,))
    thread.start()
    time.sleep(1.2)
    source.stop()
    thread.join()
    assert host.reads == 2  # at 0, after 0.5 s, next after 1 s more; not every 0.01 s


def test_a_gated_ansible_source_reads_a_host_only_while_the_engine_reaches_it() -> None:
    host = fake_host()
    source = AnsibleJobs([host], interval=0.01, gated=True)
    thread = threading.Thread(target=source.run, args=(lambda e: None,))
    thread.start()
    try:
        time.sleep(0.3)
        assert host.reads == 0  # the engine has not reached it yet
        source.observe(HostChanged("db01", True))
        assert wait_until(lambda: host.reads >= 2, 5)
        source.observe(HostChanged("db01", False))
        time.sleep(0.1)  # a read in flight may end
        reads = host.reads
        time.sleep(0.3)
        assert host.reads == reads
    finally:
        source.stop()
        thread.join()
