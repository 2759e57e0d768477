"""The batch's progress, ETA and trouble order without a Textual app (fake clock:
every time is relative to NOW, and the numbers are exact)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from dataclasses import replace

from jobtui.events import RunView
from jobtui.model import RunKey, RunState
from jobtui.ui.batch_progress import (
    TROUBLE,
    BatchProgress,
    batch_progress,
    fit_parts,
    host_trouble_key,
    in_trouble,
    progress_parts,
    trouble_key,
)
from jobtui.ui.board import HostInfo
from jobtui.ui.fleet_sample import fleet_runs, host_name
from jobtui.ui.order import RunOrder

NOW = 1_800_000_000.0
S = RunState


def run(
    host: str,
    state: RunState,
    *,
    started: float | None = None,
    finished: float | None = None,
    progress: float | None = None,
    index: int = 0,
    **fields: object,
) -> RunView:
    """A run whose times are seconds before NOW."""
    return RunView(
        key=RunKey("backup", host, index),
        job="backup",
        host=host,
        item=f"item{index}",
        jid=None if started is None else f"J{host}{index}",
        state=state,
        attempt=1,
        started=None if started is None else NOW - started,
        finished=None if finished is None else NOW - finished,
        progress=progress,
        **fields,  # type: ignore[arg-type]
    )


def crafted() -> list[RunView]:
    """Five runs: two finished, two running at 25%, one pending; the first started
    100 s ago. Work done: 2 + 0.25 + 0.25 = 2.5 runs in 100 s; 2.5 left."""
    return [
        run("a", S.SUCCEEDED, started=100, finished=50, progress=100.0),
        run("b", S.FAILED, started=80, finished=70),
        run("c", S.RUNNING, started=60, progress=25.0),
        run("d", S.RUNNING, started=40, progress=25.0),
        run("e", S.PENDING),
    ]


def test_the_progress_of_a_crafted_batch_is_exact() -> None:
    assert batch_progress(crafted(), NOW) == BatchProgress(
        total=5,
        finished=2,
        running=2,
        running_progress=25.0,
        done=2.5,
        elapsed=100.0,
        eta=100.0,
        trouble=1,
    )


def test_the_eta_follows_the_clock_at_the_same_work_done() -> None:
    later = batch_progress(crafted(), NOW + 100)
    assert (later.elapsed, later.eta) == (200.0, 200.0)


def test_the_eta_shrinks_as_the_running_runs_progress() -> None:
    runs = crafted()
    runs[2] = replace(runs[2], progress=75.0)
    runs[3] = replace(runs[3], progress=75.0)
    progress = batch_progress(runs, NOW)
    # 3.5 done in 100 s, 1.5 left: 1.5 × 100 / 3.5.
    assert progress.done == 3.5 and progress.running_progress == 75.0
    assert progress.eta == 1.5 * 100.0 / 3.5


def test_nothing_done_yet_has_no_eta() -> None:
    runs = [run("a", S.RUNNING, started=30), run("b", S.PENDING)]
    progress = batch_progress(runs, NOW)
    assert (progress.done, progress.elapsed, progress.eta) == (0.0, 30.0, None)
    assert progress.running_progress is None  # no running run reports one


def test_nothing_started_has_no_elapsed_time() -> None:
    progress = batch_progress([run("a", S.PENDING), run("b", S.PENDING)], NOW)
    assert (progress.total, progress.elapsed, progress.eta) == (2, None, None)


def test_a_finished_batch_has_eta_zero_and_stops_its_clock_at_the_last_end() -> None:
    runs = [
        run("a", S.SUCCEEDED, started=100, finished=50),
        run("b", S.FAILED, started=90, finished=20),
    ]
    progress = batch_progress(runs, NOW + 1000)
    assert (progress.all_finished, progress.elapsed, progress.eta) == (True, 80.0, 0.0)


def test_host_times_are_brought_to_the_console_clock_with_the_skew() -> None:
    # The host's clock is 40 s ahead: its run started 100 s ago on the console's clock.
    ahead = run("a", S.RUNNING, started=60, progress=50.0, skew=40.0)
    progress = batch_progress([ahead], NOW)
    assert progress.elapsed == 100.0 and progress.eta == 100.0


def test_an_unreachable_run_counts_as_no_work_done_but_as_trouble() -> None:
    runs = [
        run("a", S.SUCCEEDED, started=100, finished=0),
        run("b", S.UNREACHABLE, started=100, progress=90.0),
    ]
    progress = batch_progress(runs, NOW)
    assert (progress.done, progress.eta, progress.trouble) == (1.0, 100.0, 1)


def test_ansible_jobs_are_no_part_of_the_batch_but_count_as_trouble() -> None:
    theirs = run("z", S.FAILED, started=5000, finished=4000, ansible=True)
    progress = batch_progress([*crafted(), theirs], NOW)
    assert (progress.total, progress.elapsed, progress.trouble) == (5, 100.0, 2)


def test_progress_parts_wide_and_narrow() -> None:
    progress = batch_progress(crafted(), NOW)
    assert [p for p, _ in progress_parts(progress, wide=True)] == [
        "2/5 finished",
        "running 25%",
        "ETA 1m40s",
        "elapsed 1m40s",
    ]
    assert [p for p, _ in progress_parts(progress, wide=False)] == [
        "2/5",
        "▶25%",
        "ETA 1m40s",
        "1m40s",
    ]


def test_progress_parts_without_an_eta_show_a_dash_and_none_once_all_finished() -> None:
    waiting = batch_progress([run("a", S.RUNNING, started=30)], NOW)
    assert "ETA –" in [p for p, _ in progress_parts(waiting, wide=True)]
    over = batch_progress([run("a", S.SUCCEEDED, started=30, finished=0)], NOW)
    assert [p for p, _ in progress_parts(over, wide=True)] == ["1/1 finished", "elapsed 30s"]


def test_fit_parts_drops_the_lowest_priority_first() -> None:
    parts = [(10, 100), (5, 10), (5, 50), (5, 30)]  # 25 cells + 3 gaps of 2 = 31
    assert fit_parts(parts, 31) == [True, True, True, True]
    assert fit_parts(parts, 30) == [True, False, True, True]
    assert fit_parts(parts, 22) == [True, False, True, False]
    assert fit_parts(parts, 10) == [True, False, False, False]


def test_fit_parts_drops_the_last_of_equal_priorities_first() -> None:
    assert fit_parts([(5, 1), (5, 1), (5, 1)], 12) == [True, True, False]


# -- the trouble order ---------------------------------------------------------------


def test_the_trouble_states_are_unreachable_failed_timed_out_lost() -> None:
    assert TROUBLE == (S.UNREACHABLE, S.FAILED, S.TIMED_OUT, S.LOST)
    assert {s for s in RunState if in_trouble(s)} == set(TROUBLE)


def test_trouble_order_puts_trouble_then_least_progress_then_pending_then_finished() -> None:
    runs = [
        run("a", S.SUCCEEDED, started=9, finished=1, progress=100.0),
        run("b", S.RUNNING, started=9, progress=80.0),
        run("c", S.PENDING),
        run("d", S.LOST, started=9),
        run("e", S.RUNNING, started=9, progress=10.0),
        run("f", S.FAILED, started=9, finished=1),
        run("g", S.RUNNING, started=9),
        run("h", S.UNREACHABLE, started=9),
        run("i", S.CANCELLED, started=9, finished=1),
        run("j", S.TIMED_OUT, started=9, finished=1),
        run("k", S.SKIPPED),
    ]
    ordered = [v.host for v in sorted(runs, key=trouble_key)]
    assert ordered == ["h", "f", "j", "d", "g", "e", "b", "c", "k", "i", "a"]


def test_trouble_order_breaks_ties_by_host_job_and_item() -> None:
    runs = [run(h, S.FAILED, started=9, finished=1, index=i) for h in "ba" for i in (1, 0)]
    ordered = [(v.host, v.key.item_index) for v in sorted(runs, key=trouble_key)]
    assert ordered == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]


def test_hosts_in_trouble_come_first_by_their_worst_run() -> None:
    hosts = {
        "ok": HostInfo(True, counts=Counter({S.SUCCEEDED: 4})),
        "busy": HostInfo(True, counts=Counter({S.RUNNING: 3, S.SUCCEEDED: 1})),
        "late": HostInfo(True, counts=Counter({S.RUNNING: 4})),
        "slow": HostInfo(True, counts=Counter({S.TIMED_OUT: 1, S.SUCCEEDED: 3})),
        "bad": HostInfo(True, counts=Counter({S.FAILED: 1, S.RUNNING: 3})),
        "worse": HostInfo(True, counts=Counter({S.FAILED: 2, S.RUNNING: 2})),
        "down": HostInfo(False, "refused", Counter({S.RUNNING: 4})),
        "new": HostInfo(None, counts=Counter({S.PENDING: 4})),
    }
    ordered = sorted(hosts, key=lambda name: host_trouble_key(name, hosts[name]))
    # Running hosts: the one with fewer finished runs (least progress) first.
    assert ordered == ["down", "worse", "bad", "slow", "late", "busy", "new", "ok"]


def test_the_run_order_sorted_by_trouble_follows_the_changes() -> None:
    runs = {v.key: v for v in fleet_runs(20, 2, trouble={})}
    order = RunOrder(runs)
    order.sort_mode = "trouble"
    order.rebuild()
    assert runs[order.keys[0]].state is S.RUNNING  # nothing in trouble: the least progress
    victim = RunKey("backup", host_name(13), 1)
    runs[victim] = replace(runs[victim], state=S.FAILED, rc=1)
    order.apply([victim])
    assert order.keys[0] == victim
    assert order.keys == sorted(runs, key=lambda k: trouble_key(runs[k]))


def test_the_fleet_sample_puts_trouble_where_asked() -> None:
    runs = fleet_runs(10, 3, trouble={16: S.FAILED}, unreachable=[2])
    assert len(runs) == 30
    states = {(v.host, v.key.item_index): v.state for v in runs}
    assert states[(host_name(5), 1)] is S.FAILED  # run 16 = host 5, item 1
    assert {states[(host_name(2), i)] for i in range(3)} == {S.UNREACHABLE}
    assert sum(in_trouble(v.state) for v in runs) == 4


def test_the_progress_module_does_not_import_textual() -> None:
    code = (
        "import sys, jobtui.ui.batch_progress, jobtui.ui.fleet_sample\n"
        "sys.exit(any(m.split('.')[0] == 'textual' for m in sys.modules))\n"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
