"""Flow control over real sshd hosts: `per_host`, `throttle` and `max_fail_percentage`,
proved by the times the jobs themselves write on the hosts."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from jobtui.cli import main
from jobtui.store import Store

STAMP = 'echo "$(date +%s.%N) {{ inventory_hostname }}" >> '
"""A job's first and last words: when it ran (the hosts share this machine's clock)."""


def write_jobs(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body))
    return path


def run_json(
    capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, list[dict[str, Any]], str]:
    code = main(["run", *argv, "--headless", "--json"])
    out = capsys.readouterr()
    return code, [json.loads(line) for line in out.out.splitlines()], out.err


def stamped(out: Path, sleep: float) -> str:
    """A job that writes its start and end times into its own file under `out`."""
    file = f"{out}/{{{{ inventory_hostname }}}}-{{{{ item }}}}"
    return f"{STAMP}{file}; sleep {sleep}; {STAMP}{file}"


def intervals(out: Path) -> list[tuple[float, float, str]]:
    """(start, end, host) of every run, from the files its job wrote."""
    spans = []
    for f in sorted(out.iterdir()):
        (start, host), (end, _) = (line.split() for line in f.read_text().splitlines())
        spans.append((float(start), float(end), host))
    return spans


def most_at_once(spans: list[tuple[float, float, str]]) -> int:
    """The largest number of the intervals that overlap (an end before a start at the
    same instant: back to back is not at once)."""
    edges = sorted([(s, 1) for s, _, _ in spans] + [(e, -1) for _, e, _ in spans])
    now = best = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best


def test_per_host_1_is_never_exceeded_on_a_host_and_every_host_is_used_at_once(
    fleet_inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "stamps"
    out.mkdir()
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        f"""
        jobs:
          - name: dump
            hosts: fleet
            loop: [a, b, c]
            shell: '{stamped(out, 1.5)}'
            poll: 0.2
            per_host: 1
        """,
    )
    state = str(tmp_path / "state")
    code, lines, _ = run_json(capsys, str(jobs), "-i", str(fleet_inventory), "--state-dir", state)
    assert code == 0
    assert lines[-1]["counts"] == {"succeeded": 9}
    spans = intervals(out)
    assert len(spans) == 9
    for host in ("host1", "host2", "host3"):
        assert most_at_once([s for s in spans if s[2] == host]) == 1
    assert most_at_once(spans) == 3  # the limit is per host: the three ran side by side
    waits = [e for e in lines if e["event"] == "run" and e["state"] == "pending"]
    assert waits and {e["reason"] for e in waits} == {"waiting: per_host 1"}


def test_throttle_2_is_reached_and_never_exceeded_in_the_batch(
    fleet_inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "stamps"
    out.mkdir()
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        f"""
        jobs:
          - name: ship
            hosts: fleet
            loop: [a, b]
            shell: '{stamped(out, 1.5)}'
            poll: 0.2
            throttle: 2
        """,
    )
    state = str(tmp_path / "state")
    code, lines, _ = run_json(capsys, str(jobs), "-i", str(fleet_inventory), "--state-dir", state)
    assert code == 0
    spans = intervals(out)
    assert len(spans) == 6
    assert most_at_once(spans) == 2
    waiting = {(e["host"], e["item"]) for e in lines if e.get("reason") == "waiting: throttle 2"}
    assert len(waiting) >= 4  # 6 runs, 2 at once: the other 4 waited, and said so


def failing_jobs(tmp_path: Path, *extra: str, shell: str = "exit 1", items: int = 10) -> Path:
    """One job of `items` runs on host1, one at a time; each says it was launched."""
    lines = [
        "jobs:",
        "  - name: migrate",
        "    hosts: host1",
        f"    loop: {list(range(1, items + 1))}",
        f"    shell: 'echo {{{{ item }}}} >> {tmp_path}/launched; {shell}'",
        "    poll: 0.2",
        "    throttle: 1",
        *(f"    {line}" for line in extra),
    ]
    path = tmp_path / "jobs.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_max_fail_percentage_20_over_10_failing_runs_launches_exactly_3(
    fleet_inventory: Path,
    fleet_jobtui_dirs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    jobs = failing_jobs(tmp_path, "max_fail_percentage: 20")
    state = tmp_path / "state"
    code, lines, _ = run_json(
        capsys, str(jobs), "-i", str(fleet_inventory), "--state-dir", str(state)
    )
    assert code == 1
    assert (tmp_path / "launched").read_text().split() == ["1", "2", "3"]
    assert len(list((fleet_jobtui_dirs["host1"] / "jobs").iterdir())) == 3  # 3 job dirs
    summary = lines[-1]
    assert summary["counts"] == {"failed": 3, "skipped": 7}
    skipped = [r for r in summary["runs"] if r["state"] == "skipped"]
    assert [r["item"] for r in skipped] == [str(i) for i in range(4, 11)]
    assert {r["reason"] for r in skipped} == {"max_fail_percentage 20 passed (3 of 10 runs failed)"}
    assert all(r["started"] is None and r["rc"] is None for r in skipped)
    # The store keeps them skipped: an attach launches none of them.
    with Store.open(state) as store:
        runs = store.load_runs(summary["batch"])
    assert sorted(r.state.value for r in runs) == ["failed"] * 3 + ["skipped"] * 7
    assert not any(r.open for r in runs)


def test_max_fail_percentage_0_on_the_command_line_stops_at_the_first_failure(
    fleet_inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = failing_jobs(tmp_path)
    state = str(tmp_path / "state")
    argv = [str(jobs), "-i", str(fleet_inventory), "--state-dir", state]
    code, lines, _ = run_json(capsys, *argv, "--max-fail-percentage", "0")
    assert code == 1
    assert (tmp_path / "launched").read_text().split() == ["1"]
    assert lines[-1]["counts"] == {"failed": 1, "skipped": 9}


def test_a_run_counts_when_its_last_attempt_fails_not_its_retried_ones(
    fleet_inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every run fails once, then its retry succeeds: with max_fail_percentage 0 a
    # counted attempt would have stopped the job at the first.
    seen = f"{tmp_path}/seen-{{{{ item }}}}"
    once = f"test -e {seen} || {{ touch {seen}; exit 1; }}"
    jobs = failing_jobs(
        tmp_path, "max_fail_percentage: 0", "retries: 1", "retry_delay: 1", shell=once, items=4
    )
    state = str(tmp_path / "state")
    code, lines, _ = run_json(capsys, str(jobs), "-i", str(fleet_inventory), "--state-dir", state)
    assert code == 0
    assert lines[-1]["counts"] == {"succeeded": 4}
    assert sorted((tmp_path / "launched").read_text().split()) == sorted("11223344")
