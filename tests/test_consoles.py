"""One batch, one acting console; jids nobody can collide with; a store that fails.

Over the real sshd fleet: a second console on a batch is refused (saying who follows
it), two engines that race on one batch start each retry once, a cleanup between a
console's death and its attach never makes the work run again, and a state store
that cannot be written or read is a clear error, never a traceback.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobtui.config import load_inventory
from jobtui.engine import Engine
from jobtui.model import JID_RE, JobSpec, RunKey, RunSpec, RunState, attempt_jid, new_jid
from jobtui.runs import Run
from jobtui.store import Store
from jobtui.transport import make_transport
from tests.helpers import processes_matching, run_jobtui, wait_until


def write(path: Path, text: str) -> str:
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_minted_jids_never_look_like_an_option() -> None:
    """A jid starting with `-` made `jobtui cleanup --jid -abc...` an argparse error."""
    jids = [new_jid() for _ in range(5000)]
    assert all(JID_RE.match(j) and not j.startswith("-") for j in jids)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=64), st.text(max_size=20), st.integers(0, 10**6))
def test_attempt_jids_are_valid_distinct_per_attempt_and_never_start_with_a_dash(
    secret: bytes, job: str, attempt: int
) -> None:
    key = RunKey(job, "h", 0)
    jid = attempt_jid(secret, key, attempt)
    assert JID_RE.match(jid) and not jid.startswith("-")
    assert jid == attempt_jid(secret, key, attempt)  # both consoles name it alike
    assert jid != attempt_jid(secret, key, attempt + 1)
    assert jid != attempt_jid(secret + b"x", key, attempt)


@pytest.fixture
def console(fleet_inventory: Path, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """`jobtui run --headless --json` on a long job, until the test ends."""
    marker = str(5000 + secrets.randbelow(3000))
    jobs = write(
        tmp_path / "jobs.yml",
        f"""
        jobs:
          - name: long
            hosts: host1
            shell: sleep {marker}
            poll: 0.3
        """,
    )
    argv = [sys.executable, "-m", "jobtui", "run", jobs, "-i", str(fleet_inventory)]
    argv += ["--headless", "--json", "--state-dir", str(tmp_path / "state")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            assert stream is not None
            stream.close()
        cancel = run_jobtui(
            "cancel", "-i", str(fleet_inventory), "--job", "long", "--limit", "host1"
        )
        assert wait_until(lambda: processes_matching(f"sleep {marker}") == [], 10), cancel


def test_a_second_console_on_a_followed_batch_is_refused_saying_who_follows_it(
    console: subprocess.Popen[str], tmp_path: Path
) -> None:
    assert console.stdout is not None
    batch = json.loads(console.stdout.readline())["batch"]
    second = run_jobtui(
        "attach", batch, "--headless", "--state-dir", str(tmp_path / "state"), timeout=30
    )
    assert second.returncode == 2
    assert f"batch {batch} is followed by another console" in second.stderr
    assert f"pid {console.pid}" in second.stderr and "jobtui run" in second.stderr
    assert "Traceback" not in second.stderr


def test_two_engines_racing_on_one_batch_start_each_attempt_once(
    fleet_inventory: Path, tmp_path: Path
) -> None:
    """Each console minted its own jid for attempt 2, so the work ran three times; a
    retry's jid is derived from the run and the attempt under the batch's secret, so
    the host's `mkdir` starts it once whoever asks."""
    count = tmp_path / "count"
    host = load_inventory(str(fleet_inventory)).hosts["host1"]
    script = f"echo x >> {count}; exit 1"
    job = JobSpec(name="flaky", hosts="all", shell=script, poll=0.2, retries=1, retry_delay=0)
    with Store.open(tmp_path / "state") as store:
        store.create_batch("b1", [Run(RunSpec(job, host, None, 0, script))], {}, 1)
        secret = store.batch_secret("b1")
        loaded = [store.load_runs("b1"), store.load_runs("b1")]
    results: list[list[RunState]] = []

    def follow(runs: list[Run]) -> None:
        with make_transport(host) as transport:
            engine = Engine(
                runs,
                {host.name: transport},
                batch="b1",
                new_attempt_jid=lambda key, attempt: attempt_jid(secret, key, attempt),
            )
            results.append([v.state for v in engine.run().runs])

    threads = [threading.Thread(target=follow, args=(runs,)) for runs in loaded]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [[RunState.FAILED], [RunState.FAILED]]
    assert count.read_text() == "x\n" * 2  # attempt 1 once, attempt 2 once


def test_cleanup_between_a_dead_console_and_attach_never_runs_the_job_again(
    fleet_inventory: Path, tmp_path: Path
) -> None:
    """The console dies, the run ends, `cleanup --finished` removes its directory:
    attach used to see it missing, call it lost and retry it."""
    count, state = tmp_path / "count", tmp_path / "state"
    jobs = write(
        tmp_path / "jobs.yml",
        f"""
        jobs:
          - name: once
            hosts: host1
            shell: echo x >> {count}; sleep 1
            poll: 0.3
            retries: 2
            retry_delay: 0
        """,
    )
    argv = [sys.executable, "-m", "jobtui", "run", jobs, "-i", str(fleet_inventory)]
    argv += ["--headless", "--json", "--state-dir", str(state)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line).get("state") == "running":
            break
    proc.kill()
    proc.wait()
    proc.stdout.close()
    assert wait_until(lambda: count.exists(), 10)
    inv = str(fleet_inventory)
    assert wait_until(
        lambda: (
            "removed"
            in run_jobtui(
                "cleanup", "-i", inv, "--finished", "--yes", "--state-dir", str(state)
            ).stdout
        ),
        20,
    )
    attach = run_jobtui("attach", "--headless", "--json", "--state-dir", str(state))
    assert "Traceback" not in attach.stderr
    (run,) = json.loads(attach.stdout.splitlines()[-1])["runs"]
    assert (run["state"], run["attempt"]) == ("succeeded", 1)  # as cleanup found it
    assert count.read_text() == "x\n"


def test_a_store_whose_disk_fills_up_mid_batch_is_a_clear_error_and_attach_recovers(
    fleet_inventory: Path, tmp_path: Path
) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        filler = mnt / "filler"
        # The job fills the disk the console's store is on, then ends.
        jobs = write(
            tmp_path / "jobs.yml",
            f"""
            jobs:
              - name: fill
                hosts: host1
                shell: sleep 1; head -c 8388608 /dev/zero > {filler}; sleep 1
                poll: 0.3
            """,
        )
        state = str(mnt / "state")
        proc = run_jobtui(
            "run", jobs, "-i", str(fleet_inventory), "--headless", "--state-dir", state
        )
        assert proc.returncode == 1, proc.stderr
        assert "cannot write the state store" in proc.stderr
        assert "free some space" in proc.stderr and "jobtui attach" in proc.stderr
        assert "Traceback" not in proc.stderr
        filler.unlink()
        again = run_jobtui("attach", "--headless", "--json", "--state-dir", state)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout.splitlines()[-1])["counts"] == {"succeeded": 1}
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_damaged_store_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "jobtui.db").write_bytes(b"SQLite format 3\x00" + secrets.token_bytes(8192))
    proc = run_jobtui("attach", "--headless", "--state-dir", str(state))
    assert proc.returncode == 2
    assert "the file is damaged" in proc.stderr and "Traceback" not in proc.stderr
