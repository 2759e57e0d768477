"""The flow keys in job files (`per_host`, `throttle`, `max_fail_percentage`, the top
level's `notify`) and on the command line: values, errors with file:line, hints."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobtui.cli import main
from jobtui.config.errors import ConfigError
from jobtui.config.jobs import load_job_file
from jobtui.flow import with_max_fail_percentage
from jobtui.model import Host, RunSpec

HEAD = "jobs:\n  - name: dump\n    hosts: db\n    shell: pg_dump\n"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "jobs.yml"
    path.write_text(text)
    return str(path)


def test_the_flow_keys_and_notify_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "notify: mail -s jobtui ops@example.com\n"
        + HEAD
        + "    per_host: 1\n    throttle: 10\n    max_fail_percentage: 12.5\n",
    )
    loaded = load_job_file(path)
    [job] = loaded.jobs
    assert (job.per_host, job.throttle, job.max_fail_percentage) == (1, 10, 12.5)
    assert loaded.notify == "mail -s jobtui ops@example.com"
    assert load_job_file(write(tmp_path, HEAD)).notify is None


@pytest.mark.parametrize(
    ("line", "column", "start", "hint"),
    [
        ("per_host: 0", 15, "'per_host' in job 'dump' must be a positive integer", "per_host: 1"),
        ("throttle: many", 15, "'throttle' in job 'dump' must be a positive integer", "throttle:"),
        (
            "max_fail_percentage: 120",
            26,
            "'max_fail_percentage' in job 'dump' must be a percentage from 0 to 100, got 120",
            "0 stops at the first failure",
        ),
        ("max_fail_percentage: .nan", 26, "'max_fail_percentage' in job 'dump'", "for example"),
        ("per_host: true", 15, "'per_host' in job 'dump' must be a positive integer", "no limit"),
    ],
)
def test_bad_values_are_config_errors_at_their_line(
    tmp_path: Path, line: str, column: int, start: str, hint: str
) -> None:
    path = write(tmp_path, HEAD + f"    {line}\n")
    with pytest.raises(ConfigError) as info:
        load_job_file(path)
    err = info.value
    assert err.message.startswith(start) and err.location is not None
    assert (err.location.file, err.location.line, err.location.column) == (path, 5, column)
    assert hint in (err.hint or "")


def test_a_limit_with_poll_0_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "    poll: 0\n    throttle: 2\n")
    with pytest.raises(ConfigError) as info:
        load_job_file(path)
    assert "cannot hold runs launched with 'poll: 0'" in info.value.message
    assert info.value.location is not None and info.value.location.line == 6
    assert "set poll: N" in (info.value.hint or "")


@pytest.mark.parametrize("value", ["''", "3", "[a, b]"])
def test_a_notify_that_is_not_a_command_is_refused(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f"notify: {value}\n" + HEAD)
    with pytest.raises(ConfigError) as info:
        load_job_file(path)
    assert info.value.message.startswith("'notify' must be a shell command")
    assert info.value.location is not None and info.value.location.line == 1


def test_a_misspelt_top_level_key_suggests_notify(tmp_path: Path) -> None:
    path = write(tmp_path, "notfy: x\n" + HEAD)
    with pytest.raises(ConfigError, match="did you mean 'notify'"):
        load_job_file(path)


def test_check_reports_a_bad_limit_with_file_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, HEAD + "    per_host: 0\n")
    inventory = tmp_path / "inv.yml"
    inventory.write_text("db:\n  hosts:\n    db1:\n      ansible_connection: local\n")
    assert main(["check", path, "-i", str(inventory)]) == 2
    assert f"({path}:5:15)" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["120", "-1", "nan", "lots"])
def test_a_bad_max_fail_percentage_on_the_command_line_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "jobs.yml", "--max-fail-percentage", value])
    assert info.value.code == 2
    assert "is not a percentage from 0 to 100" in capsys.readouterr().err


def test_the_command_line_s_max_fail_percentage_wins_for_every_job(tmp_path: Path) -> None:
    [job] = load_job_file(write(tmp_path, HEAD + "    max_fail_percentage: 50\n")).jobs
    host = Host("db1", "127.0.0.1")
    runs = [RunSpec(job, host, i, i, "pg_dump") for i in range(3)]
    changed = with_max_fail_percentage(runs, 0)
    assert [r.job.max_fail_percentage for r in changed] == [0, 0, 0]
    assert changed[0].job is changed[2].job  # one job spec, as the store keeps it
    assert [r.item for r in changed] == [0, 1, 2]
