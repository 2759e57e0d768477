"""Job files: validation, defaults and error messages with file:line:col."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobtui.config.errors import ConfigError
from jobtui.config.inventory import load_inventory
from jobtui.config.jobs import load_jobs
from jobtui.model import CleanupPolicy, JobSpec, Location

ROOT = Path(__file__).parent.parent


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def load(text: str) -> list[JobSpec]:
    Path("jobs.yml").write_text(text)
    return load_jobs("jobs.yml")


def error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(text)
    return info.value


def job(extra: str = "", head: str = "  - name: backup\n    hosts: dbservers\n") -> str:
    return "jobs:\n" + head + "    shell: pg_dump {{ item }}\n" + extra


def test_defaults() -> None:
    [spec] = load(job())
    assert spec == JobSpec(name="backup", hosts="dbservers", shell="pg_dump {{ item }}")
    assert (spec.timeout, spec.poll, spec.retries, spec.retry_delay) == (3600, 5.0, 0, 10.0)
    assert spec.cleanup is CleanupPolicy.NEVER and spec.loop is None
    assert spec.location == Location("jobs.yml", 2, 5)


def test_all_keys() -> None:
    [spec] = load(
        job(
            "    loop: [users_db, {name: orders_db}]\n    timeout: 60\n    poll: 0.5\n"
            "    progress: '(\\d+)%'\n    retries: 2\n    retry_delay: 0\n"
            "    cleanup: on_success\n    env: {PGHOST: db, N: 3, ON: yes}\n    chdir: /tmp\n"
        )
    )
    assert spec.loop == ("users_db", {"name": "orders_db"})
    assert type(spec.loop[1]) is dict
    assert (spec.timeout, spec.poll, spec.progress) == (60, 0.5, r"(\d+)%")
    assert (spec.retries, spec.retry_delay, spec.chdir) == (2, 0.0, "/tmp")
    assert spec.cleanup is CleanupPolicy.ON_SUCCESS
    assert spec.env == {"PGHOST": "db", "N": "3", "ON": "true"}


def test_unknown_key_message_matches_the_design() -> None:
    err = error(job("    poll: 5\n    tiemout: 30\n"))
    assert (
        str(err) == "unknown key 'tiemout' in job 'backup' (jobs.yml:6:5); did you mean 'timeout'?"
    )


def test_wrong_type_message_matches_the_design() -> None:
    err = error(job("    poll: 5\n    timeout: soon\n"))
    assert (
        str(err)
        == "'timeout' in job 'backup' must be a positive integer, at most 2592000 (30 days),"
        " got 'soon' (jobs.yml:6:14)"
    )


def test_async_is_an_alias_of_timeout() -> None:
    assert load(job("    async: 120\n"))[0].timeout == 120


def test_timeout_and_async_together_is_an_error() -> None:
    err = error(job("    timeout: 60\n    async: 60\n"))
    assert err.location == Location("jobs.yml", 6, 5)
    assert err.hint is not None and "line 5" in err.hint


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("    timeout: 0\n", "timeout"),
        ("    timeout: true\n", "timeout"),
        ("    poll: -1\n", "poll"),
        ("    poll: fast\n", "poll"),
        ("    retries: -1\n", "retries"),
        ("    retries: 1.5\n", "retries"),
        ("    retry_delay: -2\n", "retry_delay"),
        ("    chdir: ''\n", "chdir"),
        ("    env: [A]\n", "env"),
        ("    loop: users_db\n", "loop"),
    ],
)
def test_bad_value_points_at_the_value(extra: str, key: str) -> None:
    err = error(job(extra))
    assert err.message.startswith(f"'{key}' in job 'backup' must be")
    assert err.location is not None and (err.location.line, err.location.file) == (5, "jobs.yml")


def test_cleanup_suggests_a_valid_policy() -> None:
    err = error(job("    cleanup: onsuccess\n"))
    assert err.hint == "did you mean 'on_success'?"


def test_bad_progress_regex_has_location() -> None:
    err = error(job("    progress: '(\\d+'\n"))
    assert err.message.startswith("'progress' in job 'backup' is not a valid regex")
    assert err.location == Location("jobs.yml", 5, 15)


def test_duplicate_job_names_show_both_lines() -> None:
    err = error(job() + "  - name: backup\n    hosts: all\n    shell: 'true'\n")
    assert str(err) == "duplicate job name 'backup' (jobs.yml:5:11); first defined at line 2"


def test_shell_and_command_together_is_an_error() -> None:
    err = error(job("    command: ls\n"))
    assert "exactly one of 'shell' and 'command'" in err.message
    assert err.location == Location("jobs.yml", 5, 5)


def test_neither_shell_nor_command_is_an_error() -> None:
    err = error("jobs:\n  - name: x\n    hosts: all\n")
    assert "exactly one of" in err.message and err.location == Location("jobs.yml", 2, 5)


def test_missing_name_is_an_error() -> None:
    err = error("jobs:\n  - hosts: all\n    shell: 'true'\n")
    assert str(err).startswith("job #1 has no 'name' (jobs.yml:2:5)")


def test_missing_hosts_is_an_error() -> None:
    assert "has no 'hosts'" in error("jobs:\n  - name: x\n    shell: 'true'\n").message


def test_hosts_list_is_joined_into_one_pattern() -> None:
    [spec] = load(job(head="  - name: b\n    hosts: [web, db]\n"))
    assert spec.hosts == "web,db"


def test_null_loop_item_is_an_error() -> None:
    err = error(job("    loop: [a, ~]\n"))
    assert err.location == Location("jobs.yml", 5, 15)


@pytest.mark.parametrize("name", ["1BAD", "A-B", "JOBTUI_X"])
def test_bad_env_name_is_an_error(name: str) -> None:
    err = error(job(f"    env:\n      {name}: x\n"))
    assert err.location == Location("jobs.yml", 6, 7)
    assert f"'{name}'" in err.message


def test_template_syntax_error_is_found_at_load_time() -> None:
    err = error("jobs:\n  - name: b\n    hosts: all\n    shell: echo {{ item\n")
    assert err.message.startswith("template syntax error in 'shell' of job 'b'")
    assert err.location == Location("jobs.yml", 4, 12)


def test_unknown_top_level_key_is_an_error() -> None:
    err = error(job() + "job:\n  - x\n")
    assert str(err) == "unknown top-level key 'job' (jobs.yml:5:1); did you mean 'jobs'?"


def test_empty_jobs_list_is_an_error() -> None:
    assert error("jobs: []\n").location == Location("jobs.yml", 1, 7)


def test_job_that_is_not_a_mapping_is_an_error() -> None:
    assert error("jobs:\n  - just a string\n").location == Location("jobs.yml", 2, 5)


def test_playbook_style_list_is_an_error() -> None:
    assert "must be a YAML mapping" in error("- hosts: all\n").message


@pytest.mark.parametrize("name", ["backup.yml", "examples.yml"])
def test_example_job_files_load(name: str) -> None:
    assert load_jobs(str(ROOT / "config" / name))


SEEDS = [
    (ROOT / "config" / "backup.yml").read_text(),
    (ROOT / "config" / "examples.yml").read_text(),
    (ROOT / "config" / "inventory.yml").read_text(),
]
YAMLISH = st.sampled_from([*":-[]{}&*!|>'\"#%@`,?\n  \t", "\x00", "\xe9", "<<", "~"])


@st.composite
def mutated_yaml(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "dup"]))
        if op == "insert":
            text = text[:pos] + draw(YAMLISH) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 20)) :]
        else:
            text = text[:pos] + text[pos : pos + 40] + text[pos:]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(mutated_yaml(), st.text(max_size=200)))
def test_any_input_loads_or_raises_config_error_naming_the_file(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "fuzz.yml")
        Path(path).write_text(text, encoding="utf-8", errors="surrogatepass")
        for loader in (load_jobs, load_inventory):
            try:
                loader(path)
            except ConfigError as e:
                assert "fuzz.yml" in str(e)


@pytest.mark.parametrize(
    ("extra", "key", "expected"),
    [
        ("    retry_delay: .inf\n", "retry_delay", "from 0 to 86400 (a day), got inf"),
        ("    retry_delay: .nan\n", "retry_delay", "got nan"),
        ("    retry_delay: 86401\n", "retry_delay", "(a day)"),
        ("    poll: .inf\n", "poll", "0 (launch and leave) or from 0.1 to 86400"),
        ("    poll: -.inf\n", "poll", "got -inf"),
        ("    poll: .nan\n", "poll", "got nan"),
        ("    poll: 1e-300\n", "poll", "or from 0.1"),
        ("    timeout: 100000000000000000000\n", "timeout", "at most 2592000 (30 days)"),
        ("    async: 2592001\n", "async", "at most 2592000 (30 days)"),
        ("    retries: 1000000000\n", "retries", "at most 1000"),
    ],
)
def test_unbounded_times_and_counts_are_refused(extra: str, key: str, expected: str) -> None:
    err = error(job(extra))
    assert err.message.startswith(f"'{key}' in job 'backup' must be")
    assert expected in err.message
    assert err.location is not None and err.location.line == 5


def test_the_largest_allowed_values_load() -> None:
    [spec] = load(
        job("    timeout: 2592000\n    poll: 86400\n    retry_delay: 86400\n    retries: 1000\n")
    )
    assert (spec.timeout, spec.poll, spec.retry_delay, spec.retries) == (
        2592000,
        86400.0,
        86400.0,
        1000,
    )
