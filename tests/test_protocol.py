"""The wire format between the console and the wrapper: pure parsing, no I/O."""

from __future__ import annotations

import pytest

from jobtui.config.progress import progress_pattern
from jobtui.model import InvalidJid, RunState
from jobtui.remote import parse, protocol
from jobtui.remote.parse import LaunchOutcome
from jobtui.remote.protocol import LaunchRequest

TOK = "@@jtdeadbeef"


def rec(kind: str, body: str = "") -> str:
    return f"\n{TOK} {kind}\n{body}"


def hello() -> str:
    return rec("hello", "1700000000 boot-1\n")


def test_records_ignore_login_noise_before_the_first_record() -> None:
    out = ("Welcome to the host!\n" + hello() + rec("launch abcdefgh ok")).encode()
    records = parse.split_records(out, TOK)
    assert [r.kind for r in records] == ["hello", "launch"]


def test_output_that_imitates_a_record_with_another_token_stays_output() -> None:
    forged = "\n@@jtOTHER run xxxxxxxx no\n"
    out = (hello() + run_rec("abcdefgh", "yes") + rec("tail stdout", "hello" + forged)).encode()
    st = parse.parse_status(out, TOK)
    assert list(st.runs) == ["abcdefgh"]
    assert st.runs["abcdefgh"].tail == "hello" + forged


def run_rec(jid: str, alive: str, pid: str = "", rc: str = "", progress: str = "") -> str:
    return rec(f"run {jid} {alive}", f"{pid}\n{rc}\n{progress}\n")


def test_status_with_rc_is_finished_with_that_rc() -> None:
    out = (hello() + run_rec("abcdefgh", "no", "12 10 1700 b", "3 1710 exited")).encode()
    st = parse.parse_status(out, TOK).runs["abcdefgh"]
    assert (st.state, st.rc, st.pid, st.started, st.finished) == (
        RunState.FAILED,
        3,
        12,
        1700,
        1710,
    )


@pytest.mark.parametrize(
    ("how", "state"),
    [
        ("exited", RunState.SUCCEEDED),
        ("timed_out", RunState.TIMED_OUT),
        ("cancelled", RunState.CANCELLED),
    ],
)
def test_rc_file_says_how_the_run_ended(how: str, state: RunState) -> None:
    out = (hello() + run_rec("abcdefgh", "no", rc=f"0 1710 {how}")).encode()
    assert parse.parse_status(out, TOK).runs["abcdefgh"].state is state


def test_dead_supervisor_without_rc_is_lost() -> None:
    out = (hello() + run_rec("abcdefgh", "no", "12 10 1700 b")).encode()
    assert parse.parse_status(out, TOK).runs["abcdefgh"].state is RunState.LOST


def test_progress_line_of_the_run_record_is_read() -> None:
    out = (hello() + run_rec("abcdefgh", "yes", "12 10 1700 b", "", "3/12 tables")).encode()
    p = parse.parse_status(out, TOK).runs["abcdefgh"].progress
    assert (p.percent, p.message) == (25.0, "tables")


def test_live_supervisor_without_rc_is_running() -> None:
    out = (hello() + run_rec("abcdefgh", "yes", "12 10 1700 b")).encode()
    assert parse.parse_status(out, TOK).runs["abcdefgh"].state is RunState.RUNNING


def test_missing_job_dirs_are_listed() -> None:
    out = (hello() + rec("run abcdefgh missing")).encode()
    st = parse.parse_status(out, TOK)
    assert st.missing == ["abcdefgh"] and not st.runs


def test_invalid_utf8_in_output_becomes_replacement_characters() -> None:
    out = (
        (hello() + rec("run abcdefgh yes")).encode()
        + f"\n{TOK} tail stdout\n".encode()
        + b"ok \xff\xfe end"
    )
    assert parse.parse_status(out, TOK).runs["abcdefgh"].tail == "ok \ufffd\ufffd end"


def test_answer_without_greeting_is_a_protocol_error() -> None:
    with pytest.raises(parse.ProtocolError, match="greeting"):
        parse.parse_status(b"sh: not found\n", TOK)


def test_launch_without_an_answer_for_a_jid_is_an_error() -> None:
    out = (hello() + rec("launch aaaaaaaa ok")).encode()
    res = parse.parse_launch(out, TOK, ["aaaaaaaa", "bbbbbbbb"])
    assert res["aaaaaaaa"].outcome is LaunchOutcome.OK
    assert res["bbbbbbbb"].outcome is LaunchOutcome.ERROR


def test_install_failure_is_the_reason_of_every_launch() -> None:
    out = (hello() + rec("install error", "cannot set up /x: Permission denied\n")).encode()
    res = parse.parse_launch(out, TOK, ["aaaaaaaa"])
    assert "Permission denied" in res["aaaaaaaa"].message


@pytest.mark.parametrize(
    ("text", "percent", "message"),
    [
        ("42", 42.0, ""),
        ("42 copying tables", 42.0, "copying tables"),
        ("3/12", 25.0, "3/12"),
        ("10\n20\n75 almost\n", 75.0, "almost"),
        ("250", 100.0, ""),
        ("warming up", None, "warming up"),
        ("", None, ""),
    ],
)
def test_progress_file_formats(text: str, percent: float | None, message: str) -> None:
    p = parse.parse_progress_line(text)
    assert (p.percent, p.message) == (percent, message)


def test_progress_regex_takes_the_last_match() -> None:
    pat = progress_pattern(r"(\d+)%")
    p = parse.progress_from_output(pat, "10% a\n20% b\nnoise\n35% c\n")
    assert p.percent == 35.0


def test_launch_script_refuses_a_bad_jid_before_building_anything() -> None:
    with pytest.raises(InvalidJid):
        protocol.launch_script("~/.jobtui", [LaunchRequest("../etc", "true", 5, {})], TOK)


def test_cmd_file_quotes_env_and_chdir() -> None:
    req = LaunchRequest("abcdefgh", "echo hi", 5, {}, env={"A": "x'; rm -rf /"}, chdir="/tmp/a b")
    assert req.cmd_file() == "export A='x'\"'\"'; rm -rf /'\ncd -- '/tmp/a b' || exit 127\necho hi"
