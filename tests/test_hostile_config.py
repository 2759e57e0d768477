"""Hostile job files and inventories: `jobtui check` answers exit 2 with a reason, quickly.

Each case is a real `python -m jobtui check` process: what a user sees, never a
traceback, never a hang (the subprocess timeout is generous on purpose: the suite
asserts that it returns, not how fast).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_jobtui

INVENTORY = "all:\n  hosts:\n    h1:\n      ansible_connection: local\n"


def check(
    tmp_path: Path, jobs: str, inventory: str = INVENTORY, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "jobs.yml").write_text(jobs)
    (tmp_path / "inv.yml").write_text(inventory)
    return run_jobtui(
        "check", str(tmp_path / "jobs.yml"), "-i", str(tmp_path / "inv.yml"), timeout=timeout
    )


def shell_job(shell: str, extra: str = "") -> str:
    return f"jobs:\n  - name: j\n    hosts: all\n    shell: {shell!r}\n{extra}"


def assert_refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("shell", "words"),
    [
        ("echo {{ 'x' * 10**11 }}", ["jobs.yml:4:12", "1 MiB"]),
        ("echo {{ 10 ** (10 ** 10) }}", ["jobs.yml:4:12", "too large"]),
        ("echo {{ (10 ** 1000) * (10 ** 1000) * (10 ** 50000) }}", ["too large"]),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}echo",
            ["jobs.yml:4:12", "2 s"],
        ),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            ["jobs.yml:4:12", "at most"],  # 1 MiB or 2 s, whichever comes first
        ),
        (
            "{% set l = [1] %}{% for i in l %}{% set _ = l.append(i) %}{% endfor %}echo",
            ["jobs.yml:4:12"],
        ),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}echo",
            ["jobs.yml:4:12", "1 MiB"],
        ),
        ("echo {{ 'x' | center(10**10) }}", ["jobs.yml:4:12"]),
        ("echo {{ ('x\\n' * 1000) | indent(1000000) }}", ["jobs.yml:4:12"]),
        ("echo {{ '%0999999999d' % 1 }}", ["jobs.yml:4:12"]),
        ("echo {{ '%0999999999d' | format(1) }}", ["jobs.yml:4:12"]),
        ("echo {{ 'x'.ljust(10**10) }}", ["jobs.yml:4:12"]),
        ("echo {{ '{:999999999}'.format(1) }}", ["jobs.yml:4:12"]),
        ("echo {{ '{:999999999}'['format'](1) }}", ["jobs.yml:4:12"]),
        ("echo {{ '{:{}}'.format(1, 999999999) }}", ["jobs.yml:4:12"]),
        ("echo {{ ('x' * 1000000).replace('', 'yy') }}", ["jobs.yml:4:12"]),
    ],
)
def test_template_bombs_are_refused(tmp_path: Path, shell: str, words: list[str]) -> None:
    assert_refused(check(tmp_path, shell_job(shell)), *words)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("    retry_delay: .inf\n", ["jobs.yml:5:18", "(a day), got inf"]),
        ("    poll: .nan\n", ["jobs.yml:5:11", "got nan"]),
        ("    timeout: 100000000000000000000\n", ["jobs.yml:5:14", "(30 days)"]),
    ],
)
def test_endless_times_are_refused(tmp_path: Path, extra: str, words: list[str]) -> None:
    assert_refused(check(tmp_path, shell_job("true", extra)), *words)


def long_group_chain(groups: int) -> str:
    """g0 > g1 > ... > gN, written from the deepest parent down: no memo helps."""
    lines = []
    for i in range(groups, -1, -1):
        lines += [f"g{i}:", "  children:", f"    g{i + 1}:"]
    lines += [f"g{groups + 1}:", "  hosts:", "    h1:", "      ansible_connection: local"]
    return "\n".join(lines) + "\n"


def test_a_long_group_chain_loads(tmp_path: Path) -> None:
    """3,000 groups, each the child of the last: three times Python's recursion limit,
    which a recursive depth computation hit (it was 30,000 here: 37 s for the same proof)."""
    jobs = shell_job("echo {{ group_names | length }}")
    result = check(tmp_path, jobs, long_group_chain(3_000))
    assert result.returncode == 0, result.stderr
    assert "echo 3002" in result.stdout


def test_a_backtracking_host_regex_is_refused(tmp_path: Path) -> None:
    jobs = "jobs:\n  - name: j\n    hosts: '~(a|aa)+$'\n    shell: 'true'\n"
    inventory = "all:\n  hosts:\n" + "".join(f"    {'a' * 40}{n}:\n" for n in range(3))
    assert_refused(check(tmp_path, jobs, inventory), "jobs.yml:3:12", "too long")


def test_a_host_pattern_of_many_globs_over_many_hosts_is_refused(tmp_path: Path) -> None:
    hosts = ":".join(f"h*{n}" for n in range(5000))
    jobs = f"jobs:\n  - name: j\n    hosts: '{hosts}'\n    shell: 'true'\n"
    inventory = "all:\n  hosts:\n    h[00000:09999]:\n"
    assert_refused(check(tmp_path, jobs, inventory), "jobs.yml:3:12", "too costly")
