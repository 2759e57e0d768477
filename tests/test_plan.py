"""The planner: jobs x hosts x loop items, rendered."""

from __future__ import annotations

import pytest

from jobtui.config.errors import ConfigError
from jobtui.config.inventory import Inventory
from jobtui.model import Host, JobSpec, Location
from jobtui.plan import build_plan, format_plan

WHERE = Location("jobs.yml", 2, 5)


@pytest.fixture
def inv() -> Inventory:
    return Inventory.from_hosts(
        [
            Host("db1", "10.0.0.1", groups=("dbservers",), vars={"pg_port": 5432}),
            Host("db2", "10.0.0.2", groups=("dbservers",), vars={"pg_port": 5433}),
            Host("web1", "10.0.0.3", groups=("webservers",)),
        ]
    )


def spec(**kw: object) -> JobSpec:
    fields: dict[str, object] = {"name": "backup", "hosts": "dbservers", "location": WHERE}
    fields.update(kw)
    return JobSpec(**fields)  # type: ignore[arg-type]


def test_one_run_per_host_per_item_in_order(inv: Inventory) -> None:
    plan = build_plan([spec(shell="dump {{ item }}", loop=("a", "b"))], inv)
    assert [(r.host.name, r.item, r.index) for r in plan.runs] == [
        ("db1", "a", 0),
        ("db1", "b", 1),
        ("db2", "a", 0),
        ("db2", "b", 1),
    ]


def test_without_loop_one_run_with_item_none(inv: Inventory) -> None:
    [run, _] = build_plan([spec(shell="uptime")], inv).runs
    assert (run.item, run.index, run.label, run.script) == (None, 0, "", "uptime")


def test_empty_loop_gives_no_runs(inv: Inventory) -> None:
    assert build_plan([spec(shell="x {{ item }}", loop=())], inv).runs == []


def test_shell_gets_host_vars_and_quoted_item(inv: Inventory) -> None:
    plan = build_plan([spec(shell="pg_dump -p {{ pg_port }} {{ item }}", loop=("x; rm",))], inv)
    assert [r.script for r in plan.runs] == ["pg_dump -p 5432 'x; rm'", "pg_dump -p 5433 'x; rm'"]


def test_command_becomes_an_exec_line(inv: Inventory) -> None:
    [run, _] = build_plan(
        [spec(command="du -sh {{ item.dir }}", loop=({"dir": "/a b"},))], inv
    ).runs
    assert run.script == "exec du -sh '/a b'"


def test_magic_variables_are_available(inv: Inventory) -> None:
    template = (
        "{{ inventory_hostname }} {{ group_names | join(',') }} {{ groups['dbservers'] | length }}"
    )
    [run] = build_plan([spec(hosts="db2", shell=f"echo {template}")], inv).runs
    assert run.script == "echo db2 dbservers 2"


def test_env_and_chdir_are_rendered_plain(inv: Inventory) -> None:
    job = spec(
        shell="true", env={"DB": "{{ item }} x"}, chdir="/b/{{ inventory_hostname }}", loop=("u",)
    )
    run = build_plan([job], inv).runs[0]
    assert (run.env, run.chdir) == ({"DB": "u x"}, "/b/db1")


def test_limit_intersects_with_the_job_pattern(inv: Inventory) -> None:
    plan = build_plan([spec(shell="true")], inv, limit="db2:web1")
    assert [r.host.name for r in plan.runs] == ["db2"]


def test_job_without_hosts_after_limit_has_no_runs(inv: Inventory) -> None:
    plan = build_plan(
        [spec(shell="true"), spec(name="web", hosts="webservers", shell="true")], inv, limit="web1"
    )
    assert [r.job.name for r in plan.runs] == ["web"]
    assert "(job 'backup': no host selected)" in format_plan(plan)


def test_unknown_limit_name_is_an_error(inv: Inventory) -> None:
    with pytest.raises(ConfigError, match="'db3' in --limit matches no host"):
        build_plan([spec(shell="true")], inv, limit="db3")


def test_unknown_job_pattern_is_an_error_at_the_job(inv: Inventory) -> None:
    with pytest.raises(ConfigError) as info:
        build_plan([spec(hosts="dbserver", shell="true")], inv)
    assert str(info.value) == (
        "host pattern 'dbserver' of job 'backup' matches no host or group (jobs.yml:2:5);"
        " did you mean 'dbservers'?"
    )


def test_undefined_variable_names_job_host_and_location(inv: Inventory) -> None:
    with pytest.raises(ConfigError) as info:
        build_plan([spec(hosts="web1", shell="pg_dump -p {{ pg_port }}")], inv)
    assert info.value.message == "'pg_port' is undefined in 'shell' of job 'backup' for host 'web1'"
    assert info.value.location == WHERE


def test_hosts_lists_used_hosts_in_inventory_order(inv: Inventory) -> None:
    jobs = [spec(name="w", hosts="web1", shell="true"), spec(hosts="db1", shell="true")]
    assert [h.name for h in build_plan(jobs, inv).hosts()] == ["db1", "web1"]


def test_format_plan_shows_one_line_per_run_and_a_summary(inv: Inventory) -> None:
    text = format_plan(build_plan([spec(shell="pg_dump {{ item }}", loop=("users_db",))], inv))
    lines = text.splitlines()
    assert lines[0].split() == ["JOB", "HOST", "ITEM", "TIMEOUT", "COMMAND"]
    assert lines[1].split() == ["backup", "db1", "users_db", "3600s", "pg_dump", "users_db"]
    assert lines[-1] == "2 run(s) of 1 job(s) on 2 host(s)"


def test_format_plan_cuts_long_commands(inv: Inventory) -> None:
    text = format_plan(build_plan([spec(hosts="db1", shell="echo " + "x" * 200)], inv), width=20)
    assert text.splitlines()[1].endswith("echo xxxxxxxxxxxxxx…")
