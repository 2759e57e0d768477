"""Problems: the masking of errors, and the grouping of runs that did not succeed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobtui.events import RunView
from jobtui.model import RunKey, RunState
from jobtui.problems import MAX_ERROR, NO_OUTPUT, error_of, group, hosts_text, mask
from jobtui.report import problems_lines
from jobtui.ui.order import RunOrder

EXAMPLES = [
    ("connection to 10.0.0.7 failed", "connection to <ip> failed"),
    ("no route to 10.0.0.7.", "no route to <ip>."),
    ("connect to 10.0.0.9:5432: refused", "connect to <ip>: refused"),
    ("gzip: /var/log/app.log: No space left on device", "gzip: <path>: No space left on device"),
    ("cannot open ./data/x.csv", "cannot open <path>"),
    ("ping fe80::1 and 2001:db8::ff00:42:8329", "ping <ip> and <ip>"),
    ("job 3f9a1c2b7d failed after 12s", "job <hex> failed after <dur>"),
    ("2026-12-02T03:11:25Z backup aborted", "<time> backup aborted"),
    ("Dec  2 03:11:25 cron[1234]: failed", "Dec <n> <time> cron[<n>]: failed"),
    ("took 1m30s (250ms per chunk)", "took <dur> (<dur> per chunk)"),
    ("volume 123e4567-e89b-12d3-a456-426614174000 is gone", "volume <uuid> is gone"),
    ("GET https://repo.example.com/a/b?x=1 returned 503", "GET <url> returned <n>"),
    ("host db01 ran e2fsck", "host db<n> ran e2fsck"),
    ("pointer 0xDEADbeef", "pointer <hex>"),
    ("  two   spaces\tand a tab  ", "two spaces and a tab"),
    ("std::string and a facade, not ids", "std::string and a facade, not ids"),
]


@pytest.mark.parametrize(("message", "pattern"), EXAMPLES)
def test_mask_replaces_what_varies_between_hosts(message: str, pattern: str) -> None:
    assert mask(message) == pattern


WORD = st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True)
WORDS = st.lists(WORD, min_size=1, max_size=8)


def _hex_id(text: str) -> bool:
    return any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


VARYING: dict[str, st.SearchStrategy[str]] = {
    "number": st.integers(0, 10**12).map(str),
    "ipv4": st.ip_addresses(v=4).map(str),
    "ipv4 and port": st.tuples(st.ip_addresses(v=4), st.integers(1, 65535)).map(
        lambda t: f"{t[0]}:{t[1]}"
    ),
    "ipv6": st.ip_addresses(v=6).map(str).filter(lambda a: "." not in a),
    "path": st.lists(st.from_regex(r"[\w.-]{1,10}", fullmatch=True), min_size=1, max_size=5)
    .map(lambda parts: "/" + "/".join(parts))
    .filter(lambda p: "/." not in p or p.replace("/.", "") != ""),
    "uuid": st.uuids().map(str),
    "hex id": st.from_regex(r"[0-9a-f]{6,40}", fullmatch=True).filter(_hex_id),
    "time": st.datetimes().map(lambda d: d.isoformat(timespec="seconds")),
    "duration": st.tuples(st.integers(1, 59), st.integers(0, 59)).map(lambda t: f"{t[0]}m{t[1]}s"),
}


@pytest.mark.parametrize("kind", sorted(VARYING))
@settings(max_examples=60, deadline=None)
@given(data=st.data(), before=WORDS, after=WORDS)
def test_messages_that_differ_only_in_a_varying_part_mask_the_same(
    kind: str, data: st.DataObject, before: list[str], after: list[str]
) -> None:
    one, other = data.draw(VARYING[kind]), data.draw(VARYING[kind])
    message: Callable[[str], str] = lambda part: " ".join([*before, part, *after])  # noqa: E731
    assert mask(message(one)) == mask(message(other))


@settings(max_examples=300, deadline=None)
@given(WORDS)
def test_plain_words_are_never_masked(words: list[str]) -> None:
    text = " ".join(words)
    assert mask(text) == text


@settings(max_examples=300, deadline=None)
@given(WORDS, WORDS, st.sampled_from(sorted(VARYING)), st.data())
def test_messages_that_differ_in_words_never_mask_the_same(
    one: list[str], other: list[str], kind: str, data: st.DataObject
) -> None:
    part = data.draw(VARYING[kind])
    if one != other:
        assert mask(" ".join([*one, part])) != mask(" ".join([*other, part]))


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_masking_is_idempotent(text: str) -> None:
    assert mask(mask(text)) == mask(text)


@settings(max_examples=300, deadline=None)
@given(WORDS, st.sampled_from(sorted(VARYING)), st.data())
def test_masking_a_message_with_varying_parts_is_idempotent(
    words: list[str], kind: str, data: st.DataObject
) -> None:
    text = " ".join([*words, data.draw(VARYING[kind]), *words])
    assert mask(mask(text)) == mask(text)


def view(
    host: str,
    state: RunState = RunState.FAILED,
    *,
    rc: int | None = 1,
    stderr: str = "",
    stdout: str = "",
    reason: str = "",
    job: str = "backup",
    index: int = 0,
) -> RunView:
    return RunView(
        key=RunKey(job, host, index),
        job=job,
        host=host,
        item="",
        jid=f"j-{host}-{index}",
        state=state,
        attempt=1,
        rc=rc,
        tail=stdout,
        stderr_tail=stderr,
        reason=reason,
    )


def test_error_is_the_last_non_empty_stderr_line_else_stdout_else_reason() -> None:
    assert error_of(view("h", stderr="first\nlast\n\n  \n", stdout="out\n")) == "last"
    assert error_of(view("h", stderr="\n", stdout="one\ntwo\n")) == "two"
    assert error_of(view("h", reason="launch failed: no sh")) == "launch failed: no sh"
    assert error_of(view("h")) == NO_OUTPUT


def test_the_reason_comes_first_for_ends_that_are_not_the_jobs_own() -> None:
    v = view("h", RunState.UNREACHABLE, rc=None, stdout="half done\n", reason="refused")
    assert error_of(v) == "refused"
    assert error_of(view("h", RunState.UNREACHABLE, rc=None, stdout="half done\n")) == "half done"


def test_a_long_error_keeps_its_start() -> None:
    error = error_of(view("h", stderr="E" * 500 + "\n"))
    assert len(error) == MAX_ERROR and error.startswith("EEE") and error.endswith("…")


def test_three_hosts_failing_with_the_same_message_but_other_ips_make_one_problem() -> None:
    runs = [view(f"h{n}", stderr=f"connection to 10.0.0.{n} failed\n") for n in (9, 7, 8)]
    (problem,) = group(runs)
    assert problem.hosts == ["h7", "h8", "h9"]
    assert problem.error == problem.pattern == "connection to <ip> failed"
    assert problem.keys == {v.key for v in runs}
    assert [v.host for v in problem.runs] == ["h7", "h8", "h9"]


def test_a_problem_whose_runs_said_the_same_shows_their_words() -> None:
    runs = [view(h, stderr="disk full on 10.0.0.1\n") for h in ("a", "b")]
    (problem,) = group(runs)
    assert problem.error == "disk full on 10.0.0.1"
    assert problem.pattern == "disk full on <ip>"


def test_problems_are_told_apart_by_state_rc_and_words_biggest_first() -> None:
    runs = [
        view("a", stderr="disk full\n"),
        view("b", stderr="disk full\n", rc=2),
        view("c", stderr="disk full\n", rc=2),
        view("d", stderr="disk gone\n", rc=2),
        view("e", RunState.TIMED_OUT, rc=143, stderr="disk full\n"),
        view("f", RunState.SUCCEEDED, rc=0, stderr="disk full\n"),
        view("g", RunState.RUNNING, rc=None, stderr="disk full\n"),
        view("h", RunState.PENDING, rc=None),
    ]
    problems = group(runs)
    assert [(p.state, p.rc, p.error, p.hosts) for p in problems] == [
        (RunState.FAILED, 2, "disk full", ["b", "c"]),
        (RunState.FAILED, 1, "disk full", ["a"]),
        (RunState.FAILED, 2, "disk gone", ["d"]),
        (RunState.TIMED_OUT, 143, "disk full", ["e"]),
    ]


def test_the_summary_names_each_run_and_each_host_once() -> None:
    runs = [view("a", index=0), view("a", index=1), view("b")]
    (problem,) = group(runs)
    summary = problem.summary()
    assert summary["hosts"] == ["a", "b"] and summary["count"] == 3
    assert summary["state"] == "failed" and summary["rc"] == 1 and summary["error"] == NO_OUTPUT
    assert summary["runs"][1] == {"host": "a", "job": "backup", "item": "", "jid": "j-a-1"}


def test_hosts_text_says_how_many_more() -> None:
    assert hosts_text(["a", "b"]) == "a, b"
    assert hosts_text([f"h{n}" for n in range(6)], shown=5) == "h0, h1, h2, h3, h4, h5"
    assert hosts_text([f"h{n}" for n in range(9)], shown=5) == "h0, h1, h2, h3, h4 and 4 more"


def test_the_human_summary_lists_each_problem_with_a_few_of_its_hosts() -> None:
    runs = [view(f"h{n:02d}", stderr=f"refused by 10.0.0.{n}\n") for n in range(12)]
    runs.append(view("db", RunState.UNREACHABLE, rc=None, reason="no route\x1b[2J"))
    assert problems_lines(group(runs)) == [
        "  12 failed rc=1: refused by <ip>",
        "     h00, h01, h02, h03, h04, h05, h06, h07 and 4 more",
        "   1 unreachable: no route\\x1b[2J",
        "     db",
    ]


def test_the_run_order_shows_only_the_runs_it_is_given_as_they_change() -> None:
    runs = {v.key: v for v in (view("a"), view("b"), view("c"))}
    order = RunOrder(runs)
    order.only = frozenset({RunKey("backup", "c", 0), RunKey("backup", "a", 0)})
    order.rebuild()
    assert order.keys == [RunKey("backup", "a", 0), RunKey("backup", "c", 0)]
    runs[RunKey("backup", "b", 0)] = view("b", RunState.TIMED_OUT)
    assert not order.apply([RunKey("backup", "b", 0)]).moved
    order.only = None
    order.rebuild()
    assert len(order) == 3
