"""The run table's order without a Textual app: filter, sort, and changes applied
run by run (`jobtui.ui.order.RunOrder` on a plain dict of views)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from jobtui.events import RunView
from jobtui.model import RunKey, RunState
from jobtui.ui import order as order_module
from jobtui.ui import render
from jobtui.ui.order import MANY, SORT_MODES, RunOrder, next_sort
from jobtui.ui.render import parse_filter


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
    fresh.terms, fresh.hide_finished, fresh.sort_mode = (
        order.terms,
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
    order.terms = parse_filter("host3 item013")
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
    order.terms = parse_filter("state:running")
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

    def matches(v: RunView, terms: list[str]) -> bool:
        asked.append(v.key)
        return render.matches(v, terms)

    monkeypatch.setattr(order_module, "matches", matches)
    runs = board(5)
    order = RunOrder(runs)
    order.terms = ["host1"]
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
    order.terms = ["host1"]
    order.rebuild()
    order.terms = ["host2"]
    order.rebuild()
    assert order.keys == [RunKey("job", "host2", 2)]


def test_next_sort_cycles_through_every_mode() -> None:
    modes = ["host"]
    for _ in SORT_MODES:
        modes.append(next_sort(modes[-1]))
    assert modes == [*SORT_MODES, "host"]
