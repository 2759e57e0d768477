"""The run table's order without a Textual app: filter, sort, and changes applied
run by run (`jobtui.ui.order.RunOrder` on a plain dict of views)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from jobtui.events import RunView
from jobtui.model import RunKey, RunState
from jobtui.ui.order import (
    GRAMMAR,
    KEYS,
    MANY,
    SORT_MODES,
    Filter,
    FilterError,
    RunOrder,
    next_sort,
    parse_filter,
)


def view(i: int, host: str = "", **fields: object) -> RunView:
    host = host or f"host{i % 10}"
    base = RunView(
        key=RunKey("job", host, i),
        job="job",
        host=host,
        item=f"item{i:03d}",
        jid=f"jid{i:08d}",
        state=RunState.RUNNING,
        attempt=1,
        progress=float(i),
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def board(n: int) -> dict[RunKey, RunView]:
    return {v.key: v for v in (view(i) for i in range(n))}


def change(runs: dict[RunKey, RunView], key: RunKey, **fields: object) -> RunKey:
    runs[key] = replace(runs[key], **fields)  # type: ignore[arg-type]
    return key


def ordered(runs: dict[RunKey, RunView], order: RunOrder) -> list[RunKey]:
    """What a rebuild from scratch gives: the order `apply` must keep."""
    fresh = RunOrder(runs)
    fresh.filter, fresh.hide_finished, fresh.sort_mode = (
        order.filter,
        order.hide_finished,
        order.sort_mode,
    )
    fresh.rebuild()
    return fresh.keys


def test_the_order_module_does_not_import_textual() -> None:
    code = (
        "import sys, jobtui.ui.order\n"
        "sys.exit(any(m.split('.')[0] == 'textual' for m in sys.modules))\n"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_rebuild_sorts_by_host_job_and_item_by_default() -> None:
    runs = board(30)
    order = RunOrder(runs)
    order.rebuild()
    assert order.keys == sorted(runs, key=lambda k: (k.host, k.job, k.item_index))
    assert len(order) == 30


def test_a_filter_keeps_the_runs_that_match_every_term() -> None:
    runs = board(30)
    order = RunOrder(runs)
    order.filter = parse_filter("host3 item013")
    order.rebuild()
    assert order.keys == [RunKey("job", "host3", 13)]


def test_hide_finished_leaves_out_the_runs_that_ended() -> None:
    runs = board(10)
    change(runs, RunKey("job", "host4", 4), state=RunState.SUCCEEDED)
    order = RunOrder(runs)
    order.hide_finished = True
    order.rebuild()
    assert RunKey("job", "host4", 4) not in order
    assert len(order) == 9


def test_a_new_run_goes_in_at_its_place() -> None:
    runs = board(20)
    order = RunOrder(runs)
    order.rebuild()
    new = view(100, host="host05")
    runs[new.key] = new
    update = order.apply([new.key])
    assert update.moved
    assert update.shown == [new.key]
    assert order.keys == ordered(runs, order)


def test_a_change_that_keeps_its_place_moves_nothing() -> None:
    runs = board(20)
    order = RunOrder(runs)
    order.rebuild()
    before = list(order.keys)
    key = change(runs, RunKey("job", "host3", 3), progress=99.0, message="later")
    update = order.apply([key])
    assert not update.moved
    assert update.shown == [key]
    assert order.keys == before


def test_sorting_by_progress_follows_the_changes() -> None:
    runs = board(200)
    order = RunOrder(runs)
    order.sort_mode = "progress"
    order.rebuild()
    up = change(runs, RunKey("job", "host7", 7), progress=500.0)
    down = change(runs, RunKey("job", "host0", 150), progress=-1.0)
    update = order.apply([up, down])
    assert update.moved
    assert order.keys[0] == up
    assert order.keys[-1] == down
    assert order.keys == ordered(runs, order)


def test_runs_leave_the_filter_and_come_back_with_their_state() -> None:
    runs = board(20)
    order = RunOrder(runs)
    order.filter = parse_filter("state:running")
    order.rebuild()
    key = change(runs, RunKey("job", "host2", 12), state=RunState.FAILED)
    update = order.apply([key])
    assert update.moved
    assert update.shown == []
    assert key not in order
    change(runs, key, state=RunState.RUNNING)
    order.apply([key])
    assert key in order
    assert order.keys == ordered(runs, order)


def test_many_runs_entering_at_once_are_sorted_in_one_go() -> None:
    runs = board(10)
    order = RunOrder(runs)
    order.rebuild()
    added = [view(i, host=f"h{i % 7}") for i in range(100, 100 + 2 * MANY)]
    runs.update((v.key, v) for v in added)
    update = order.apply([v.key for v in added])
    assert update.moved
    assert order.keys == ordered(runs, order)


def test_the_filter_asks_again_only_when_a_run_changes_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[RunKey] = []
    original = Filter.matches

    def matches(self: Filter, v: RunView, batch: str = "") -> bool:
        asked.append(v.key)
        return original(self, v, batch)

    monkeypatch.setattr(Filter, "matches", matches)
    runs = board(5)
    order = RunOrder(runs)
    order.filter = parse_filter("host1")
    order.rebuild()
    key = RunKey("job", "host1", 1)
    asked.clear()
    order.apply([change(runs, key, progress=50.0)])
    assert asked == []
    order.apply([change(runs, key, state=RunState.FAILED)])
    assert asked == [key]


def test_new_terms_forget_the_old_verdicts() -> None:
    runs = board(5)
    order = RunOrder(runs)
    order.filter = parse_filter("host1")
    order.rebuild()
    order.filter = parse_filter("host2")
    order.rebuild()
    assert order.keys == [RunKey("job", "host2", 2)]


def test_next_sort_cycles_through_every_mode() -> None:
    modes = ["host"]
    for _ in SORT_MODES:
        modes.append(next_sort(modes[-1]))
    assert modes == [*SORT_MODES, "host"]


# -- the filter language -----------------------------------------------------------


def shown(text: str, runs: dict[RunKey, RunView], batch: str = "") -> list[RunKey]:
    order = RunOrder(runs)
    order.filter, order.batch = parse_filter(text), batch
    order.rebuild()
    return order.keys


def states_board() -> dict[RunKey, RunView]:
    """One run in each state, on host `h<i>`, with the state's name as its item."""
    views = [view(i, host=f"h{i}", state=s, item=s.value) for i, s in enumerate(RunState)]
    return {v.key: v for v in views}


def states_of(keys: list[RunKey], runs: dict[RunKey, RunView]) -> set[RunState]:
    return {runs[k].state for k in keys}


def error_of(text: str) -> str:
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    return str(caught.value)


def test_an_unknown_key_is_an_error_with_a_did_you_mean() -> None:
    assert error_of("status:running") == "unknown key 'status:'; did you mean 'state:'?"
    assert error_of("hosts:db01") == "unknown key 'hosts:'; did you mean 'host:'?"


def test_an_unknown_key_with_nothing_close_lists_the_keys() -> None:
    assert error_of("colour:red") == f"unknown key 'colour:'; keys: {' '.join(KEYS)}"


def test_an_unknown_state_is_an_error_with_a_did_you_mean() -> None:
    assert error_of("state:runing") == "unknown state 'runing'; did you mean 'running'?"
    assert error_of("state:!suceeded") == ("unknown state 'suceeded'; did you mean 'succeeded'?")


def test_an_unknown_state_with_nothing_close_lists_the_states() -> None:
    message = error_of("state:xyz")
    assert message.startswith("unknown state 'xyz'; states: pending running")
    assert all(s.value in message for s in RunState)


@pytest.mark.parametrize(
    "text", ["host:", "state:failed,", "host:db01,,db02", "!", "!!db01", "host:!!db01", "!job:!x"]
)
def test_an_empty_value_or_a_stray_bang_is_an_error(text: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(text)


def test_a_bang_inside_a_list_is_an_error() -> None:
    assert "before the whole list" in error_of("state:failed,!lost")


def test_a_negated_state_keeps_every_other_state() -> None:
    runs = states_board()
    assert states_of(shown("state:!succeeded", runs), runs) == set(RunState) - {RunState.SUCCEEDED}


def test_a_negated_host_leaves_that_host_out() -> None:
    runs = board(20)
    keys = shown("host:!host3", runs)
    assert len(keys) == 18
    assert all(k.host != "host3" for k in keys)


def test_a_bang_before_the_key_negates_as_well() -> None:
    runs = board(20)
    assert shown("!host:host3", runs) == shown("host:!host3", runs)


def test_a_negated_word_leaves_out_the_runs_that_contain_it_anywhere() -> None:
    runs = board(20)
    runs[RunKey("job", "host4", 4)] = view(4, item="special")
    keys = shown("!item01 !special", runs)
    assert RunKey("job", "host4", 4) not in keys
    assert all(not runs[k].item.startswith("item01") for k in keys)
    assert len(keys) == 20 - 10 - 1


def test_a_state_list_keeps_either_state() -> None:
    runs = states_board()
    assert states_of(shown("state:failed,timed_out", runs), runs) == {
        RunState.FAILED,
        RunState.TIMED_OUT,
    }


def test_a_negated_list_keeps_neither() -> None:
    runs = states_board()
    assert RunState.FAILED not in states_of(shown("state:!failed,lost", runs), runs)
    assert len(shown("state:!failed,lost", runs)) == len(RunState) - 2


@pytest.mark.parametrize(
    ("text", "hosts"),
    [
        ("host:host1,host2", {"host1", "host2"}),
        ("job:nosuch,job", {f"host{i}" for i in range(10)}),
        ("item:item001,item012", {"host1", "host2"}),
        ("host:!host1,host2", {f"host{i}" for i in range(10)} - {"host1", "host2"}),
    ],
)
def test_lists_work_for_host_job_and_item(text: str, hosts: set[str]) -> None:
    runs = board(20)
    assert {k.host for k in shown(text, runs)} == hosts


@pytest.mark.parametrize(
    "value", ["timed_out", "timed-out", "TIMED_OUT", "timedout", "timed", "t", "Timed_Out"]
)
def test_timed_out_is_named_by_its_name_its_label_or_its_start(value: str) -> None:
    runs = states_board()
    assert states_of(shown(f"state:{value}", runs), runs) == {RunState.TIMED_OUT}


def test_the_start_of_a_state_name_names_that_state() -> None:
    runs = states_board()
    assert states_of(shown("state:fail,unr", runs), runs) == {
        RunState.FAILED,
        RunState.UNREACHABLE,
    }


def test_a_plain_word_finds_the_state_by_name_or_label() -> None:
    runs = states_board()
    by_label = shown("timed out", runs)  # two words, each found in "timed out"
    assert states_of(by_label, runs) == {RunState.TIMED_OUT}
    assert shown("timed_out", runs) == by_label


def test_a_word_does_not_span_two_fields() -> None:
    runs = {v.key: v for v in [view(1, host="web", job="job", item="x")]}
    assert shown("webjob", runs) == []
    assert shown("web", runs) == list(runs)


def test_a_word_with_a_colon_after_other_than_letters_is_a_plain_word() -> None:
    runs = {v.key: v for v in [view(1, host="10.0.0.5:22"), view(2, host="10.0.0.6:22")]}
    assert [k.host for k in shown("10.0.0.5:22", runs)] == ["10.0.0.5:22"]
    assert [k.host for k in shown("host:10.0.0.6:22", runs)] == ["10.0.0.6:22"]


def test_batch_matches_the_runs_own_batch() -> None:
    runs = board(4)
    mine = change(runs, RunKey("job", "host1", 1), batch="20261201-1734-aa")
    change(runs, RunKey("job", "host2", 2), batch="20261130-0900-bb")
    assert shown("batch:20261201", runs) == [mine]
    assert len(shown("batch:!20261201", runs)) == 3


def test_a_run_without_a_batch_is_in_the_consoles_batch() -> None:
    runs = board(4)
    theirs = change(runs, RunKey("job", "host2", 2), batch="20261130-0900-bb")
    assert theirs not in shown("batch:20261201", runs, batch="20261201-1734-aa")
    assert len(shown("batch:20261201", runs, batch="20261201-1734-aa")) == 3


def test_a_plain_word_does_not_look_in_the_batch() -> None:
    runs = board(4)
    change(runs, RunKey("job", "host1", 1), batch="20261201-1734-aa")
    assert shown("1734", runs) == []


def test_matching_ignores_case() -> None:
    runs = {v.key: v for v in [view(1, host="DB01")]}
    assert shown("HOST:db01 Job:JOB", runs) == list(runs)


def test_every_example_of_the_grammar_parses() -> None:
    examples = [w for line in GRAMMAR.splitlines() for w in line.split("   ")[0].split()]
    assert len(examples) == 8
    for example in examples:
        assert parse_filter(example)
    assert all(f"{key}" in GRAMMAR for key in KEYS)
