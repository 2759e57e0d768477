"""Who a run runs as (become) wherever a run is shown: the run table's host cell, the
detail's title, the filter, the JSON and the human reporter's lines. Pure renderers
first, then the console on the sample batch (whose rotate-logs runs run as root)."""

from __future__ import annotations

import io
import json
from dataclasses import replace

from textual.widgets import Static

from jobtui.events import BatchFinished, RunChanged, RunView
from jobtui.model import RunKey, RunState
from jobtui.report import HumanReporter, JsonReporter
from jobtui.ui.order import parse_filter
from jobtui.ui.render import COLUMN, host_pieces
from jobtui.ui.sample import sample_app, settle
from jobtui.ui.screens.detail import DetailScreen, title_text
from jobtui.ui.widths import column_widths, widen
from tests.uitools import line_of, put_cursor, sync, table

FAILED_ROTATE = RunKey("rotate-logs", "web02", 0)
"""A sample run as root."""
LOGIN_USER_RUN = RunKey("warm-cache", "web01", 0)
"""A sample run as the login user."""


def view(user: str = "", state: RunState = RunState.RUNNING, **fields: object) -> RunView:
    base = RunView(
        key=RunKey("backup", "db01", 0),
        job="backup",
        host="db01",
        item="users_db",
        jid="abcdefgh12",
        state=state,
        attempt=1,
        user=user,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def host_cell(v: RunView, width: int) -> str:
    return "".join(part for part, _ in host_pieces(v, width))


# -- the run table's host cell ----------------------------------------------------


def test_the_host_cell_says_who_a_become_run_runs_as_and_nothing_for_the_login_user() -> None:
    assert host_cell(view("postgres"), 24) == "  db01 as postgres"
    assert (" as postgres", "grey62") in host_pieces(view("postgres"), 24)
    assert host_cell(view(), 24) == "  db01"


def test_short_of_room_the_user_is_cut_never_the_host() -> None:
    cells = {w: host_cell(view("postgres"), w) for w in (6, 8, 10, 12, 15)}
    assert cells == {
        6: "  db01",
        8: "  db01",  # no room for ` as…`: nothing, not ` a`
        10: "  db01 as…",
        12: "  db01 as p…",
        15: "  db01 as post…",
    }


def test_the_host_column_widens_for_the_user_where_there_is_room() -> None:
    longest: dict[str, int] = {}
    widen(longest, [view("root", job="rotate-logs", item="analytics_db")])
    assert (longest["host"], longest["host.core"]) == (len("db01 as root"), len("db01"))
    assert column_widths(159, longest)["host"] == len("  db01 as root")


def test_a_user_that_cannot_show_costs_the_other_columns_nothing() -> None:
    # At 80 columns with long jobs and items, ` as root` would get a cell or two:
    # the host column is then as wide as if nobody became anyone.
    base = {"host": 5, "host.core": 5, "job": 11, "item": 12}
    become = base | {"host": len("web01 as root")}
    assert column_widths(79, become) == column_widths(79, base)
    assert column_widths(95, become)["host"] > column_widths(95, base)["host"]


def test_the_host_cell_keeps_a_user_name_inert() -> None:
    assert host_cell(view("ro\x1bot"), 24) == "  db01 as ro\\x1bot"


# -- the console --------------------------------------------------------------------


@sync
async def test_the_run_table_shows_as_root_on_the_rows_of_root_runs_only() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        t = table(app)
        assert "web02 as root  rotate-logs" in line_of(t, FAILED_ROTATE)
        assert " as " not in line_of(t, LOGIN_USER_RUN)
        assert t.widths["host"] == COLUMN["host"].reserve + len("web01 as root")


@sync
async def test_the_detail_title_says_as_root() -> None:
    app = sample_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        put_cursor(app, FAILED_ROTATE)
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        title = str(app.screen.query_one("#detail-title", Static).content)
        assert "web02 as root · rotate-logs" in title


def test_the_detail_title_of_a_login_user_run_names_no_user() -> None:
    assert title_text(view()).plain == "▶ running  db01 · backup [users_db]"
    assert title_text(view("postgres")).plain == "▶ running  db01 as postgres · backup [users_db]"


# -- the filter -----------------------------------------------------------------------


def test_the_user_filter_finds_the_runs_as_that_user() -> None:
    root, postgres, login = view("root"), view("postgres"), view()
    runs = (root, postgres, login)
    assert [v for v in runs if parse_filter("user:root").matches(v)] == [root]
    assert [v for v in runs if parse_filter("user:!root").matches(v)] == [postgres, login]
    assert [v for v in runs if parse_filter("postgres").matches(v)] == [postgres]


# -- JSON and the human reporter -------------------------------------------------------


def test_the_json_summary_names_the_user_or_null() -> None:
    assert view("root").summary()["user"] == "root"
    assert view().summary()["user"] is None


def test_json_run_and_summary_lines_carry_the_user() -> None:
    out = io.StringIO()
    report = JsonReporter(out)
    failed = view("postgres", RunState.FAILED, rc=1)
    report(RunChanged(failed, RunState.RUNNING))
    report(BatchFinished("b", [failed, view()], {"failed": 1, "running": 1}))
    run, summary = map(json.loads, out.getvalue().splitlines())
    assert run["user"] == "postgres"
    assert [r["user"] for r in summary["runs"]] == ["postgres", None]


def human_lines(*changes: tuple[RunView, RunState]) -> list[str]:
    out = io.StringIO()
    report = HumanReporter(out)
    for v, previous in changes:
        report(RunChanged(v, previous))
    return [line.split("] ", 1)[1] for line in out.getvalue().splitlines()]


def test_human_launch_and_failure_lines_say_as_root_and_no_other_line_does() -> None:
    reason = "sudo: a password is required"
    assert human_lines(
        (view("root"), RunState.PENDING),
        (view("root", RunState.FAILED, reason=reason), RunState.PENDING),
        (view("root", RunState.TIMED_OUT, rc=143), RunState.RUNNING),
        # Noise: a success, a host that could not be reached, a login-user run.
        (view("root", RunState.SUCCEEDED, rc=0), RunState.RUNNING),
        (view("root", RunState.UNREACHABLE), RunState.PENDING),
        (view("", RunState.FAILED, rc=1), RunState.RUNNING),
    ) == [
        "db01 backup[users_db] as root: running",
        f"db01 backup[users_db] as root: failed: {reason}",
        "db01 backup[users_db] as root: timed_out rc=143",
        "db01 backup[users_db]: succeeded",
        "db01 backup[users_db]: unreachable",
        "db01 backup[users_db]: failed rc=1",
    ]
