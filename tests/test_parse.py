"""What a host sends is untrusted: the job runs as the same user and can rewrite its
own files. Every kind of garbage in them makes that one record unreadable (with the
reason), never the answer: pure parsing, no I/O."""

from __future__ import annotations

import json
import math
import time

import pytest

from jobtui.model import RunState
from jobtui.remote import parse

TOK = "@@jtdeadbeef"
NOW = 1_700_000_100


def rec(kind: str, body: str = "") -> str:
    return f"\n{TOK} {kind}\n{body}"


def hello(now: int | str = NOW) -> str:
    return rec("hello", f"{now} boot-1\n")


def run(
    jid: str,
    pid: str = "12 10 1700000000 b",
    rc: str = "0 1700000010 exited",
    meta: str | None = None,
    alive: str = "no",
    progress: str = "",
) -> str:
    text = rec(f"run {jid} {alive}", f"{pid}\n{rc}\n{progress}\n")
    if meta is not None:
        text += rec("file meta", meta + "\n")
    return text


GOOD_META = {
    "batch": "b1",
    "job": "backup",
    "host": "h1",
    "item": "users",
    "index": 2,
    "command": "pg_dump users",
    "timeout": 60,
    "attempt": 1,
    "launched": 1700000000.5,
}


def status_of(*records: str) -> parse.HostStatus:
    return parse.parse_status((hello() + "".join(records)).encode(), TOK)


def meta_with(**fields: object) -> str:
    return json.dumps({**GOOD_META, **fields})


@pytest.mark.parametrize(
    ("meta", "problem"),
    [
        (meta_with(index="abc"), "unreadable metadata: index is not an integer"),
        (meta_with(index=[1]), "unreadable metadata: index is not an integer"),
        (meta_with(index=True), "unreadable metadata: index is not an integer"),
        (meta_with(index=-1), "unreadable metadata: index is out of range"),
        (meta_with(index=2**40), "unreadable metadata: index is out of range"),
        (meta_with(timeout=1.5), "unreadable metadata: timeout is not an integer"),
        (meta_with(attempt=0), "unreadable metadata: attempt is out of range"),
        (meta_with(job=12), "unreadable metadata: job is not a string"),
        (meta_with(item="x" * 100_000), "unreadable metadata: item is too long"),
        (meta_with(command={"a": 1}), "unreadable metadata: command is not a string"),
        (meta_with(launched="soon"), "unreadable metadata: launched is not a number"),
        (meta_with(launched=-5), "unreadable metadata: launched is out of range"),
        (meta_with(launched=int("9" * 400)), "unreadable metadata: launched is out of range"),
        ('{"index": 1e400}', "unreadable metadata: index is not an integer"),
        ('{"launched": 1e400}', "unreadable metadata: launched is not a finite number"),
        ('{"launched": NaN}', "unreadable metadata: launched is not a finite number"),
        ('{"index": ' + "7" * 5000 + "}", "unreadable metadata: not JSON"),
        ("[" * 100_000, "unreadable metadata: not JSON"),
        ("[1, 2]", "unreadable metadata: not a JSON object"),
        ("{not json", "unreadable metadata: not JSON"),
        ('{"job": "' + "x" * 5_000_000 + '"}', "unreadable metadata: too large"),
        (meta_with(job="x" * 5000), "unreadable metadata: job is too long"),
    ],
)
def test_garbage_metadata_makes_that_run_unreadable_with_the_reason(
    meta: str, problem: str
) -> None:
    st = status_of(run("badmeta1", meta=meta), run("goodrun1", meta=json.dumps(GOOD_META)))
    bad, good = st.runs["badmeta1"], st.runs["goodrun1"]
    assert bad.problem == problem
    assert bad.reason == problem
    assert bad.meta == {}
    # What can still be read is: its rc file says it succeeded.
    assert (bad.state, bad.rc) == (RunState.SUCCEEDED, 0)
    assert (good.problem, good.meta["index"], good.state) == ("", 2, RunState.SUCCEEDED)


def test_validated_metadata_keeps_typed_known_keys_only_and_never_a_progress_regex() -> None:
    meta = meta_with(progress_re="(a+)+$", extra={"deep": [1]}, item=None)
    st = status_of(run("goodrun1", meta=meta)).runs["goodrun1"]
    assert st.problem == ""
    expected = {k: v for k, v in GOOD_META.items() if k != "item"}
    assert st.meta == expected
    assert "progress_re" not in st.meta


@pytest.mark.parametrize(
    ("rc", "problem"),
    [
        ("100000000000000000000 1700000010 exited", "unreadable exit status: rc is out of range"),
        ("-2147483649 1700000010 exited", "unreadable exit status: rc is out of range"),
        ("abc 1700000010 exited", "unreadable exit status: rc is not an integer"),
        ("\u00b2 1700000010 exited", "unreadable exit status: rc is not an integer"),
        ("9" * 5000 + " 1700000010 exited", "unreadable exit status: rc is out of range"),
        ("0 " + "9" * 400 + " exited", "unreadable exit status: finished is out of range"),
        ("0 1e9 exited", "unreadable exit status: finished is not an integer"),
        ("0 1700000010 exploded", "unreadable exit status: unknown ending 'exploded'"),
    ],
)
def test_garbage_rc_file_makes_that_run_unreadable_and_lost(rc: str, problem: str) -> None:
    st = status_of(run("badrc001", rc=rc), run("goodrun1"))
    bad = st.runs["badrc001"]
    assert (bad.state, bad.rc, bad.finished, bad.problem) == (RunState.LOST, None, None, problem)
    assert bad.reason == problem
    assert st.runs["goodrun1"].state is RunState.SUCCEEDED


def test_rc_line_without_a_finish_time_is_read() -> None:
    st = status_of(run("goodrun1", rc="3 timed_out")).runs["goodrun1"]
    assert (st.state, st.rc, st.finished, st.problem) == (RunState.TIMED_OUT, 3, None, "")


def test_rc_the_wrapper_writes_is_kept() -> None:
    for rc in ("0", "1", "143", "255", "-1"):
        st = status_of(run("goodrun1", rc=f"{rc} 1700000010 cancelled")).runs["goodrun1"]
        assert (st.rc, st.problem) == (int(rc), "")


@pytest.mark.parametrize(
    ("pid", "problem"),
    [
        ("12 10 " + "9" * 400 + " b", "unreadable pid line: started is out of range"),
        ("\u00b2 10 1700000000 b", "unreadable pid line: pid is not an integer"),
        ("99999999999999999999 10 1700000000 b", "unreadable pid line: pid is out of range"),
        ("12 10 inf b", "unreadable pid line: started is not an integer"),
    ],
)
def test_garbage_pid_line_is_reported_and_the_rc_still_counts(pid: str, problem: str) -> None:
    st = status_of(run("badpid01", pid=pid)).runs["badpid01"]
    assert (st.state, st.rc, st.started, st.problem) == (RunState.SUCCEEDED, 0, None, problem)


def test_garbage_pid_line_without_rc_is_lost() -> None:
    st = status_of(run("badpid01", pid="12 10 nope b", rc="", alive="yes")).runs["badpid01"]
    assert st.state is RunState.LOST
    assert st.problem == "unreadable pid line: started is not an integer"


def test_problems_of_several_files_are_all_named() -> None:
    st = status_of(run("badboth1", rc="x 1 exited", meta="[]")).runs["badboth1"]
    assert st.problem == (
        "unreadable exit status: rc is not an integer; unreadable metadata: not a JSON object"
    )


@pytest.mark.parametrize("line", ["9" * 400, "9" * 400 + "/" + "9" * 400, "1/" + "9" * 400])
def test_huge_numbers_in_the_progress_file_stay_a_bounded_percentage(line: str) -> None:
    p = status_of(run("goodrun1", rc="", alive="yes", progress=line)).runs["goodrun1"].progress
    assert p.percent is None or (math.isfinite(p.percent) and 0 <= p.percent <= 100)


def test_a_run_record_with_an_invalid_jid_is_ignored() -> None:
    st = status_of(run("../../etc"), run("goodrun1"))
    assert list(st.runs) == ["goodrun1"]


@pytest.mark.parametrize("now", ["inf", "nan", "9" * 400, "-5", "1e9"])
def test_a_greeting_with_a_clock_that_is_no_time_is_a_protocol_error(now: str) -> None:
    with pytest.raises(parse.ProtocolError, match="greeting"):
        parse.parse_status((hello(now) + run("goodrun1")).encode(), TOK)


def test_host_clock_skew_is_host_now_minus_local_now() -> None:
    ten_years = 3650 * 86400
    out = (hello(NOW + ten_years) + run("goodrun1")).encode()
    assert parse.parse_status(out, TOK, local_now=NOW).skew == ten_years
    assert parse.parse_status((hello() + run("goodrun1")).encode(), TOK, local_now=NOW).skew == 0


def test_host_clock_skew_defaults_to_the_local_clock_at_parse_time() -> None:
    out = (hello(int(time.time())) + run("goodrun1")).encode()
    assert abs(parse.parse_status(out, TOK).skew) < 5


@pytest.mark.parametrize(
    ("skew", "text"),
    [
        (3650 * 86400, "host clock is off by 10y (ahead of this console's)"),
        (-400, "host clock is off by 7m (behind this console's)"),
        (-2 * 86400 - 5, "host clock is off by 2d (behind this console's)"),
        (7300, "host clock is off by 2h (ahead of this console's)"),
        (3650 * 86400 - 3, "host clock is off by 10y (ahead of this console's)"),
    ],
)
def test_clock_skew_is_said_in_the_largest_unit(skew: float, text: str) -> None:
    assert parse.skew_text(skew) == text


def test_small_skew_is_not_worth_saying() -> None:
    assert not parse.clock_is_off(299) and not parse.clock_is_off(-299)
    assert parse.clock_is_off(301) and parse.clock_is_off(-301)
