"""`fetch:` and `--fetch DIR`: each run's output copied when it ends, before any
cleanup, under safe and unique names; a copy that fails holds the cleanup back.
Real sshd hosts for the copies; the names are pure logic."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from jobtui.config.inventory import Inventory
from jobtui.fetch import Layout, safe_name, with_dir
from jobtui.model import Host, JobSpec, RunKey, RunSpec
from jobtui.plan import Plan

JOBTUI = [sys.executable, "-m", "jobtui"]


def jobtui(*args: str, state: Path, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*JOBTUI, *args, "--state-dir", str(state)], capture_output=True, timeout=timeout
    )


def write_jobs(path: Path, body: str) -> str:
    path.write_text(textwrap.dedent(body))
    return str(path)


def json_lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


# -- names (pure) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("users_db", "users_db"),
        ("a/b", "a_b"),
        ("../../etc/passwd", "______etc_passwd"),
        ("..", "__"),
        (".hidden", "_hidden"),
        ("-rf", "_rf"),
        ("x\x1b[31m\n", "x__31m_"),
        ("two words", "two_words"),
        ("tilde~at@", "tilde_at_"),
        ("données", "données"),
        ("", "_"),
        ("right\u202eto", "right_to"),
    ],
)
def test_a_safe_name_keeps_letters_digits_dot_dash_underscore_and_nothing_dangerous(
    text: str, name: str
) -> None:
    assert safe_name(text) == name


def test_a_safe_name_is_cut_to_its_byte_budget_on_a_character_boundary() -> None:
    name = safe_name("é" * 100)
    assert len(name.encode()) <= 80 and name == "é" * 40


def spec(job: str, host: str, index: int, item: Any) -> RunSpec:
    return RunSpec(JobSpec(job, "all", fetch="/f"), Host(host, host), item, index, "true")


def test_colliding_names_are_made_unique_in_the_batch_s_order() -> None:
    specs = [
        spec("dump", "h/1", 0, "a/b"),
        spec("dump", "h/1", 1, "a_b"),
        spec("dump", "h/1", 2, "A_B"),  # a file system may ignore case
        spec("dump-a", "h/1", 0, "b"),  # `dump-a` + `b` and `dump` + `a-b`: one name
        spec("dump", "h/1", 3, "a-b"),
        spec("dump", "h_1", 0, "a/b"),  # another host, whose name collides too
        spec("solo", "h_1", 0, None),
    ]
    layout = Layout(specs)
    names = [layout.paths("/f", "B1", s.key, 1)[0] for s in specs]
    assert [str(p) for p in names] == [
        "/f/B1/h_1/dump-a_b.out",
        "/f/B1/h_1/dump-a_b~2.out",
        "/f/B1/h_1/dump-A_B~3.out",
        "/f/B1/h_1/dump-a-b.out",
        "/f/B1/h_1/dump-a-b~2.out",
        "/f/B1/h_1~2/dump-a_b.out",
        "/f/B1/h_1~2/solo.out",
    ]
    assert Layout(specs).paths("/f", "B1", RunKey("dump", "h/1", 1), 1) == (
        Path("/f/B1/h_1/dump-a_b~2.out"),
        Path("/f/B1/h_1/dump-a_b~2.err"),
    )


def test_a_retry_s_attempt_has_its_own_copy() -> None:
    layout = Layout([spec("job", "h", 0, "x")])
    key = RunKey("job", "h", 0)
    assert layout.paths("/f", "B", key, 1)[0].name == "job-x.out"
    assert layout.paths("/f", "B", key, 3)[1].name == "job-x@3.err"


def test_fetch_dir_on_the_command_line_wins_over_every_job_s_own(tmp_path: Path) -> None:
    a = JobSpec("a", "all", fetch="/from/key")
    b = JobSpec("b", "all")
    h = Host("h", "h")
    plan = Plan(
        [RunSpec(a, h, None, 0, "true"), RunSpec(b, h, None, 0, "true")],
        [a, b],
        Inventory.from_hosts([h]),
    )
    moved = with_dir(plan, str(tmp_path / "cli"))
    assert {r.job.fetch for r in moved.runs} == {str(tmp_path / "cli")}
    assert [j.fetch for j in moved.jobs] == [str(tmp_path / "cli")] * 2


# -- copies over ssh ------------------------------------------------------------------

ITEMS = ["a/b", "a_b", "../up", "-n", "x\x1b[31m"]
STEMS = ["dump-a_b", "dump-a_b~2", "dump-___up", "dump-_n", "dump-x__31m"]


def expected_out(item: str, host: str) -> bytes:
    lines = "".join(f"{i}\n" for i in range(1, 30001))
    return f"out:{item}:{host}\n".encode() + b"\x00\xff\x1b[31m\n" + lines.encode()


def test_fetched_copies_equal_the_output_and_survive_cleanup_always(
    fleet_inventory: Path, fleet_jobtui_dirs: dict[str, Path], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    (tmp_path / "jobs").mkdir()
    jobs = write_jobs(
        tmp_path / "jobs" / "jobs.yml",
        f"""
        jobs:
          - name: dump
            hosts: fleet
            shell: >-
              printf 'out:%s:%s\\n' {{{{ item }}}} {{{{ inventory_hostname }}}};
              printf '\\000\\377\\033[31m\\n'; seq 1 30000; printf 'err:%s\\n' {{{{ item }}}} >&2
            loop: {json.dumps(ITEMS)}
            poll: 0.2
            cleanup: always
            fetch: ./copies
        """,
    )
    proc = jobtui("run", jobs, "-i", str(fleet_inventory), "--headless", "--json", state=state)
    assert proc.returncode == 0, proc.stderr
    summary = json_lines(proc.stdout)[-1]
    batch = summary["batch"]
    root = tmp_path / "jobs" / "copies" / batch  # relative to the job file's directory
    for host, jobs_dir in fleet_jobtui_dirs.items():
        assert list((jobs_dir / "jobs").iterdir()) == []  # cleaned up, every one
        for item, stem in zip(ITEMS, STEMS, strict=True):
            assert (root / host / f"{stem}.out").read_bytes() == expected_out(item, host)
            assert (root / host / f"{stem}.err").read_bytes() == f"err:{item}\n".encode()
    assert not [p for p in root.rglob(".*")]  # no temp file left

    # The job directory is gone: `logs` reads the copy, and says so.
    runs = {(r["host"], r["item"]): r["jid"] for r in summary["runs"]}
    jid = runs[("host2", "../up")]
    out = jobtui("logs", jid, state=state)
    assert (out.returncode, out.stdout) == (0, expected_out("../up", "host2")), out.stderr
    assert f"from the fetched copy {root / 'host2' / 'dump-___up.out'}".encode() in out.stderr
    err = jobtui("logs", jid, "--stderr", "-f", state=state)
    assert (err.returncode, err.stdout) == (0, b"err:../up\n")


def test_a_fetch_dir_that_cannot_be_written_is_said_and_keeps_the_run_s_directory(
    fleet_inventory: Path, fleet_jobtui_dirs: dict[str, Path], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    (tmp_path / "blocker").write_text("a file, not a directory\n")
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        """
        jobs:
          - name: quick
            hosts: host1
            shell: echo still here
            poll: 0.2
            cleanup: always
            fetch: ./blocker/copies
        """,
    )
    proc = jobtui("run", jobs, "-i", str(fleet_inventory), "--headless", state=state)
    assert proc.returncode == 0, proc.stderr  # the run's result is its own
    err = proc.stderr.decode()
    assert "quick: succeeded" in err
    assert f"to {tmp_path / 'blocker' / 'copies'} failed: not a directory" in err
    assert "its cleanup is held back: its output stays on the host" in err
    kept = list((fleet_jobtui_dirs["host1"] / "jobs").iterdir())
    assert len(kept) == 1 and (kept[0] / "stdout").read_bytes() == b"still here\n"
    assert f"fetch of host1 quick ({kept[0].name})" in err
    out = jobtui("logs", kept[0].name, state=state)
    assert (out.returncode, out.stdout) == (0, b"still here\n")


def test_fetch_on_the_command_line_and_a_retry_s_attempts_each_have_their_copy(
    fleet_inventory: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    flag = tmp_path / "failed-once"
    jobs = write_jobs(
        tmp_path / "jobs.yml",
        f"""
        jobs:
          - name: flaky
            hosts: host3
            shell: "[ -e {flag} ] || {{ touch {flag}; echo first; exit 1; }}; echo second"
            poll: 0.2
            retries: 1
            retry_delay: 0
            cleanup: always
            fetch: ./from-the-key
        """,
    )
    cli = tmp_path / "from-the-cli"
    proc = jobtui(
        "run", jobs, "-i", str(fleet_inventory), "--headless", "--json", "--fetch", str(cli),
        state=state,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    batch = lines[0]["batch"]
    host = cli / batch / "host3"
    assert (host / "flaky.out").read_bytes() == b"first\n"
    assert (host / "flaky@2.out").read_bytes() == b"second\n"
    assert not (tmp_path / "from-the-key").exists()
    first = next(e["jid"] for e in lines if e["event"] == "run" and e["attempt"] == 1)
    out = jobtui("logs", first, state=state)  # an earlier attempt, cleaned up: its copy
    assert (out.returncode, out.stdout) == (0, b"first\n"), out.stderr
    failed = jobtui("logs", first, "-f", state=state)
    assert failed.returncode == 1 and f"{first}: failed".encode() in failed.stderr
