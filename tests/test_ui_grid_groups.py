"""The display group of a host (plan, store, watch) and the hosts by group (pure)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from jobtui.config.inventory import Inventory
from jobtui.events import BatchStarted, HostChanged, RunChanged
from jobtui.fleet import view_of
from jobtui.model import Host, JobSpec, RemoteStatus, RunSpec, RunState
from jobtui.plan import build_plan, display_group
from jobtui.runs import Run
from jobtui.store import Store
from jobtui.ui.board import Board
from jobtui.ui.hostgroups import NO_RUNS, HostGroups, natural_key, worst_state
from jobtui.ui.sample import fleet_runs

DB1 = ("dbservers", "eu", "eu-west")  # Host.groups: sorted, parents included


@pytest.mark.parametrize(
    ("pattern", "group"),
    [
        ("eu-west:dbservers", "eu-west"),  # the first term that selected it
        ("dbservers:eu-west", "dbservers"),
        ("eu", "eu"),  # a parent group named by the pattern
        ("web*:db*", "dbservers"),  # a glob names the groups it matches
        ("all", "dbservers"),  # all: its first group by name
        ("db1", "dbservers"),  # by its name: the same
        ("webservers:db1", "dbservers"),  # a group without the host does not count
        ("!webservers", "dbservers"),
        ("eu-west:&dbservers", "eu-west"),  # & and ! only narrow
        ("~db.*", "dbservers"),  # regexes are not read: its first group
    ],
)
def test_display_group_is_the_first_group_the_pattern_selected(pattern: str, group: str) -> None:
    assert display_group(pattern, DB1) == group


def test_a_host_in_no_group_is_ungrouped() -> None:
    assert display_group("all", ()) == "ungrouped"


def test_runs_of_a_plan_carry_their_hosts_group() -> None:
    inv = Inventory.from_hosts(
        [Host("db1", "10.0.0.1", groups=DB1), Host("web1", "10.0.0.2", groups=("webservers",))]
    )
    jobs = [JobSpec(name="patch", hosts="eu-west:webservers", shell="true")]
    views = [Run(spec).view for spec in build_plan(jobs, inv).runs]
    assert {v.host: v.group for v in views} == {"db1": "eu-west", "web1": "webservers"}


def test_attach_finds_the_same_groups_in_the_store(tmp_path: Path) -> None:
    host = Host("db1", "10.0.0.1", groups=DB1)
    job = JobSpec(name="patch", hosts="eu:dbservers", shell="true")
    with Store.open(tmp_path) as store:
        store.create_batch("b1", [Run(RunSpec(job, host, None, 0, "true"))], {}, 1)
        [loaded] = store.load_runs("b1")
    assert loaded.view.group == "eu"


def test_watch_puts_a_discovered_run_under_its_hosts_first_group() -> None:
    st = RemoteStatus(jid="J0123456789xYz", state=RunState.RUNNING, meta={"job": "patch"})
    assert view_of(Host("db1", "db1", groups=DB1), st, 0.0).group == "dbservers"


def test_natural_order_puts_web2_before_web10() -> None:
    assert sorted(["web10", "web2", "db1"], key=natural_key) == ["db1", "web2", "web10"]


@pytest.mark.parametrize(
    ("counts", "reachable", "worst"),
    [
        ({RunState.SUCCEEDED: 3, RunState.FAILED: 1}, True, RunState.FAILED),
        ({RunState.SUCCEEDED: 1, RunState.RUNNING: 1}, True, RunState.RUNNING),
        ({RunState.RUNNING: 2}, False, RunState.UNREACHABLE),  # unreachable beats running
        ({RunState.FAILED: 1}, False, RunState.FAILED),  # a failure still shows first
        ({}, False, RunState.UNREACHABLE),
        ({}, True, None),  # no run: nothing to show
        ({RunState.SUCCEEDED: 0}, None, None),
    ],
)
def test_worst_state_follows_the_urgency_order(
    counts: dict[RunState, int], reachable: bool | None, worst: RunState | None
) -> None:
    assert worst_state(Counter(counts), reachable) == worst


def test_hosts_by_group_and_their_counts_follow_the_board() -> None:
    board = Board()
    groups = HostGroups(board)
    runs = fleet_runs(40)
    changes = board.apply([BatchStarted("b", runs), HostChanged("lonely", True)])
    changed, moved = groups.apply(changes.runs, changes.hosts)
    assert moved
    assert groups.groups() == ["appservers", "cache", "dbservers", "webservers", NO_RUNS]
    assert groups.hosts(NO_RUNS) == ["lonely"]
    for group in groups.groups():
        mine = [v for v in runs if v.group == group]
        assert sum(groups.counts(group).values()) == len(mine), group
    failed = next(v for v in runs if v.state is RunState.FAILED)
    counts = groups.counts(failed.group)
    fixed = replace(failed, state=RunState.SUCCEEDED)
    changes = board.apply([RunChanged(fixed, RunState.FAILED)])
    changed, moved = groups.apply(changes.runs, changes.hosts)
    assert (changed, moved) == ({failed.group}, False)
    assert counts[RunState.FAILED] == 0
