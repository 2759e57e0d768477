"""become in the configuration: the job keys, the inventory's `ansible_become*` vars,
which one wins, the planner's checks and `jobtui check`'s AS column."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobtui.cli import main
from jobtui.config.errors import ConfigError
from jobtui.config.inventory import Inventory
from jobtui.config.jobs import load_jobs
from jobtui.config.sources import load_inventories
from jobtui.model import Become, Host, JobSpec, Location, become_of
from jobtui.plan import build_plan, format_plan


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def jobs(extra: str) -> list[JobSpec]:
    Path("jobs.yml").write_text(
        "jobs:\n  - name: backup\n    hosts: all\n    shell: pg_dump\n" + extra
    )
    return load_jobs("jobs.yml")


def job_error(extra: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        jobs(extra)
    return info.value


def inventory(text: str, name: str = "hosts") -> Inventory:
    Path(name).write_text(text)
    return load_inventories([name])


def inventory_error(text: str, name: str = "hosts") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        inventory(text, name)
    return info.value


# -- job keys ---------------------------------------------------------------------


def test_a_job_without_become_keys_leaves_them_to_the_host() -> None:
    [spec] = jobs("")
    assert (spec.become, spec.become_user, spec.become_method) == (None, None, None)


def test_become_keys_are_read_from_the_job() -> None:
    [spec] = jobs("    become: true\n    become_user: postgres\n    become_method: sudo\n")
    assert (spec.become, spec.become_user, spec.become_method) == (True, "postgres", "sudo")
    assert spec.where("become_user") == Location("jobs.yml", 6, 18)


def test_become_false_is_kept_as_false_not_as_unset() -> None:
    [spec] = jobs("    become: no\n")  # YAML 1.1's no, as Ansible reads it
    assert spec.become is False


def test_a_quoted_yes_is_not_a_boolean() -> None:
    err = job_error("    become: 'yes'\n")
    assert str(err) == (
        "'become' in job 'backup' must be true or false, got 'yes' (jobs.yml:5:13);"
        " write become: true (unquoted)"
    )


def test_become_user_must_be_a_user_name() -> None:
    err = job_error("    become: true\n    become_user: -rf\n")
    assert str(err).startswith(
        "'become_user' in job 'backup' must be a user name, got '-rf' (jobs.yml:6:18);"
    )
    assert "postgres" in str(err)


@pytest.mark.parametrize("value", ["'root; id'", "'a b'", "5", "''", '"root\\n"', "[root]"])
def test_become_user_refuses_what_is_no_user_name(value: str) -> None:
    err = job_error(f"    become_user: {value}\n")
    assert err.message.startswith("'become_user' in job 'backup' must be a user name")
    assert err.location == Location("jobs.yml", 5, 18)


def test_a_templated_become_user_says_it_is_not_templated() -> None:
    err = job_error("    become_user: '{{ pg_user }}'\n")
    assert err.hint == "become_user is not templated: write the user's name"


def test_become_method_su_is_refused_as_not_supported_yet() -> None:
    err = job_error("    become: true\n    become_method: su\n")
    assert err.message == "become_method 'su' is not supported yet (jobtui becomes with sudo)"
    assert err.location == Location("jobs.yml", 6, 20)
    assert err.hint is not None and "sudo is the default" in err.hint


@pytest.mark.parametrize("method", ["doas", "pbrun", "pfexec", "dzdo", "machinectl"])
def test_other_ansible_become_methods_are_refused_too(method: str) -> None:
    err = job_error(f"    become_method: {method}\n")
    assert (
        err.message == f"become_method '{method}' is not supported yet (jobtui becomes with sudo)"
    )


def test_a_misspelt_become_method_gets_did_you_mean() -> None:
    err = job_error("    become_method: sduo\n")
    assert str(err) == (
        "'become_method' in job 'backup' must be sudo, got 'sduo' (jobs.yml:5:20);"
        " did you mean 'sudo'?"
    )


@pytest.mark.parametrize(
    ("typo", "key"),
    [("becom", "become"), ("become_usr", "become_user"), ("become_metod", "become_method")],
)
def test_a_misspelt_become_key_gets_did_you_mean(typo: str, key: str) -> None:
    err = job_error(f"    {typo}: x\n")
    assert str(err) == (
        f"unknown key '{typo}' in job 'backup' (jobs.yml:5:5); did you mean '{key}'?"
    )


# -- inventory vars ---------------------------------------------------------------


def test_yaml_inventory_become_vars_reach_the_host() -> None:
    inv = inventory(
        "all:\n  hosts:\n    db1:\n      ansible_become: true\n"
        "      ansible_become_user: postgres\n      ansible_become_method: sudo\n"
        "    web1: {}\n",
        "hosts.yml",
    )
    db1, web1 = inv.hosts["db1"], inv.hosts["web1"]
    assert (db1.become, db1.become_user, db1.become_method) == (True, "postgres", "sudo")
    assert (web1.become, web1.become_user, web1.become_method) == (False, None, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("yes", True),
        ("YES", True),
        ("true", True),
        ("True", True),
        ("on", True),
        ("1", True),
        ("no", False),
        ("False", False),
        ("off", False),
        ("0", False),
    ],
)
def test_ini_ansible_become_reads_as_ansible_boolean_reads_it(value: str, expected: bool) -> None:
    inv = inventory(f"[db]\ndb1 ansible_become={value}\n")
    assert inv.hosts["db1"].become is expected


def test_ini_group_vars_set_become_for_every_host_of_the_group() -> None:
    inv = inventory("[db]\ndb1\ndb2\n[db:vars]\nansible_become=yes\nansible_become_user=postgres\n")
    assert [(h.become, h.become_user) for h in inv.hosts.values()] == [(True, "postgres")] * 2


def test_a_bad_ansible_become_names_the_host_the_var_and_where() -> None:
    err = inventory_error("[db]\ndb1 ansible_become=maybe\n")
    assert err.message == "'ansible_become' of host 'db1' must be a boolean, got 'maybe'"
    assert err.location is not None and (err.location.file, err.location.line) == ("hosts", 2)
    assert err.hint is not None and "ansible_become=true" in err.hint


def test_a_bad_ansible_become_in_yaml_is_an_error_too() -> None:
    err = inventory_error("all:\n  hosts:\n    db1:\n      ansible_become: [x]\n", "hosts.yml")
    assert err.message == "'ansible_become' of host 'db1' must be a boolean, got a list"
    assert err.location is not None and err.location.line == 4


def test_the_become_password_stays_in_the_host_vars_only() -> None:
    inv = inventory("[db]\ndb1 ansible_become=yes ansible_become_password=hunter2\n")
    db1 = inv.hosts["db1"]
    assert db1.vars["ansible_become_password"] == "hunter2"
    fields = {k: v for k, v in vars(db1).items() if k != "vars"}
    assert "hunter2" not in repr(fields)


# -- precedence and the plan -------------------------------------------------------


def host(name: str = "db1", **become: object) -> Host:
    return Host(name, "10.0.0.1", groups=("db",), **become)  # type: ignore[arg-type]


def spec(**kw: object) -> JobSpec:
    fields: dict[str, object] = {
        "name": "backup",
        "hosts": "all",
        "shell": "pg_dump",
        "location": Location("jobs.yml", 2, 5),
        "key_locations": {"become": Location("jobs.yml", 5, 13)},
    }
    fields.update(kw)
    return JobSpec(**fields)  # type: ignore[arg-type]


def test_the_job_keys_win_over_the_host_vars() -> None:
    h = host(become=True, become_user="postgres")
    assert become_of(spec(), h) == Become("postgres")
    assert become_of(spec(become=False), h) is None
    assert become_of(spec(become_user="backup"), h) == Become("backup")
    assert become_of(spec(become=True), host()) == Become("root")


def test_the_plan_gives_each_run_its_become() -> None:
    inv = Inventory.from_hosts([host("db1", become=True), host("db2")])
    plan = build_plan([spec(loop=("a", "b"))], inv)
    assert [(r.host.name, r.become) for r in plan.runs] == [
        ("db1", Become("root")),
        ("db1", Become("root")),
        ("db2", None),
        ("db2", None),
    ]


def test_the_job_key_is_read_from_a_job_file_through_the_plan() -> None:
    inv = inventory("[db]\ndb1 ansible_become=yes ansible_become_user=postgres\n")
    [run] = build_plan(jobs("    become: false\n"), inv).runs
    assert run.become is None


def test_an_inventory_su_is_a_plan_error_naming_job_host_and_variable() -> None:
    inv = Inventory.from_hosts([host(become=True, become_method="su")])
    with pytest.raises(ConfigError) as info:
        build_plan([spec()], inv)
    assert info.value.message == (
        "job 'backup' becomes with ansible_become_method=su on host 'db1',"
        " which is not supported yet (jobtui becomes with sudo)"
    )
    assert info.value.location == Location("jobs.yml", 5, 13)
    assert info.value.hint is not None and "become_method: sudo" in info.value.hint


def test_an_inventory_su_on_a_host_whose_job_does_not_become_is_no_error() -> None:
    inv = Inventory.from_hosts([host(become=True, become_method="su")])
    assert build_plan([spec(become=False)], inv).runs[0].become is None


def test_a_job_become_method_wins_over_an_inventory_su() -> None:
    inv = Inventory.from_hosts([host(become=True, become_method="su")])
    assert build_plan([spec(become_method="sudo")], inv).runs[0].become == Become("root")


def test_a_bad_inventory_become_user_is_a_plan_error() -> None:
    inv = inventory("[db]\ndb1 ansible_become=yes 'ansible_become_user=-rf /'\n")
    with pytest.raises(ConfigError) as info:
        build_plan([spec()], inv)
    assert info.value.message == (
        "job 'backup' becomes ansible_become_user=-rf / on host 'db1', which is not a user name"
    )


def test_a_hand_built_job_with_a_bad_user_is_a_plan_error_naming_its_key() -> None:
    inv = Inventory.from_hosts([host()])
    with pytest.raises(ConfigError) as info:
        build_plan([spec(become=True, become_user="root\n")], inv)
    assert (
        info.value.message == "job 'backup' becomes become_user 'root\\n', which is not a user name"
    )


# -- jobtui check --------------------------------------------------------------------


def test_format_plan_adds_an_as_column_when_a_run_becomes() -> None:
    inv = Inventory.from_hosts([host("db1", become=True), host("db2", become_user="pg")])
    plan = build_plan([spec(), spec(name="pg", become=True)], inv)
    lines = format_plan(plan).splitlines()
    assert lines[0].split() == ["JOB", "HOST", "AS", "ITEM", "TIMEOUT", "COMMAND"]
    assert lines[0].index("AS") == lines[1].index("root")
    assert lines[1].split() == ["backup", "db1", "root", "3600s", "pg_dump"]
    assert lines[2].split() == ["backup", "db2", "3600s", "pg_dump"]  # the login user
    assert lines[2][lines[0].index("AS") :].startswith("    ")
    assert lines[4].split() == ["pg", "db2", "pg", "3600s", "pg_dump"]


def test_format_plan_is_unchanged_when_no_run_becomes() -> None:
    inv = Inventory.from_hosts([host("db1", become_user="postgres")])  # no ansible_become
    text = format_plan(build_plan([spec()], inv))
    assert text == (
        "JOB     HOST  ITEM  TIMEOUT  COMMAND\n"
        "backup  db1         3600s    pg_dump\n"
        "1 run(s) of 1 job(s) on 1 host(s)"
    )


def test_check_prints_who_each_run_runs_as(capsys: pytest.CaptureFixture[str]) -> None:
    Path("hosts").write_text(
        "[db]\ndb1 ansible_connection=local ansible_become=yes\nweb1 ansible_connection=local\n"
    )
    Path("jobs.yml").write_text(
        "jobs:\n  - name: dump\n    hosts: all\n    shell: pg_dump\n    become_user: postgres\n"
    )
    assert main(["check", "jobs.yml", "-i", "hosts"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["JOB", "HOST", "AS"]
    assert [line.split()[:3] for line in lines[1:3]] == [
        ["dump", "db1", "postgres"],
        ["dump", "web1", "3600s"],
    ]


def test_check_refuses_an_inventory_su_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    Path("hosts").write_text(
        "db1 ansible_connection=local ansible_become=yes ansible_become_method=su\n"
    )
    Path("jobs.yml").write_text("jobs:\n  - name: dump\n    hosts: all\n    shell: pg_dump\n")
    assert main(["check", "jobs.yml", "-i", "hosts"]) == 2
    err = capsys.readouterr().err
    assert "ansible_become_method=su on host 'db1'" in err
    assert "Traceback" not in err
