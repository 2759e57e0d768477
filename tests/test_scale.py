"""Large inventories and job files: linear work, and size limits that say what is wrong.

No timing is asserted tightly: each case must return within a generous bound (the
quadratic code this guards against took minutes at 100,000 hosts); bench/inventory_load.py
prints the real figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jobtui.config.errors import ConfigError
from jobtui.config.inventory import MAX_RANGE_HOSTS, Inventory, expand_hosts, load_inventory
from jobtui.config.jobs import load_jobs
from jobtui.config.patterns import select_hosts
from jobtui.config.yamlsrc import MAX_NODES
from jobtui.model import Host, Location
from jobtui.plan import MAX_RUNS, build_plan, format_plan
from tests.helpers import run_jobtui
from tests.test_progress import returns_within

HERE = Location("inv.yml", 3, 5)
BIG_RANGE = "all:\n  hosts:\n    h[00000:99999]:\n      ansible_connection: local\n"
ONE_JOB = "jobs:\n  - name: j\n    hosts: all\n    shell: echo {{ inventory_hostname }}\n"


def test_a_100000_host_range_loads_checks_and_prints_within_a_generous_bound(
    tmp_path: Path,
) -> None:
    (tmp_path / "inv.yml").write_text(BIG_RANGE)
    (tmp_path / "jobs.yml").write_text(ONE_JOB)

    def work() -> str:
        inventory = load_inventory(str(tmp_path / "inv.yml"))
        assert len(inventory.hosts) == 100_000 and len(inventory.groups["all"]) == 100_000
        assert len(select_hosts(inventory, "all:!h00001:&ungrouped")) == 99_999
        plan = build_plan(load_jobs(str(tmp_path / "jobs.yml")), inventory)
        return format_plan(plan)

    table = returns_within(120, work)
    assert isinstance(table, str) and table.endswith("100000 run(s) of 1 job(s) on 100000 host(s)")


def test_inventory_from_hosts_is_linear() -> None:
    hosts = [Host(f"h{i}", f"h{i}", groups=("web",)) for i in range(100_000)]
    inventory = returns_within(60, lambda: Inventory.from_hosts(hosts))
    assert isinstance(inventory, Inventory) and len(inventory.groups["web"]) == 100_000


def test_a_range_over_the_limit_says_how_many_hosts_and_what_to_do() -> None:
    with pytest.raises(ConfigError) as info:
        expand_hosts("h[000000:100000]", HERE)
    assert info.value.message == (
        "host range 'h[000000:100000]' expands to 100,001 hosts, more than 100,000"
    )
    assert info.value.location == HERE and info.value.hint is not None
    assert "alias" not in str(info.value)


def test_a_range_of_ranges_over_the_limit_is_refused_without_expanding_it() -> None:
    with pytest.raises(ConfigError, match="expands to 1,000,000,000,000 hosts"):
        returns_within(60, lambda: expand_hosts("h[0:999999]x[0:999999]", HERE))


def test_ranges_adding_up_over_the_limit_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_text("all:\n  hosts:\n    a[00000:99999]:\n    b[00000:99999]:\n")
    with pytest.raises(ConfigError) as info:
        returns_within(120, lambda: load_inventory(str(path)))
    assert f"more than {MAX_RANGE_HOSTS:,} hosts" in info.value.message
    assert info.value.location == Location(str(path), 4, 5)


def test_a_long_loop_list_is_named_as_such_not_as_aliases(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yml"
    items = "".join(f"      - i{n}\n" for n in range(MAX_NODES + 1))
    path.write_text(f"jobs:\n  - name: j\n    hosts: all\n    shell: 'true'\n    loop:\n{items}")
    with pytest.raises(ConfigError) as info:
        load_jobs(str(path))
    assert "alias" not in str(info.value)
    assert f"more than {MAX_NODES:,} values" in info.value.message
    assert info.value.hint is not None and "split" in info.value.hint


def test_a_plan_over_the_run_limit_is_refused_before_it_is_built(tmp_path: Path) -> None:
    (tmp_path / "inv.yml").write_text("all:\n  hosts:\n    h[0:9999]:\n")
    items = ", ".join(str(n) for n in range(MAX_RUNS // 10_000 + 1))
    (tmp_path / "jobs.yml").write_text(
        f"jobs:\n  - name: j\n    hosts: all\n    shell: 'true'\n    loop: [{items}]\n"
    )
    inventory = load_inventory(str(tmp_path / "inv.yml"))
    jobs = load_jobs(str(tmp_path / "jobs.yml"))
    with pytest.raises(ConfigError) as info:
        returns_within(60, lambda: build_plan(jobs, inventory))
    assert f"more than {MAX_RUNS:,}" in info.value.message
    assert info.value.location == Location(str(tmp_path / "jobs.yml"), 3, 12)


def test_check_of_an_oversized_range_exits_2_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "inv.yml").write_text("all:\n  hosts:\n    h[000000:100000]:\n")
    (tmp_path / "jobs.yml").write_text(ONE_JOB)
    result = run_jobtui(
        "check", str(tmp_path / "jobs.yml"), "-i", str(tmp_path / "inv.yml"), timeout=120
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "expands to 100,001 hosts" in result.stderr and "inv.yml:3:5" in result.stderr


def test_hosts_in_too_many_nested_groups_are_refused(tmp_path: Path) -> None:
    lines = ["all:", "  children:", "    g0:"]
    for i in range(100):
        lines += [f"g{i}:", "  children:", f"    g{i + 1}:"]
    lines += ["g100:", "  hosts:", "    h[00000:99999]:"]
    path = tmp_path / "inv.yml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as info:
        returns_within(120, lambda: load_inventory(str(path)))
    assert "more than 5,000,000 host-in-group memberships" in info.value.message
    assert "group 'g100': 100,000 hosts x 102 groups" in info.value.message
