"""The gate's rules (`flow.Flow`), on run records whose phase is set here: what is
skipped, what counts as in flight, and what the store gives back after a restart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from jobtui.flow import Flow
from jobtui.model import Host, JobSpec, RunSpec, RunState
from jobtui.runs import Phase, Run
from jobtui.store import Store

HOST = Host("db1", "10.0.0.1")


def runs(
    n: int,
    per_host: int | None = None,
    throttle: int | None = None,
    max_fail_percentage: float | None = None,
) -> list[Run]:
    job = JobSpec(
        name="dump", hosts="all", shell="pg_dump", poll=1.0, per_host=per_host,
        throttle=throttle, max_fail_percentage=max_fail_percentage,
    )  # fmt: skip
    return [Run(RunSpec(job, HOST, i, i, "pg_dump")) for i in range(n)]


def ended(r: Run, state: RunState) -> None:
    r.launched, r.phase = True, Phase.CLOSED
    r.view = replace(r.view, state=state)


def test_only_first_attempts_whose_launch_never_went_out_are_skipped() -> None:
    rs = runs(5, max_fail_percentage=0)
    flow = Flow(rs)
    assert flow.turn()[0] == []  # nothing failed yet
    ended(rs[0], RunState.FAILED)
    rs[1].first_sent = 1.0  # its launch went out unanswered: it may be running
    rs[2].sent_before = True  # the same, remembered by the store (attach)
    rs[3].next_attempt("jid-retry-03")  # the operator's retry of it
    skipped, _ = flow.turn()
    assert skipped == [rs[4]]
    assert rs[4].state is RunState.SKIPPED and not rs[4].open
    assert rs[4].view.reason == "max_fail_percentage 0 passed (1 of 5 runs failed)"
    assert [r.state for r in rs[1:4]] == [RunState.PENDING] * 3


def test_cancelled_unreachable_and_retrying_runs_do_not_count() -> None:
    rs = runs(4, max_fail_percentage=0)
    ended(rs[0], RunState.CANCELLED)
    ended(rs[1], RunState.UNREACHABLE)
    ended(rs[2], RunState.FAILED)
    rs[2].phase = Phase.RETRY  # its retry is due: not its end
    assert Flow(rs).turn()[0] == []


def test_a_launch_that_may_be_out_holds_its_place_and_is_always_resent() -> None:
    rs = runs(3, per_host=1)
    rs[0].first_sent = 1.0
    _, turn = Flow(rs).turn()
    assert turn is not None
    assert turn.admit(rs[1]) == "waiting: per_host 1"
    assert turn.admit(rs[0]) == ""


def test_throttle_counts_followed_runs_and_frees_a_place_at_their_end() -> None:
    rs = runs(3, throttle=1)
    rs[0].sent()
    rs[0].phase = Phase.FOLLOWED
    flow = Flow(rs)
    _, turn = flow.turn()
    assert turn is not None and turn.admit(rs[1]) == "waiting: throttle 1"
    ended(rs[0], RunState.SUCCEEDED)
    _, turn = flow.turn()
    assert turn is not None and turn.admit(rs[1]) == "" and turn.admit(rs[2]) != ""


def test_the_store_gives_back_whether_an_attempt_s_launch_went_out(tmp_path: Path) -> None:
    rs = runs(3)
    with Store.open(tmp_path / "state") as store:
        store.create_batch("b1", rs, {}, 1)
        store.before_launch("b1", [rs[1]])
        ended(rs[2], RunState.SKIPPED)
        store.record("b1", rs[2].view)
        loaded = store.load_runs("b1")
    assert [r.sent_before for r in loaded] == [False, True, False]
    loaded[1].next_attempt("jid-second-1")  # a new attempt: its launch is not out
    assert not loaded[1].sent_before
    assert loaded[2].state is RunState.SKIPPED and not loaded[2].due_to_launch
