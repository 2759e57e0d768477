"""Names from config or a host reach no terminal raw: the reporters and `status`'s
table, rendered from fixtures (no I/O)."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from typing import Any

import pytest

from jobtui.events import BatchFinished, HostChanged, Notice, RunChanged, RunView
from jobtui.lifecycle import clock_skews, render_status
from jobtui.model import RunKey, RunState
from jobtui.report import HumanReporter, JsonReporter
from jobtui.text import json_line, one_line

EVIL = "h\n[   0.1s] FORGED\x1b]0;t\x07\x1b[2J\x9b1m\u202e\t"
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


BASE = RunView(
    key=RunKey("j", "h", 0),
    job=EVIL,
    host=EVIL,
    item=EVIL,
    jid="abcdefgh",
    state=RunState.FAILED,
    attempt=1,
    rc=3,
    reason=EVIL,
    batch=EVIL,
    message=EVIL,
    stderr_tail="oops\x1b[2J\n",
)


def view(**kw: Any) -> RunView:
    return dataclasses.replace(BASE, **kw)


def assert_one_line_each(text: str, lines: int) -> None:
    assert not RAW.search(text), repr(text)
    assert len(text.splitlines()) == lines, text


def test_one_line_escapes_line_breaks_tabs_controls_and_bidi() -> None:
    assert one_line("a\nb\tc\x1b\x9b\u202ed\u2028") == "a\\x0ab\\x09c\\x1b\\x9b\\u202ed\\u2028"
    assert one_line("plain name-1.example.com") == "plain name-1.example.com"


@pytest.mark.parametrize("value", [EVIL, "\x7f", "\u2066x\u2069", "ok"])
def test_json_line_is_the_same_value_with_nothing_raw(value: str) -> None:
    line = json_line({"k": value, value: [value]})
    assert not RAW.search(line) and "\n" not in line
    assert json.loads(line) == {"k": value, value: [value]}


def test_human_reporter_prints_every_name_inert_and_on_its_line() -> None:
    out = io.StringIO()
    report = HumanReporter(out)
    report(HostChanged(EVIL, False, EVIL))
    report(HostChanged(EVIL, True))
    report(Notice(EVIL))
    report(RunChanged(view(), RunState.RUNNING))
    report(BatchFinished(EVIL, [view()], {"failed": 1}))
    # 5 events, the summary's run and its last stderr line, its problem (3 lines).
    assert_one_line_each(out.getvalue(), 10)
    assert all(line.startswith(("[", "  ")) for line in out.getvalue().splitlines())


def test_json_reporter_lines_are_json_with_nothing_raw() -> None:
    out = io.StringIO()
    report = JsonReporter(out)
    report(RunChanged(view(), RunState.RUNNING))
    report(BatchFinished(EVIL, [view()], {"failed": 1}))
    assert_one_line_each(out.getvalue(), 2)
    assert json.loads(out.getvalue().splitlines()[0])["host"] == EVIL


def test_status_table_prints_every_name_inert_and_one_line_per_run() -> None:
    text = render_status([view(), view(jid="bcdefghi")])
    assert_one_line_each(text, 3)
    assert "FORGED" in text.splitlines()[1]


def test_clock_skews_name_hosts_off_by_more_than_five_minutes() -> None:
    runs = [view(host="near", now=1000.0), view(host="far", now=1000.0 + 3650 * 86400)]
    assert clock_skews(runs, 1010.0) == {"far": 3650 * 86400 - 10}
